"""Load test of `lenet5 serve` on loopback: concurrent clients post real MNIST test digits.

Part 1, one row per client count: every request a 28×28 MNIST test digit as a PNG upload.
Part 2, "photos": 16 clients, and 5% of the requests are 12-MP phone photos (~4 MB JPEG), while a
prober asks /healthz every 50 ms; counts 5xx answers and reports /healthz latency.

Bounded: a fixed number of requests per row and a wall-clock limit (--max-seconds per row), then it
stops the server and itself. Server and clients share this machine's cores.

    python benchmarks/bench_server.py RUN_DIR --data-dir ../shared/data [--requests 2000] [--workers 1]
"""

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
from PIL import Image

from lenet5 import data
from lenet5.synth import phone_photo


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()




async def load(base, payloads, labels, clients, total, max_seconds, photo=None, photo_every=0):
    """`total` requests from `clients` concurrent clients; every `photo_every`-th posts the photo."""
    small, photos, statuses, correct = [], [], {}, 0
    queue = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    deadline = time.perf_counter() + max_seconds

    async def client(c):
        nonlocal correct
        while time.perf_counter() < deadline:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            is_photo = photo_every and i % photo_every == photo_every - 1
            k = i % len(payloads)
            body = (photo[0] if is_photo else payloads[k], "image/jpeg" if is_photo else "image/png")
            t0 = time.perf_counter()
            try:
                r = await c.post(base + "/api/predict", files={"file": ("d", *body)})
                status = r.status_code
                correct += status == 200 and not is_photo and r.json()["label"] == labels[k]
            except httpx.HTTPError:
                status = "transport error"
            (photos if is_photo else small).append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(clients)))
        wall = time.perf_counter() - t0
    return wall, np.array(small), np.array(photos), statuses, correct


async def probe(base, stop, every=0.05):
    """/healthz latencies until `stop` is set: what a load balancer would see."""
    lat = []
    async with httpx.AsyncClient(timeout=30) as c:
        while not stop.is_set():
            t0 = time.perf_counter()
            await c.get(base + "/healthz")
            lat.append(time.perf_counter() - t0)
            await asyncio.sleep(every)
    return np.array(lat)


async def with_probe(base, *args, **kwargs):
    stop = asyncio.Event()
    prober = asyncio.create_task(probe(base, stop))
    result = await load(base, *args, **kwargs)
    stop.set()
    return result, await prober


def ms(a, q):
    return f"{1000 * np.percentile(a, q):.1f}" if len(a) else "–"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", nargs="?", help="model (default: the bundled one)")
    ap.add_argument("--data-dir")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8, 16])
    ap.add_argument("--requests", type=int, default=2000, help="requests per row")
    ap.add_argument("--photo-requests", type=int, default=600, help="requests in the photos row (5%% photos)")
    ap.add_argument("--workers", type=int, default=1, help="server processes (lenet5 serve --workers)")
    ap.add_argument("--max-seconds", type=float, default=120, help="wall-clock limit per row")
    ap.add_argument("--log-level", default="info", help="the server's (info, as `lenet5 serve`, logs each request)")
    a = ap.parse_args()
    x, y = data.load_arrays("mnist", "test", a.data_dir)
    payloads = [png(d) for d in x[:500]]
    photo = (phone_photo(x[0]), int(y[0]))
    port = free_port()
    code = (f"from lenet5.server import serve; serve({a.run_dir!r}, port={port}, workers={a.workers}, "
            f"max_body=16 * 2**20, log_level={a.log_level!r})")
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(load(base, payloads, y, 4, 200, 60))  # warm-up
        asyncio.run(load(base, payloads, y, 2, 4, 60, photo, 2))  # and the photo process
        print(f"{a.requests} requests per row, PNG uploads of real MNIST test digits; server ({a.workers} "
              f"worker(s)) and client on the same {os.cpu_count()}-core machine\n")
        print("| clients | requests/s | p50 (ms) | p99 (ms) | /healthz p99 (ms) | errors | correct |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n in a.clients:
            (wall, lat, _, statuses, correct), health = asyncio.run(
                with_probe(base, payloads, y, n, a.requests, a.max_seconds))
            done = len(lat)
            print(f"| {n} | {done / wall:.0f} | {ms(lat, 50)} | {ms(lat, 99)} | {ms(health, 99)} | "
                  f"{done - statuses.get(200, 0)} | {correct / max(done, 1):.2%} |", flush=True)
        every = 20  # 5% photos
        (wall, lat, photos, statuses, correct), health = asyncio.run(
            with_probe(base, payloads, y, 16, a.photo_requests, a.max_seconds, photo, every))
        done = len(lat) + len(photos)
        fivexx = sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500)
        print(f"\nPhotos: 16 clients, {done} requests of which {len(photos)} are a {len(photo[0]) / 2**20:.1f}-MB "
              f"12-MP JPEG, in {wall:.1f} s ({done / wall:.0f} requests/s)")
        print("| requests | p50 (ms) | p99 (ms) |\n|---|---:|---:|")
        print(f"| digits | {ms(lat, 50)} | {ms(lat, 99)} |\n| photos | {ms(photos, 50)} | {ms(photos, 99)} |")
        print(f"| /healthz every 50 ms | {ms(health, 50)} | {ms(health, 99)} |")
        print(f"\nstatuses: {dict(sorted(statuses.items(), key=str))}; 5xx: {fivexx}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
