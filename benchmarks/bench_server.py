"""Load test of `lenet5 serve` on loopback, side by side with an earlier commit's server.

Part 1: wrk (a load generator in C: `apt-get install wrk`; a Python client took most of the 2 cores
itself) keeps N connections busy, each posting a real MNIST test digit as the page does (JSON
{"image": base64 PNG}). The baseline commit's server (before issues 10 and 11: work on the event loop,
the `classic` model that was all it had, trained here for one epoch by its own code) and this code's
server (the bundled model) run alternately, `--repeats` times, one at a time; medians are reported,
with the CPU time all the server's processes spent per request (this shared machine's speed varies
by 2× from minute to minute: compare the two versions in one run, never across runs).

Part 2 (this code only): 16 clients where 5% of the requests are 12-MP phone photos (~4 MB JPEG),
while a prober asks /healthz every 50 ms: counts 5xx and reports latencies; and the share of the
digits read right.

    python benchmarks/bench_server.py --data-dir ../shared/data [--clients 1 16] [--seconds 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from baseline import BASELINE, ROOT, baseline_checkout, train_quick_model
from lenet5 import data
from lenet5.errors import run_script
from lenet5.synth import phone_photo

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def wrk_script(path: Path, bodies: list[str]) -> Path:
    """A wrk Lua script that posts the bodies in turn."""
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"', "local bodies = {"]
    lines += [f"  {json.dumps(b)}," for b in bodies]  # JSON strings of base64 text are valid Lua strings
    lines += ["}", "local i = 0", "request = function()", "  i = i % #bodies + 1",
              '  return wrk.format(nil, "/api/predict", nil, bodies[i])', "end"]
    path.write_text("\n".join(lines))
    return path


class Server:
    """`lenet5 serve` of some version, started and stopped; `cpu()` sums the CPU seconds of its processes."""

    def __init__(self, src: Path, model: str | None, workers: int):
        self.port = free_port()
        code = (f"from lenet5.server import serve; serve({model!r}, port={self.port}, log_level='warning'"
                + (f", workers={workers})" if workers > 1 else ")"))
        self.proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(src)},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(1200):
            try:
                if httpx.get(self.base + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:  # not listening yet (and 503 while its processes load the model)
                pass
            time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def cpu(self) -> float:
        tick, total = os.sysconf("SC_CLK_TCK"), 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == self.proc.pid:  # in the server's session (workers, lanes)
                    total += int(fields[11]) + int(fields[12])
            except (OSError, ValueError, IndexError):
                continue
        return total / tick

    def stop(self):
        os.killpg(self.proc.pid, 15)
        self.proc.wait(timeout=30)


def wrk(server: Server, script: Path, clients: int, seconds: float) -> dict:
    """One wrk run: requests/s, p50 and p99 in ms, server CPU ms per request, non-2xx answers."""
    cpu0 = server.cpu()
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", "-s", str(script),
                          server.base], capture_output=True, text=True, check=True).stdout
    cpu = server.cpu() - cpu0
    lat = {q: float(v) * UNITS[u] for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)}
    done = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": lat["50"], "p99": lat["99"],
            "cpu": 1000 * cpu / max(done, 1), "errors": int(bad.group(1)) if bad else 0}


async def mixed_load(base, payloads, labels, photo, total=600, clients=16, every=20):
    """`total` requests from `clients` clients, every `every`-th a phone photo; a /healthz prober."""
    small, photos, statuses, correct = [], [], {}, 0
    queue = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    stop, health = asyncio.Event(), []

    async def probe():
        async with httpx.AsyncClient(timeout=30) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                await c.get(base + "/healthz")
                health.append(time.perf_counter() - t0)
                await asyncio.sleep(0.05)

    async def client(c):
        nonlocal correct
        while not queue.empty():
            i = queue.get_nowait()
            is_photo = i % every == every - 1
            k = i % len(payloads)
            body = (photo, "image/jpeg") if is_photo else (payloads[k], "image/png")
            t0 = time.perf_counter()
            try:
                r = await c.post(base + "/api/predict", files={"file": ("d", *body)})
                status = r.status_code
                correct += status == 200 and not is_photo and r.json()["label"] == labels[k]
            except httpx.HTTPError:
                status = "transport error"
            (photos if is_photo else small).append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1

    prober = asyncio.create_task(probe())
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(clients)))
        wall = time.perf_counter() - t0
    stop.set()
    await prober
    return wall, np.array(small), np.array(photos), np.array(health), statuses, correct


def ms(a, q):
    return f"{1000 * np.percentile(a, q):.1f}" if len(a) else "–"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--seconds", type=float, default=8, help="wrk's duration per row")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1, help="this code's server processes (lenet5 serve --workers)")
    ap.add_argument("--baseline", default=BASELINE)
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_server: needs wrk (apt-get install wrk)")
    print(f"command: python benchmarks/bench_server.py {' '.join(sys.argv[1:])}")
    x, y = data.load_arrays("mnist", "test", a.data_dir)
    with tempfile.TemporaryDirectory() as tmp, baseline_checkout(a.baseline, Path(tmp)) as old_src:
        tmp = Path(tmp)
        script = wrk_script(tmp / "post.lua", [json.dumps({"image": base64.b64encode(png(d)).decode()})
                                               for d in x[:200]])
        versions = {f"baseline {a.baseline} (classic)": (old_src, str(train_quick_model(old_src, tmp / "run", "classic",
                                                                                         a.data_dir)), 1),
                    "this code (bundled model)": (ROOT / "src", None, a.workers)}
        rows = {(v, n): [] for v in versions for n in a.clients}
        for _ in range(a.repeats):
            for name, (src, model, workers) in versions.items():
                server = Server(src, model, workers)
                try:
                    wrk(server, script, 16, 2)  # warm-up
                    for n in a.clients:
                        rows[name, n].append(wrk(server, script, n, a.seconds))
                finally:
                    server.stop()
    print(f"\nwrk, {a.seconds:g} s per row, median of {a.repeats}; server and wrk on the same {os.cpu_count()} cores\n")
    print("| server | clients | requests/s | p50 (ms) | p99 (ms) | server CPU per request (ms) | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (name, n), rs in rows.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"| {name} | {n} | {med['rps']:.0f} | {med['p50']:.1f} | {med['p99']:.1f} | {med['cpu']:.2f} | "
              f"{sum(r['errors'] for r in rs)} |")
    for n in a.clients:
        (old, new) = (statistics.median(r["rps"] for r in rows[v, n]) for v in versions)
        print(f"\n{n} client(s): this code / baseline = {new / old:.2f}×", end="")
    print()

    server = Server(ROOT / "src", None, a.workers)
    try:
        payloads = [png(d) for d in x[:500]]
        wall, lat, photos, health, statuses, correct = asyncio.run(mixed_load(server.base, payloads, y, phone_photo(x[0])))
    finally:
        server.stop()
    done = len(lat) + len(photos)
    fivexx = sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500)
    print(f"\nPhotos: 16 clients (httpx), {done} requests of which {len(photos)} are a 12-MP JPEG, "
          f"in {wall:.1f} s ({done / wall:.0f} requests/s); digits read right: {correct / max(len(lat), 1):.2%}")
    print("| requests | p50 (ms) | p99 (ms) |\n|---|---:|---:|")
    print(f"| digits | {ms(lat, 50)} | {ms(lat, 99)} |\n| photos | {ms(photos, 50)} | {ms(photos, 99)} |")
    print(f"| /healthz every 50 ms | {ms(health, 50)} | {ms(health, 99)} |")
    print(f"\nstatuses: {dict(sorted(statuses.items(), key=str))}; 5xx: {fivexx}")


if __name__ == "__main__":
    run_script(main)
