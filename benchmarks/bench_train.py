"""Seconds per training epoch (plus the per-epoch test evaluation): the report's pipeline against
lenet5's, side by side in one run on the same machine, and what each step in between buys.

    python benchmarks/bench_train.py --data-dir ../shared/data [--epochs 2] [--skip-compile]

Every variant trains the same LeNet-5 (the report's layers, Adam lr 0.01, batch 512) from the same
seed; only the input pipeline and the loop differ. Each variant runs --epochs epochs and reports
their mean (torch.compile's first, compiling, epoch is reported apart).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from lenet5 import config, data, train
from lenet5.errors import run_script
from lenet5.evaluate import loss_and_accuracy
from lenet5.models import create_model
from lenet5.reference import ReportNet
from lenet5.run import RunFolder


class TorchvisionLikeMNIST(torch.utils.data.Dataset):
    """What torchvision.datasets.MNIST + transforms.ToTensor() do per item: uint8 -> PIL -> tensor."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.data, self.targets = torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        img = Image.fromarray(self.data[i].numpy(), mode="L")
        t = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(img.size[1], img.size[0], 1)
        return t.permute(2, 0, 1).contiguous().to(torch.float32).div(255), int(self.targets[i])


def report_epoch(model, opt, trainloader, testloader):
    """The report's loop: per-batch .item() in evaluation, batch 512 everywhere."""
    for x, y in trainloader:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    correct, testloss = 0, 0.0
    with torch.no_grad():
        for batch_idx, (x, y) in enumerate(testloader):
            out = model(x)
            testloss += F.cross_entropy(out, y).item()
            correct += out.argmax(1).eq(y).sum().item()
    return correct / len(testloader.dataset)


def tensor_epoch(model, opt, tr, te, gen, eval_batch, sync_every_batch, channels_last=False):
    """In-memory tensors, batches sliced from a seeded permutation."""
    model.train()
    for x, y in data.batches(tr, 512, gen):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if sync_every_batch:
            loss.item()
    if sync_every_batch:  # the report's per-batch reads
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in data.batches(te, eval_batch):
                out = model(x)
                F.cross_entropy(out, y).item()
                correct += out.argmax(1).eq(y).sum().item()
        return correct / len(te)
    return loss_and_accuracy(model, te, eval_batch)[1].item()


class _Pause(Exception):
    pass


def _pause(epoch, row):
    raise _Pause


def lenet5_train(epochs: int, data_dir) -> dict[str, list[dict]]:
    """`lenet5 train` (classic) quiet and with its tqdm bar drawn (into a file, as under a supervisor),
    one epoch of each in turn: each run stops after an epoch and resumes, so the two alternate.
    Their `seconds` column: training and the test pass, not loading or checkpoint writes."""
    cfg = config.resolve("classic", {"train": {"epochs": epochs}})
    runs = {"lenet5 train, classic preset as shipped, --quiet": False,
            "lenet5 train, classic preset, tqdm progress bar drawn (to a file)": True}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as sink:
        for _ in range(epochs):
            for i, (name, progress) in enumerate(runs.items()):
                folder = f"{tmp}/{i}"
                with contextlib.redirect_stderr(sink):
                    try:
                        rows[name] = train.train(cfg, folder, resume=os.path.isdir(folder), data_dir=data_dir,
                                                 device="cpu", log=None, progress=progress, on_epoch=_pause)
                    except _Pause:
                        pass
        for i, name in enumerate(runs):
            rows[name] = RunFolder(f"{tmp}/{i}").metrics()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--epochs", type=int, default=2, help="epochs timed per variant (mean reported)")
    ap.add_argument("--skip-compile", action="store_true")
    a = ap.parse_args()

    xtr, ytr = data.load_arrays("mnist", "train", a.data_dir)
    xte, yte = data.load_arrays("mnist", "test", a.data_dir)
    tr, te = data.load("mnist", "train", a.data_dir), data.load("mnist", "test", a.data_dir)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")

    def fresh(report_net=False, channels_last=False):
        torch.manual_seed(0)
        m = ReportNet() if report_net else create_model("lenet5")
        if channels_last:
            m = m.to(memory_format=torch.channels_last)
        return m, torch.optim.Adam(m.parameters(), lr=0.01), torch.Generator().manual_seed(0)

    def variant(**kw):
        m, opt, gen = fresh(channels_last=kw.pop("channels_last", False))
        if kw.pop("compile", False):
            m = torch.compile(m)
        return lambda: tensor_epoch(m, opt, tr, te, gen, **kw)

    m0, opt0, _ = fresh(report_net=True)
    trl = torch.utils.data.DataLoader(TorchvisionLikeMNIST(xtr, ytr), batch_size=512, shuffle=True)
    tel = torch.utils.data.DataLoader(TorchvisionLikeMNIST(xte, yte), batch_size=512, shuffle=True)
    steps = {
        "report: DataLoader + PIL/ToTensor per image": lambda: report_epoch(m0, opt0, trl, tel),
        "in-memory tensors, slices of a seeded permutation (eval batch 512, .item() per batch)":
            variant(eval_batch=512, sync_every_batch=True),
        "+ no per-batch host syncs, eval batch 2000": variant(eval_batch=2000, sync_every_batch=False),
        "+ eval batch 10000 (one pass)": variant(eval_batch=10000, sync_every_batch=False),
        "eval batch 2000 + channels_last": variant(eval_batch=2000, sync_every_batch=False, channels_last=True),
    }
    if not a.skip_compile:
        steps["eval batch 2000 + channels_last + torch.compile (after a compiling epoch)"] = variant(
            eval_batch=2000, sync_every_batch=False, channels_last=True, compile=True)
    if not a.skip_compile:
        steps["eval batch 2000 + channels_last + torch.compile (after a compiling epoch)"]()  # compile, untimed
    times = {name: [] for name in steps}
    accs = {}
    for _ in range(a.epochs):  # interleaved, so a slow spell of the machine hits every variant alike
        for name, step in steps.items():
            t0 = time.perf_counter()
            accs[name] = step()
            times[name].append(time.perf_counter() - t0)
    results = [(name, float(np.median(times[name])), accs[name]) for name in steps]
    for name, rows in lenet5_train(a.epochs, a.data_dir).items():
        results.append((name, float(np.median([r["seconds"] for r in rows])), rows[-1]["test_acc"]))

    base = results[0][1]
    print(f"\nmedian of {a.epochs} interleaved epochs per variant\n")
    print(f"| pipeline | s/epoch (train + eval) | speed-up vs report | test acc after {a.epochs} epochs |")
    print("|---|---:|---:|---:|")
    for name, sec, acc in results:
        print(f"| {name} | {sec:.2f} | {base / sec:.2f}× | {acc:.4f} |")


if __name__ == "__main__":
    run_script(main)
