"""Real-handwriting quality and speed of `lenet5 predict`, in one run:

1. paper-like single digits (MNIST test digits the model never trained on, upscaled to 100–400 px,
   dark on light, off-centre, thicker/thinner strokes, rotated, JPEG): accuracy with lenet5's
   preprocessing vs a naive resize;
2. paper-like 4-digit numbers: share read exactly (all four digits right) with --multi;
3. latency of one image (p50/p99) and batch throughput, torch eager vs onnxruntime, side by side.

    python benchmarks/bench_predict.py RUN_DIR --data-dir ../shared/data [--digits 1000] [--numbers 100]
"""

import argparse
import time

import numpy as np

from lenet5 import data
from lenet5.errors import run_script
from lenet5.export import export
from lenet5.predict import load
from lenet5.preprocess import naive_resize, preprocess
from lenet5.synth import paper_digit, paper_number


def percentile_ms(times, q):
    return 1000 * float(np.percentile(times, q))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--data-dir")
    ap.add_argument("--digits", type=int, default=1000)
    ap.add_argument("--numbers", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    x, y = data.load_arrays("mnist", "test", a.data_dir)
    p = load(a.run_dir)
    rng = np.random.default_rng(a.seed)

    idx = rng.choice(len(y), a.digits, replace=False)
    images = [paper_digit(x[i], rng) for i in idx]
    for name, fn in (("lenet5 preprocessing", preprocess), ("naive resize to 28×28", naive_resize)):
        pred = p.probabilities(np.stack([fn(im) for im in images])).argmax(1)
        print(f"paper-like digits, {name}: {np.mean(pred == y[idx]):.4f} ({a.digits} images)")

    exact = 0
    for _ in range(a.numbers):
        ids = rng.choice(len(y), 4, replace=False)
        exact += p.read_number(paper_number([x[i] for i in ids], rng)).number == "".join(map(str, y[ids]))
    print(f"paper-like 4-digit numbers read exactly: {exact / a.numbers:.4f} ({a.numbers} images)")

    export(a.run_dir, "onnx", data_dir=a.data_dir)
    backends = {"torch": p, "onnx": load(a.run_dir, backend="onnx")}
    arrays = np.stack([preprocess(im) for im in images[:200]])
    print("\n| backend | 1 image p50 (ms) | 1 image p99 (ms) | batch 1000 (images/s) |")
    print("|---|---:|---:|---:|")
    batch = np.concatenate([arrays] * 5)
    for name, b in backends.items():
        for a1 in arrays[:20]:
            b.probabilities(a1[None])  # warm-up
        times = []
        for a1 in np.concatenate([arrays] * 5):
            t0 = time.perf_counter()
            b.probabilities(a1[None])
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        reps = 20
        for _ in range(reps):
            b.probabilities(batch)
        rate = reps * len(batch) / (time.perf_counter() - t0)
        print(f"| {name} | {percentile_ms(times, 50):.3f} | {percentile_ms(times, 99):.3f} | {rate:,.0f} |")
    t0 = time.perf_counter()
    for im in images[:200]:
        preprocess(im)
    print(f"\npreprocessing one paper-like image: {1000 * (time.perf_counter() - t0) / 200:.2f} ms mean")


if __name__ == "__main__":
    run_script(main)
