"""One image from the command line, start-up and exit included: an earlier commit and this code,
alternately, side by side in one run (the machine is shared: compare the ratio, not the seconds).

    python benchmarks/bench_startup.py --baseline aeb710d [--runs 7]

Each run is `python -m lenet5 predict digit.png --json` with the bundled model, timed from the
start of the process to its exit, for the baseline's source (a `git worktree` on PYTHONPATH) and for
this code; both answers must be the same.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from baseline import ROOT, baseline_checkout
from lenet5.errors import run_script


def one_image(folder: Path) -> Path:
    """A 7 drawn in black on white, 120 px: what a person saves from a drawing program."""
    img = np.full((120, 120), 255, np.uint8)
    img[25:35, 30:90] = 0
    for y in range(35, 100):
        x = 90 - (y - 35) * 40 // 65
        img[y, x - 5:x + 5] = 0
    path = folder / "digit.png"
    Image.fromarray(img).save(path)
    return path


def timed(src: Path, image: Path) -> tuple[float, str]:
    """(seconds from start to exit, stdout) of one `predict` with the code in `src`."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lenet5", "predict", str(image), "--json"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(src)}, check=True)
    return time.perf_counter() - t0, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True, help="the commit to compare with (e.g. the one before a change)")
    ap.add_argument("--runs", type=int, default=7, help="runs of each, alternately")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, baseline_checkout(a.baseline, Path(tmp)) as old_src:
        image = one_image(Path(tmp))
        times: dict[str, list[float]] = {a.baseline: [], "this code": []}
        answers = set()
        print(f"| run | {a.baseline} | this code |\n|---|---:|---:|")
        for i in range(a.runs):
            row = []
            for name, src in ((a.baseline, old_src), ("this code", ROOT / "src")):
                seconds, out = timed(src, image)
                times[name].append(seconds)
                answers.add(out)
                row.append(f"{seconds:.3f} s")
            print(f"| {i + 1} | {' | '.join(row)} |", flush=True)
        old, new = (statistics.median(t) for t in times.values())
        print(f"| median | {old:.3f} s | **{new:.3f} s ({old / new:.2f}× as fast)** |")
        print("the same answer from both" if len(answers) == 1 else f"ANSWERS DIFFER: {answers}")


if __name__ == "__main__":
    run_script(main)
