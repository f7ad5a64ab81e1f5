"""The training loop and the run folder it writes.

    from lenet5.config import resolve
    from lenet5.train import train
    rows = train(resolve("classic", {"train": {"epochs": 2}}), "runs/demo", data_dir="../shared/data")
    rows[-1]["test_acc"]

A run folder holds config.json, metrics.csv and checkpoints/{last,best}.pt. Everything is written
atomically after each epoch, so a run killed at any moment resumes (`resume=True`) on exactly the
trajectory an uninterrupted run takes: same seed and device give the same metrics.csv (all but
the wall-clock `seconds` column).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import math
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import __version__
from . import checkpoint as ckpt_mod
from . import config as config_mod
from . import data as data_mod
from .errors import TrainingDiverged, UserError
from . import negatives as negatives_mod
from .augment import NON_DIGIT_DISTORTIONS, distort
from .evaluate import loss_and_accuracy
from .reject import calibrate
from .files import write_csv_atomic, write_text_atomic

METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")
CHANCE_FACTOR = 2.0  # "still at chance": test accuracy below twice the 1/classes guess rate
SGD_MOMENTUM = 0.9
VALIDATION_SEED = 2024  # which train images are held out (data.validation): the same for every run
NEGATIVES_SEED = 0  # the non-digit bank trained on; NEGATIVES_SEED + 1 is held out for calibration
PROGRESS_EVERY = 10  # batches between progress-bar redraws (each reads the loss: a host sync)

Log = Callable[[str], None]


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()}
    if not available[name]:
        raise UserError(f"device {name!r} is not available on this machine; use --device auto or cpu")
    return torch.device(name)


def default_run_dir(cfg: config_mod.RunConfig) -> Path:
    return Path("runs") / f"{cfg.preset}-{cfg.data.dataset}-s{cfg.train.seed}"


def make_optimizer(model: nn.Module, t: config_mod.TrainConfig) -> torch.optim.Optimizer:
    if t.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=t.lr, momentum=SGD_MOMENTUM, nesterov=True,
                               weight_decay=t.weight_decay)
    cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, t: config_mod.TrainConfig, steps_per_epoch: int):
    """Stepped once per batch; None for the report's constant rate."""
    total = t.epochs * steps_per_epoch
    if t.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if t.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=t.lr, total_steps=total)
    return None


def read_metrics_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a metrics.csv with numbers parsed; raises UserError if missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no metrics.csv at {path}: not a finished lenet5 run folder")
    with open(path, newline="") as fh:
        rows = [{k: (int(v) if k == "epoch" else float(v)) for k, v in r.items()} for r in csv.DictReader(fh)]
    if not rows:
        raise UserError(f"{path} has no epochs yet: train (or resume) the run first")
    return rows


def format_epoch(r: dict[str, Any]) -> str:
    """The report's line, then what it did not print."""
    return (f"epoch:{r['epoch']}, loss:{r['test_loss']:.4f}, acc:{r['test_acc']:.4f} | "
            f"train_loss:{r['train_loss']:.4f}, train_acc:{r['train_acc']:.4f}, lr:{r['lr']:.2e}, {r['seconds']:.1f}s")


def _versions() -> dict[str, str]:
    return {"lenet5": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


class _Progress:
    def __init__(self, enabled: bool, total: int, epoch: int):
        self.enabled, self.total, self.epoch = enabled, total, epoch

    def update(self, i: int, loss: torch.Tensor) -> None:
        if self.enabled and (i % PROGRESS_EVERY == 0 or i == self.total):
            width = 30
            done = int(width * i / self.total)
            sys.stderr.write(f"\repoch {self.epoch} [{'#' * done}{'.' * (width - done)}] {i}/{self.total} "
                             f"loss {loss.item():.4f}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 70 + "\r")


def train(cfg: config_mod.RunConfig | None, out_dir: str | os.PathLike | None = None, *,
          resume: bool = False, device: str = "auto", data_dir: str | os.PathLike | None = None,
          log: Log | None = print, progress: bool = False, command: str | None = None,
          evaluate_on: str = "test", on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
          ) -> list[dict[str, Any]]:
    """Train per `cfg` into `out_dir`; return the metrics rows (one dict per epoch).

    With `resume=True` the run continues from out_dir's last checkpoint; `cfg` may then be None
    (the run's own config is used) and, if given, must equal it. `command` (the CLI line that
    started the run) is recorded in config.json.

    For a hyperparameter search (`lenet5.tune`): `evaluate_on="validation"` scores every epoch on the
    `data.validation` held-out training images and never loads the test set (the `test_*` columns
    then hold validation scores; config.json says so), and `on_epoch(epoch, row)` is called after each
    epoch is saved: an exception it raises (a pruned trial) stops the run there, resumable.
    """
    log = log or (lambda s: None)
    if cfg is None and not resume:
        raise UserError("a config is needed to start a run")
    out = Path(out_dir) if out_dir is not None else default_run_dir(cfg)
    last = ckpt_mod.checkpoint_path(out, "last")
    state = None
    if resume:
        if not last.is_file():
            raise UserError(f"nothing to resume in {out}: no {last} (start it without --resume)")
        state = ckpt_mod.load(last)
        saved = config_mod.from_dict(state["config"])
        if cfg is not None and cfg != saved:
            diff = [f"{s}.{k}" for s in config_mod.SECTIONS for k, v in getattr(cfg, s).__dict__.items()
                    if getattr(getattr(saved, s), k) != v]
            raise UserError(f"{out} was started with other settings ({', '.join(diff) or 'preset'}); "
                            f"resume without changing them, or start a new run with another --out")
        cfg = saved
    elif last.is_file():
        raise UserError(f"{out} already holds a run; continue it with --resume or choose another --out")

    t = cfg.train
    dev = resolve_device(device)
    train_set, held_out = split_validation(data_mod.load(cfg.data.dataset, "train", data_dir), cfg.data.validation)
    if evaluate_on == "validation" and held_out is None:
        raise UserError("evaluate_on='validation' needs held-out images: set data.validation")
    test_set = data_mod.load(cfg.data.dataset, "test", data_dir) if evaluate_on == "test" else held_out
    non_digits = negatives_mod.bank(NEGATIVES_SEED, data_dir) if cfg.data.negatives else None

    torch.manual_seed(t.seed)  # the report's init: same seed, same first weights
    model = ckpt_mod.build_model(cfg)
    if cfg.data.normalize:
        model.input_mean.fill_(train_set.images.mean().item())
        model.input_std.fill_(train_set.images.std().item())
    # Batch norm runs 2-2.6x slower on NHWC tensors on CPU (benchmarks/bench_layout.py, BENCHMARKS.md).
    layout = torch.channels_last if t.channels_last and not cfg.model.batch_norm else torch.contiguous_format
    model.to(dev, memory_format=layout)
    test_set = dataclasses.replace(test_set, images=test_set.images.contiguous(memory_format=layout))
    n_train = min(len(train_set), cfg.data.train_subset or len(train_set))
    steps = math.ceil(n_train / t.batch_size)
    opt = make_optimizer(model, t)
    sched = make_scheduler(opt, t, steps)
    ema = copy.deepcopy(model).eval().requires_grad_(False) if t.ema else None
    gen = torch.Generator().manual_seed(t.seed)
    rows: list[dict[str, Any]] = []

    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng"]["torch"])
        gen.set_state(state["rng"]["data"])
        rows = list(state["metrics"])
        if len(rows) >= t.epochs:
            log(f"{out}: already complete ({len(rows)} epochs)")
            return rows
        log(f"resuming {out} after epoch {len(rows) - 1}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        meta = {**cfg.to_dict(), "device": str(dev), "threads": torch.get_num_threads(),
                "versions": _versions(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **({"command": command} if command else {}),
                **({"evaluated_on": evaluate_on} if evaluate_on != "test" else {})}
        write_text_atomic(out / "config.json", json.dumps(meta, indent=2) + "\n")

    best_acc = max((r["test_acc"] for r in rows), default=-1.0)
    chance = CHANCE_FACTOR / len(train_set.classes)
    for epoch in range(len(rows), t.epochs):
        t0 = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        seen = 0  # digits and, for a model that learns "not a digit", the non-digits mixed in
        bar = _Progress(progress, steps, epoch)
        for i, (x, y) in enumerate(training_batches(cfg, train_set, non_digits, gen), 1):
            x, y = x.to(dev, memory_format=layout, non_blocking=True), y.to(dev, non_blocking=True)
            out_logits = model(x)
            loss = F.cross_entropy(out_logits, y, label_smoothing=t.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if ema is not None:
                ema_update(ema, model, t.ema, epoch * steps + i)
            loss_sum += loss.detach() * len(y)
            correct += (out_logits.argmax(1) == y).sum()
            seen += len(y)
            bar.update(i, loss)
        bar.close()
        test_loss, test_acc = loss_and_accuracy(ema if ema is not None else model, test_set,
                                                t.eval_batch_size, dev)
        row = {"epoch": epoch, "train_loss": (loss_sum / seen).item(), "train_acc": (correct / seen).item(),
               "test_loss": test_loss.item(), "test_acc": test_acc.item(),
               "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
        if not (math.isfinite(row["train_loss"]) and math.isfinite(row["test_loss"])):
            raise TrainingDiverged(
                f"training diverged at epoch {epoch} (loss is {row['train_loss']}); nothing of this epoch was "
                f"saved. Try a lower --lr (now {t.lr}) or another --seed")
        rows.append(row)
        reject = None
        if non_digits is not None and epoch + 1 == t.epochs:  # the finished model's threshold, in its last commit
            reject = calibrate(ema if ema is not None else model, held_out.images,
                               negatives_mod.bank(NEGATIVES_SEED + 1, data_dir))
        state = {"model_name": cfg.model.name, "config": cfg.to_dict(), "model": model.state_dict(),
                 "ema": ema.state_dict() if ema is not None else None, "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict() if sched is not None else None,
                 "rng": {"torch": torch.get_rng_state(), "data": gen.get_state()},
                 "epoch": epoch + 1, "metrics": rows, **({"reject": reject} if reject else {})}
        ckpt_mod.save(state, last)
        if row["test_acc"] > best_acc:
            best_acc = row["test_acc"]
            ckpt_mod.save(state, ckpt_mod.checkpoint_path(out, "best"))
        write_csv_atomic(out / "metrics.csv", METRIC_FIELDS, rows)
        log(format_epoch(row))
        if epoch + 1 == t.plateau_epochs and row["test_acc"] < chance:
            log(f"warning: test accuracy is still {row['test_acc']:.2%} after {epoch + 1} epochs, the chance "
                f"plateau. The report's sigmoid + Adam(lr 0.01) recipe stalls here for some seeds and may "
                f"never leave it: try another --seed, a lower --lr (e.g. 0.001), or --preset modern")
        if on_epoch is not None:
            on_epoch(epoch, row)
    return rows


def split_validation(train_set: data_mod.Split, n: int) -> tuple[data_mod.Split, data_mod.Split | None]:
    """(the images trained on, the `n` held out) — the same `n` images for every seed and preset."""
    if not n:
        return train_set, None
    order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(VALIDATION_SEED))

    def part(idx: torch.Tensor) -> data_mod.Split:
        return data_mod.Split(train_set.images[idx], train_set.labels[idx], train_set.classes)
    return part(order[n:]), part(order[:n])


def training_batches(cfg: config_mod.RunConfig, train_set: data_mod.Split, non_digits: torch.Tensor | None,
                     gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled batches: digits distorted, then non-digits mixed in as the extra class."""
    d = cfg.data
    for x, y in data_mod.batches(train_set, cfg.train.batch_size, gen, d.train_subset):
        if d.augment:
            x = data_mod.augment(x, gen)
        if d.distort:
            x = distort(x, d.distort, gen)
        if non_digits is not None:
            k = max(1, round(len(x) * d.negatives))
            extra = non_digits[torch.randint(len(non_digits), (k,), generator=gen)]
            extra = distort(extra, [n for n in d.distort if n in NON_DIGIT_DISTORTIONS], gen)
            x = torch.cat([x, extra])
            y = torch.cat([y, torch.full((k,), len(train_set.classes), dtype=y.dtype)])
        yield x, y


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """Fold `model`'s weights into `ema` after optimizer step `step` (1-based), in place.

        average = copy.deepcopy(model)
        ema_update(average, model, 0.999, step)   # after every opt.step()

    Bias-corrected like Adam's moments: the average starts from the first step's weights, so the
    random initial weights get no share and a short run's average is usable (a plain EMA with
    decay 0.999 still holds 6% of the init after 2,800 steps).
    """
    weight = (1 - decay) / (1 - decay ** step)
    for e, p in zip(ema.state_dict().values(), model.state_dict().values()):
        if e.dtype.is_floating_point:
            e.lerp_(p, weight)
        else:
            e.copy_(p)
