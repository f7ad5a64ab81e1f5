"""Reading an image as a row of digits (`Predictor.read_number`, the server's `?number=true`).

Cost: a lane process's work (`server.answer_jobs`: decode, preprocess, model call, feature maps, the
JSON) for a drawing as the page sends it (140×140 PNG), asked with and without the row of digits,
alternated request by request so that the machine's drift falls on both. One thread and ONNX Runtime
where installed, as a lane process runs.

With --rows, also what it reads (the bundled model): 300 generated rows of 2–5 digits (150 of MNIST
test digits side by side, enlarged 2–5×; 150 of the pen simulator's, 80 px high, 6–29 px apart), how
many are taken for a number (`NumberReading.is_a_row`, what the server answers) and read right; and how many images of the
evaluation sets (non-digits, doodles, single digits) are taken for a number.

    python benchmarks/bench_number.py [--requests 300] [--rows --data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from lenet5 import server
from lenet5.errors import run_script
from lenet5.predict import load

DRAWINGS = {  # the pad's strokes, at the size the page sends them
    "one digit (a 7)": [[(40, 25), (100, 25), (60, 115)]],
    "two digits (17)": [[(30, 30), (30, 110)], [(70, 30), (115, 30), (85, 110)]],
}


def page_body(strokes: list[list[tuple[int, int]]]) -> bytes:
    pad = Image.new("L", (140, 140), 0)
    for s in strokes:
        ImageDraw.Draw(pad).line(s, fill=255, width=9)
    png = io.BytesIO()
    pad.save(png, "PNG")
    return json.dumps({"image": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()}).encode()


def generated_rows(n: int, data_dir: str | None) -> list[tuple[np.ndarray, str]]:
    """n rows of 2–5 digits, half MNIST test digits, half the pen simulator's: (dark-on-light image, truth)."""
    from lenet5 import evalsets
    from lenet5.data import load_arrays
    rng = np.random.default_rng(5)
    x, y = load_arrays("mnist", "test", data_dir)

    def mnist_row(k: int) -> tuple[np.ndarray, str]:
        idx = rng.integers(0, len(x), k)
        a = 255 - np.concatenate([np.pad(x[i], ((10, 10), tuple(rng.integers(0, 8, 2)))) for i in idx], 1)
        s = int(rng.integers(2, 6))
        return np.asarray(Image.fromarray(a).resize((a.shape[1] * s, a.shape[0] * s), Image.BILINEAR)), "".join(map(str, y[idx]))

    def pen_row(k: int) -> tuple[np.ndarray, str]:
        digits = rng.integers(0, 10, k)
        inks = [Image.fromarray((evalsets.pen_digit_ink(int(d), rng) * 255).astype(np.uint8)) for d in digits]
        inks = [np.asarray(i.resize((max(1, round(i.width * 80 / i.height)), 80), Image.BILINEAR)) for i in inks]
        gap = int(rng.integers(6, 30))
        a, left = np.zeros((120, sum(i.shape[1] for i in inks) + gap * (k + 1)), np.uint8), gap
        for i in inks:
            a[20:100, left:left + i.shape[1]] = i
            left += i.shape[1] + gap
        return 255 - a, "".join(map(str, digits))

    return [make(int(rng.integers(2, 6))) for make in (mnist_row, pen_row) for _ in range(n // 2)]


def rows_read(p, data_dir: str | None) -> None:
    """How many rows, and how many images of each evaluation set, are taken for a number, and how many
    look like digits side by side when read as one digit (what `lenet5 predict` hints at)."""
    from lenet5 import evalsets
    from lenet5.data import load_arrays
    rows = generated_rows(300, data_dir)
    ones = [p.predict_one(img) for img, _ in rows]
    readings = [p.read_number(img) for img, _ in rows]
    taken = [r.is_a_row for r in readings]
    right = [r.is_a_row and r.number == truth for r, (_, truth) in zip(readings, rows)]
    print(f"\n300 rows of 2–5 digits: {np.mean(taken):.1%} taken for a number, {np.mean(right):.1%} read "
          f"right; read as one digit, {np.mean([one.side_by_side for one in ones]):.1%} side by side")
    x, _ = load_arrays("mnist", "test", data_dir)
    print(f"mnist-test: {sum(r.side_by_side for r in p.predict(list(x))):,} of {len(x):,} side by side")
    for name, s in evalsets.SETS.items():
        images, _ = s.build(seed=0, data_dir=data_dir)
        ones = p.predict(images)
        taken = sum(p.read_number(im).is_a_row for im in images)
        hinted = sum(one.side_by_side for one in ones)
        print(f"{name}: {taken} of {len(images)} taken for a number, {hinted} side by side")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=300, help="requests of each kind per drawing")
    ap.add_argument("--rows", action="store_true", help="also what it reads: generated rows and the evaluation sets")
    ap.add_argument("--data-dir", default=None, help="MNIST and Fashion-MNIST files (for --rows)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    p = load()
    p.use_onnx_runtime()
    print(f"{'drawing':18} {'features':>10} {'+ number':>10} {'ratio':>6}")
    for name, strokes in DRAWINGS.items():
        body, ms = page_body(strokes), {False: [], True: []}
        for _ in range(args.requests):
            for number in (False, True):
                t0 = time.perf_counter()
                server.answer_jobs(p, [("light", "application/json", body, True, number)])
                ms[number].append(1000 * (time.perf_counter() - t0))
        plain, both = np.median(ms[False]), np.median(ms[True])
        print(f"{name:18} {plain:8.2f} ms {both:7.2f} ms {both / plain:6.2f}")
    if args.rows:
        rows_read(p, args.data_dir)
    return 0


if __name__ == "__main__":
    run_script(main)
