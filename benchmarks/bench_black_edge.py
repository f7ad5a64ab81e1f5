"""Scans with the scanner's black edge along two sides of the page: how many are read right, and the
slowest one (a page read the wrong way round had 100-px "strokes", and one such image took 65 s).

MNIST test digits enlarged whole to a 330-px page (dark ink on white), with a black band 8% and 12%
of the side deep along the top and the left, read one at a time through `Predictor.predict`.

    python benchmarks/bench_black_edge.py --data-dir ../shared/data [--digits 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from lenet5 import data
from lenet5.errors import run_script
from lenet5.predict import load

SIDE = 330
DEPTHS = (0.08, 0.12)


def pages(digits: np.ndarray) -> list[np.ndarray]:
    out = []
    for d in digits:
        page = np.asarray(Image.fromarray(255 - d).resize((SIDE, SIDE), Image.Resampling.BICUBIC)).copy()
        for depth in DEPTHS:
            edged = page.copy()
            band = int(SIDE * depth)
            edged[:band], edged[:, :band] = 10, 10
            out.append(edged)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--digits", type=int, default=20)
    args = ap.parse_args()
    x, y = data.load_arrays("mnist", "test", args.data_dir)
    images, truth = pages(x[:args.digits]), np.repeat(y[:args.digits], len(DEPTHS))
    predictor = load()
    seconds, right = [], 0
    for image, label in zip(images, truth):
        t0 = time.perf_counter()
        answer = predictor.predict_one(image)
        seconds.append(time.perf_counter() - t0)
        right += answer.label == label
    print(f"{len(images)} pages: {right} read right; {sum(seconds):.1f} s in all, the slowest {max(seconds):.2f} s")


if __name__ == "__main__":
    run_script(main)
