"""What reading each image in four views (lenet5.views) costs: `Predictor.probabilities` on already
preprocessed 28×28 images, the bundled model read in its views against the same weights read once,
torch and ONNX Runtime, one thread, rounds alternated so that the machine's drift falls on both.

    python benchmarks/bench_views.py [--rounds 5]

(What the views buy in accuracy: benchmarks/bench_handwriting.py, README "Measured on handwriting it
never trained on".)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lenet5.errors import run_script
from lenet5.predict import load

SIZES = (1, 2, 64)  # a drawing, two answered together by a lane process, a folder's batch


def per_call_ms(p, x: np.ndarray, seconds: float = 0.5) -> float:
    p.probabilities(x)
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        p.probabilities(x)
        calls += 1
    return 1000 * (time.perf_counter() - t0) / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    x = np.random.default_rng(0).random((max(SIZES), 28, 28), dtype=np.float32)
    readers = {}
    for runtime in ("torch", "onnx"):
        for views in ("views", "once"):
            p = load()
            if runtime == "onnx" and not p.use_onnx_runtime():
                continue
            if views == "once":
                p.views = ()  # the same weights read once (for timing: its threshold is the views')
            readers[(runtime, views)] = p
    times = {(k, n): [] for k in readers for n in SIZES}
    for _ in range(a.rounds):
        for k, p in readers.items():
            for n in SIZES:
                times[(k, n)].append(per_call_ms(p, x[:n]))
    print(f"$ python benchmarks/bench_views.py --rounds {a.rounds}   (median of {a.rounds} rounds, ms per call)\n")
    print("| runtime | " + " | ".join(f"{n} image{'s' * (n > 1)}: once → 4 views" for n in SIZES) + " |")
    print("|---|" + "---:|" * len(SIZES))
    for runtime in dict.fromkeys(r for r, _ in readers):
        cells = []
        for n in SIZES:
            once, views = (float(np.median(times[((runtime, v), n)])) for v in ("once", "views"))
            cells.append(f"{once:.3f} → {views:.3f} ({views / once:.1f}×)")
        print(f"| {runtime} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    run_script(main)
