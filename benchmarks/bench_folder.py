"""A folder of small images through `lenet5 predict`, this code against an earlier commit, side by side.

    python benchmarks/bench_folder.py --data-dir ../shared/data [--images 1000] [--baseline a81d5b3] [--bundled]

Both versions read with the same model, a quick `modern` run trained by the baseline's own code (both
can load it; the baseline cannot read today's config keys). The folder holds MNIST
test digits as dark ink on white paper, 28 to 300 px, as PNG. Each version runs as a user would run
it — a fresh `python -m lenet5 predict ... --json` process, start-up included — alternately, three
times; the median wall time is reported. The baseline is checked out with `git worktree` into a
temporary folder. The labels of both are checked against the digits' own: each version's share read
right, and how many answers differ between them. With --bundled both read with their own bundled
model (a baseline that has one: 2026-11-26 on) and no model is trained.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from baseline import BASELINE, ROOT, baseline_checkout, train_quick_model
from lenet5.errors import run_script


def make_folder(folder: Path, n: int, data_dir) -> np.ndarray:
    """n MNIST test digits as PNGs in `folder`; returns their labels, in the files' order."""
    sys.path.insert(0, str(ROOT / "src"))
    from lenet5 import data
    x, y = data.load_arrays("mnist", "test", data_dir)
    rng = np.random.default_rng(0)
    for k in range(n):
        side = int(rng.integers(28, 301))
        Image.fromarray(255 - x[k]).resize((side, side), Image.BILINEAR).save(folder / f"{k:05d}.png")
    return y[:n]


def timed(cmd: list[str], env: dict) -> tuple[float, list]:
    """Wall seconds, and the labels in the files' order."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    answers = sorted(json.loads(r.stdout), key=lambda o: o["file"])
    return time.perf_counter() - t0, [o.get("label") for o in answers]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--baseline", default=BASELINE)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bundled", action="store_true", help="both read with their bundled model (no model trained)")
    a = ap.parse_args()
    print(f"command: python benchmarks/bench_folder.py {' '.join(sys.argv[1:])}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "images").mkdir()
        truth = make_folder(tmp / "images", a.images, a.data_dir)
        with baseline_checkout(a.baseline, tmp) as old_src:
            env = {**os.environ, "PYTHONPATH": ""}
            predict = [sys.executable, "-m", "lenet5", "predict"]
            if a.bundled:
                old_cmd = new_cmd = [*predict, str(tmp / "images"), "--json"]
            else:
                run = str(train_quick_model(old_src, tmp / "run", "modern", a.data_dir))
                old_cmd = [*predict, run, str(tmp / "images"), "--json"]
                new_cmd = [*predict, str(tmp / "images"), "--json", "--model", run]
            versions = {f"baseline {a.baseline}": (old_cmd, {**env, "PYTHONPATH": str(old_src)}),
                        "this code": (new_cmd, {**env, "PYTHONPATH": str(ROOT / "src")})}
            times = {k: [] for k in versions}
            labels = {}
            for _ in range(a.repeats):
                for name, (cmd, e) in versions.items():
                    seconds, labels[name] = timed(cmd, e)
                    times[name].append(seconds)
    old, new = labels.values()
    differ = sum(o != n for o, n in zip(old, new))
    print(f"\n{a.images} images, {os.cpu_count()} cores, median of {a.repeats}; answers that differ: {differ}\n")
    print("| version | wall s | images/s | read right |\n|---|---:|---:|---:|")
    base = None
    for name, ts in times.items():
        m = statistics.median(ts)
        base = base or a.images / m
        right = np.mean([label == t for label, t in zip(labels[name], truth)])
        print(f"| {name} | {m:.1f} | {a.images / m:.0f} ({a.images / m / base:.2f}×) | {right:.2%} |")


if __name__ == "__main__":
    run_script(main)
