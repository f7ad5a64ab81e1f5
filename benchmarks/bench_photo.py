"""Preprocessing speed and memory on large photos and on many small images, in one run (< 1 minute).

    python benchmarks/bench_photo.py [--repeats 7] [--rounds 2] [--baseline a81d5b3] [--old-large]

It makes its own images in a temporary folder: a 4000×3000 JPEG photo (quality 90) of a dark digit on
light, unevenly lit paper; a 6300×6300 1-bit PNG; a 6300×6300 RGBA PNG (the largest accepted image at
4 bytes a pixel: the memory worst case); a 1500×2000 PNG; and 300 small images of 28–300 px. Then:

1. the 12-MP JPEG end to end (`preprocess(path)`) against Pillow decoding it fully
   (`Image.open(p).load()`), interleaved, median of --repeats (the other large images: one of each);
2. peak memory: each large image preprocessed in a fresh subprocess, growth of its peak RSS (VmHWM);
3. images/s of `preprocess` on the 300 small images, the code of commit --baseline (loaded from
   `git show REV:src/lenet5/preprocess.py`; a81d5b3 is the last before the working resolution) against
   the working tree, interleaved image by image (a busy machine slows both alike), --rounds passes.

The baseline needs 45–50 s for the JPEG alone, so it only runs on the large images with --old-large.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from lenet5 import preprocess as new
from lenet5.errors import run_script

ROOT = Path(__file__).resolve().parents[1]
MEASURE_RSS = """
import sys
from lenet5.preprocess import preprocess

def peak_mb():  # this process's peak RSS (ru_maxrss would include the parent's: it survives exec)
    return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024

preprocess(sys.argv[2])  # warm-up on a small image: lazy imports and Pillow plugins are not the image's
before = peak_mb()
preprocess(sys.argv[1])
print(peak_mb() - before)
"""


def digit(size: tuple[int, int], width: int, seven: bool = False) -> Image.Image:
    """A "2" (or a "7") in white strokes on black, filling the middle of an L image of `size`."""
    w, h = size
    img = Image.new("L", size, 0)
    d = ImageDraw.Draw(img)
    x0, x1, y0, y1 = w * 0.3, w * 0.7, h * 0.2, h * 0.8
    if seven:
        d.line((x0, y0, x1, y0), fill=255, width=width)
        d.line((x1, y0, x0 + (x1 - x0) * 0.3, y1), fill=255, width=width)
    else:
        d.arc((x0, y0, x1, y0 + (y1 - y0) * 0.5), 180, 30, fill=255, width=width)
        d.line((x1 - (x1 - x0) * 0.07, y0 + (y1 - y0) * 0.35, x0, y1), fill=255, width=width)
        d.line((x0, y1, x1, y1), fill=255, width=width)
    return img


def photo(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    """Dark, slightly blurred ink on light paper lit unevenly (left to right and top to bottom), noisy."""
    ink = np.asarray(digit((w, h), h // 30).filter(ImageFilter.GaussianBlur(h / 1000)), np.float32) / 255
    yy, xx = np.ogrid[0:h, 0:w]
    paper = 0.93 - 0.12 * (xx / w) - 0.3 * (yy / h - 0.5) ** 2 + rng.normal(0, 0.012, (h, w))
    gray = np.clip(paper * (1 - ink) + 0.15 * ink, 0, 1) * 255
    return Image.fromarray(np.stack([gray, gray * 0.97, gray * 0.9], -1).astype(np.uint8), "RGB")


def make_images(folder: Path, rng: np.random.Generator) -> dict[str, Path]:
    paths = {"12-MP JPEG photo (4000×3000)": folder / "photo.jpg", "1500×2000 PNG": folder / "mid.png",
             "6300×6300 1-bit PNG": folder / "big1.png", "6300×6300 RGBA PNG": folder / "bigrgba.png"}
    big = photo(4000, 3000, rng)
    big.save(paths["12-MP JPEG photo (4000×3000)"], quality=90)
    big.resize((1500, 2000), Image.Resampling.BOX).save(paths["1500×2000 PNG"])
    line_art = digit((6300, 6300), 500)
    line_art.point(lambda v: 255 - v).convert("1").save(paths["6300×6300 1-bit PNG"])
    rgba = Image.new("RGBA", line_art.size, (255, 255, 255, 0))  # ink opaque, paper transparent
    rgba.putalpha(line_art)
    rgba.save(paths["6300×6300 RGBA PNG"], compress_level=1)
    small = folder / "small"
    small.mkdir()
    for i in range(300):
        side = int(rng.integers(28, 301))
        size = (max(8, int(side * rng.uniform(0.7, 1.0))), side)
        ink = digit(size, max(1, int(side * rng.uniform(0.04, 0.12))), seven=bool(i % 2))
        ink = np.asarray(ink.filter(ImageFilter.GaussianBlur(max(0.3, side / 150))), np.float32) / 255
        paper = rng.uniform(0.75, 0.95) + rng.normal(0, 0.02, ink.shape)
        gray = np.clip(paper * (1 - ink) + rng.uniform(0, 0.3) * ink, 0, 1)
        Image.fromarray((gray * 255).astype(np.uint8)).save(small / f"{i:03d}.png")
    return paths


def baseline_module(rev: str):
    """lenet5.preprocess as committed at `rev`, imported under another name beside the working tree's."""
    code = subprocess.run(["git", "show", f"{rev}:src/lenet5/preprocess.py"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "preprocess_baseline.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("lenet5._preprocess_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def seconds(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def decode(path: Path) -> None:
    Image.open(path).load()


def peak_mb(path: Path, warm: Path) -> float:
    out = subprocess.run([sys.executable, "-c", MEASURE_RSS, str(path), str(warm)], capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return float(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="timings of the JPEG (median)")
    ap.add_argument("--rounds", type=int, default=2, help="passes over the 300 small images")
    ap.add_argument("--baseline", default="a81d5b3", help="git revision to compare with (default: before this work)")
    ap.add_argument("--old-large", action="store_true", help="also time the baseline on the large images (minutes)")
    a = ap.parse_args()
    old = baseline_module(a.baseline)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), np.random.default_rng(0))
        jpeg = paths["12-MP JPEG photo (4000×3000)"]
        small = sorted((Path(tmp) / "small").iterdir())
        extra = f" {a.baseline} preprocess |" if a.old_large else ""
        rows = ["| image | file | preprocess | full decode | preprocess / decode | peak RSS growth |" + extra,
                "|---|---:|---:|---:|---:|---:|" + "---:|" * bool(extra)]
        new.preprocess(small[0]), old.preprocess(small[0])  # lazy imports
        for name, path in paths.items():
            times = {"decode": [], "new": []}
            for _ in range(a.repeats if path == jpeg else 1):
                times["decode"].append(seconds(decode, path))
                times["new"].append(seconds(new.preprocess, path))
            dec, pre = (statistics.median(times[k]) for k in ("decode", "new"))
            rows.append(f"| {name} | {path.stat().st_size / 1e6:.2f} MB | {pre * 1000:.0f} ms | {dec * 1000:.0f} ms "
                        f"| {pre / dec:.2f}× | {peak_mb(path, small[0]):.0f} MB |")
            if a.old_large:
                rows[-1] += f" {seconds(old.preprocess, path):.1f} s |"
        spent = {old: 0.0, new: 0.0}
        for i, path in enumerate(small * a.rounds):
            for module in (old, new) if i % 2 else (new, old):  # each goes first half the time
                spent[module] += seconds(module.preprocess, path)
        before, after = (len(small) * a.rounds / spent[m] for m in (old, new))
    print(f"Pillow {Image.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs; the JPEG's times are the "
          f"median of {a.repeats}, the other large images' one run each\n")
    print("\n".join(rows))
    print(f"\n| {len(small)} small images, 28–300 px | {a.baseline} | this change | speed-up |\n|---|---:|---:|---:|\n"
          f"| preprocess, images/s ({a.rounds} passes) | {before:.1f} | {after:.1f} | {after / before:.2f}× |")
    print(f"\n`python benchmarks/bench_photo.py --repeats {a.repeats} --rounds {a.rounds} --baseline {a.baseline}"
          f"{' --old-large' if a.old_large else ''}`")


if __name__ == "__main__":
    run_script(main)
