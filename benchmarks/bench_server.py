"""Load test of `lenet5 serve` on loopback: N concurrent clients post real MNIST test digits.

Bounded: a fixed number of requests, then it stops the server and itself.

    python benchmarks/bench_server.py RUN_DIR --data-dir ../shared/data [--clients 8] [--requests 3000]
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


async def load(base, payloads, labels, clients, total, fmt):
    latencies, errors, correct = [], 0, 0
    queue = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def client(c):
        nonlocal errors, correct
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            k = i % len(payloads)
            t0 = time.perf_counter()
            try:
                if fmt == "png":
                    r = await c.post(base + "/api/predict", files={"file": ("d.png", payloads[k], "image/png")})
                else:
                    r = await c.post(base + "/api/predict", json={"pixels": payloads[k]})
                ok = r.status_code == 200
                correct += ok and r.json()["label"] == labels[k]
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t0)
            errors += not ok

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(clients)))
        wall = time.perf_counter() - t0
    return wall, np.array(latencies), errors, correct


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--data-dir")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8, 16])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--format", choices=["png", "pixels"], default="png")
    a = ap.parse_args()
    x, y = data.load_arrays("mnist", "test", a.data_dir)
    payloads = [png(d) if a.format == "png" else d.tolist() for d in x[:500]]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "lenet5", "serve", a.run_dir, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(load(base, payloads, y, 4, 200, a.format))  # warm-up
        print(f"{a.requests} requests per row, {a.format} payloads of real MNIST test digits, server and "
              f"client on the same {os.cpu_count()}-core machine\n")
        print("| clients | requests/s | p50 (ms) | p99 (ms) | errors | correct |")
        print("|---:|---:|---:|---:|---:|---:|")
        for n in a.clients:
            wall, lat, errors, correct = asyncio.run(load(base, payloads, y, n, a.requests, a.format))
            print(f"| {n} | {a.requests / wall:.0f} | {1000 * np.percentile(lat, 50):.1f} | "
                  f"{1000 * np.percentile(lat, 99):.1f} | {errors} | {correct / a.requests:.2%} |")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
