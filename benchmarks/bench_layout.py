"""Training seconds in the NCHW (contiguous) and NHWC (channels-last) layouts, per preset, side by side.

    python benchmarks/bench_layout.py --data-dir ../shared/data [--images 20000] [--repeats 3]

Why `train` uses channels-last except with batch norm: each model trains the same images from the
same seed in both layouts, the layouts interleaved, and the median of --repeats is reported with
the ratio. Augmentation is left out: it runs before the layout change and costs the same in both.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from lenet5 import checkpoint, config, data
from lenet5.errors import run_script

MODELS = {  # name -> (preset, overrides)
    "classic": ("classic", {}),
    "modern": ("modern", {}),
    "classic + batch norm": ("classic", {"model": {"batch_norm": True}}),
    "best (batch norm)": ("best", {}),
}


def seconds(cfg: config.RunConfig, train_set: data.Split, images: int, layout: torch.memory_format) -> float:
    torch.manual_seed(0)
    model = checkpoint.build_model(cfg).to(memory_format=layout).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for x, y in data.batches(train_set, cfg.train.batch_size, gen, images):
        loss = F.cross_entropy(model(x.contiguous(memory_format=layout)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--images", type=int, default=20_000, help="train images per timing")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    train_set = data.load("mnist", "train", a.data_dir)
    layouts = {"NCHW": torch.contiguous_format, "NHWC": torch.channels_last}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {a.images} images, median of {a.repeats}")
    print("| model | batch | NCHW s | NHWC s | NHWC speed-up |\n|---|---:|---:|---:|---:|")
    for name, (preset, overrides) in MODELS.items():
        cfg = config.resolve(preset, overrides)
        times = {k: [] for k in layouts}
        for _ in range(a.repeats):
            for k, layout in layouts.items():
                times[k].append(seconds(cfg, train_set, a.images, layout))
        nchw, nhwc = (statistics.median(times[k]) for k in layouts)
        print(f"| {name} | {cfg.train.batch_size} | {nchw:.2f} | {nhwc:.2f} | {nchw / nhwc:.2f}× |", flush=True)


if __name__ == "__main__":
    run_script(main)
