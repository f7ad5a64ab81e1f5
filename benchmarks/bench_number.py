"""What `?number=true` costs a request: a lane process's work (`server.answer_jobs`: decode, preprocess,
model call, feature maps, the JSON) for a drawing as the page sends it (140×140 PNG), asked with and
without the row of digits, alternated request by request so that the machine's drift falls on both.
One thread and ONNX Runtime where installed, as a lane process runs.

    python benchmarks/bench_number.py [--requests 300]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=300, help="requests of each kind per drawing")
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
