"""MNIST test digits as people hand them over on printed paper, read by the bundled model: in a form's
box or a row of them, written large across ruled lines, cropped to a digit that fills a ruled page's
height, small in a large photo of a page, underlined, in a comb's cell. One digit in 50 of the test
set per row (200 images).

    python benchmarks/bench_printed.py --data-dir ../shared/data

Run it at two commits (a `git worktree`, PYTHONPATH=its src) to compare; README, "Preprocessing".
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

import lenet5
from lenet5 import data
from lenet5.errors import run_script


def _scaled(digit: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.asarray(Image.fromarray((digit * 255).astype(np.uint8)).resize((w, h))) / 255


def _inked(page: np.ndarray, ink: np.ndarray, y: int, x: int) -> None:
    h, w = ink.shape
    page[y:y + h, x:x + w] = page[y:y + h, x:x + w] * (1 - ink) + 20 * ink


def boxed(digit, margin=15, grey=0, width=2, tilt=0.0, scale=1, box=100, noise=0.0):
    """A 0.7-box digit in a form's box of `box` px, `margin` px of paper around it; `noise`: the grey
    levels' spread of a scanner's noise (0: a drawing's flat paper)."""
    side = box + 2 * margin
    page = np.full((side, side), 245.0)
    _inked(page, _scaled(digit, int(0.7 * box), int(0.7 * box)), margin + box // 7, margin + box // 7)
    img = Image.fromarray(page.astype(np.uint8))
    ImageDraw.Draw(img).rectangle([margin, margin, margin + box - 1, margin + box - 1], outline=grey, width=width)
    img = img.rotate(tilt, fillcolor=245, resample=Image.BILINEAR) if tilt else img
    img = img.resize((side * scale, side * scale), Image.BILINEAR) if scale > 1 else img
    if not noise:
        return img
    scan = np.asarray(img) + np.random.default_rng(int(digit.sum() * 1000)).normal(0, noise, img.size[::-1])
    return Image.fromarray(np.clip(scan, 0, 255).astype(np.uint8))


def across_lines(digit, height=200, line=120):
    """The digit `height` px high on a 300-px page ruled every 30 px in grey `line`."""
    ys, xs = np.nonzero(digit > 0.3)
    crop = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    w = max(8, round(crop.shape[1] * height / crop.shape[0]))
    page = np.full((300, max(300, w + 40)), 250.0)
    page[7::30] = line
    _inked(page, _scaled(crop, w, height), (300 - height) // 2, (page.shape[1] - w) // 2)
    return page.astype(np.uint8)


def small_in_photo(digit, side=60):
    """The digit `side` px high in a 2000×1500 photo of a page."""
    page = np.random.default_rng(0).normal(235, 3, (1500, 2000))
    _inked(page, _scaled(digit, side, side), 700, 1000)
    return np.clip(page, 0, 255).astype(np.uint8)


def underlined(digit, comb=False):
    """The digit, 80 px, a line under it wider than it; with `comb`, ticks at its ends (a comb's cell)."""
    page = np.full((160, 160), 245.0)
    _inked(page, _scaled(digit, 80, 80), 30, 40)
    page[118:121, 20:140] = 20
    if comb:
        page[78:121, 20:23] = page[78:121, 137:140] = 20
    return page.astype(np.uint8)


def row_in_boxes(digits):
    """Four digits, 70 px each, in a row of 100-px boxes (a form's row of cells)."""
    page = np.full((130, 430), 245.0)
    for i, d in enumerate(digits):
        _inked(page, _scaled(d, 70, 70), 30, 30 + 100 * i)
        page[14:116, 14 + 100 * i:16 + 100 * i] = 0
    page[14:116, 414:416] = 0
    page[14:16, 14:416] = page[114:116, 14:416] = 0
    return page.astype(np.uint8)


ROWS = {
    "box, paper around": lambda d: boxed(d),
    "box, cut along it": lambda d: boxed(d, margin=0),
    "grey box": lambda d: boxed(d, grey=120),
    "box tilted 2°": lambda d: boxed(d, margin=8, tilt=2),
    "box tilted 4°, 3× larger": lambda d: boxed(d, margin=8, tilt=4, scale=3),
    "box in a 600-px photo": lambda d: boxed(d, margin=60, scale=6, width=3),
    "300-px box of 1-px lines, tilted 2°": lambda d: boxed(d, box=300, width=1, tilt=2),
    "the same, scanned (noisy paper), tilted 4°": lambda d: boxed(d, box=300, width=1, tilt=4, noise=3),
    "80-px box": lambda d: boxed(d, margin=5, box=80),
    "150 px across lines of grey 120": lambda d: across_lines(d, 150),
    "200 px across lines of grey 120": lambda d: across_lines(d, 200),
    "240 px across lines of grey 120": lambda d: across_lines(d, 240),
    "filling a ruled page's height": lambda d: across_lines(d, 300),
    "60 px in a 2000×1500 photo": lambda d: small_in_photo(d),
    "underlined": lambda d: underlined(d),
    "in a comb's cell": lambda d: underlined(d, comb=True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    test = data.load("mnist", "test", args.data_dir)
    index = list(range(0, len(test.labels), 50))
    digits, labels = test.images[index, 0].numpy(), test.labels[index].numpy()
    reader = lenet5.load()
    print("| digits (200 each) | read right | refused |\n|---|---:|---:|")
    for name, make in ROWS.items():
        answers = reader.predict([make(d) for d in digits])
        right = np.mean([a.label == y for a, y in zip(answers, labels)])
        refused = np.mean([a.label is None for a in answers])
        print(f"| {name} | {100 * right:.1f}% | {100 * refused:.1f}% |", flush=True)
    numbers = [reader.read_number(row_in_boxes(digits[i:i + 4])).number for i in range(0, len(digits), 4)]
    whole = np.mean([n == "".join(map(str, labels[i:i + 4])) for n, i in zip(numbers, range(0, len(digits), 4))])
    print(f"| 4 digits in a row of boxes, `--multi` (50 numbers): read whole | {100 * whole:.1f}% | |")


if __name__ == "__main__":
    run_script(main)
