"""The training loop: load the data, build a session, then per epoch train, test and commit.

    from lenet5.config import resolve
    from lenet5.train import train
    rows = train(resolve("classic", {"train": {"epochs": 2}}), "runs/demo", data_dir="../shared/data")
    rows[-1]["test_acc"]

What the run folder holds and when each file is written is `lenet5.run`'s business: one commit
per epoch, so a run killed at any moment resumes (`resume=True`) on exactly the trajectory an
uninterrupted run takes: same seed and device give the same metrics (all but the wall-clock
`seconds` column).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import __version__
from . import checkpoint as ckpt_mod
from . import config as config_mod
from . import data as data_mod
from .errors import TrainingDiverged, UserError
from . import negatives as negatives_mod
from .augment import NON_DIGIT_DISTORTIONS, distort
from .evaluate import loss_and_accuracy
from .losses import criterion
from .reject import calibrate
from .run import RunFolder

CHANCE_FACTOR = 2.0  # "still at chance": test accuracy below twice the 1/classes guess rate
SGD_MOMENTUM = 0.9
VALIDATION_SEED = 2024  # which train images are held out (data.validation): the same for every run
NEGATIVES_SEED = 0  # the non-digit bank trained on; NEGATIVES_SEED + 1 is held out for calibration
# LeCun et al. 1998, section III: the learning rate of each pass (epochs: rate), 0.00001 after.
LECUN1998_RATES = ((2, 0.0005), (3, 0.0002), (3, 0.0001), (4, 0.00005))
LECUN1998_LAST_RATE = 0.00001
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
        raise UserError(f"unknown device {name!r}; known: {', '.join(config_mod.DEVICES)}")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()}
    if not available[name]:
        raise UserError(f"device {name!r} is not available on this machine; use auto or cpu")
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
    if t.schedule == "lecun1998":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lecun1998_factor(step // steps_per_epoch))
    return None


def lecun1998_factor(epoch: int) -> float:
    """The paper's rate for this pass over its first pass's: lr 0.0005 gives the paper's own numbers."""
    end = 0
    for epochs, rate in LECUN1998_RATES:
        end += epochs
        if epoch < end:
            return rate / LECUN1998_RATES[0][1]
    return LECUN1998_LAST_RATE / LECUN1998_RATES[0][1]


def format_epoch(r: dict[str, Any]) -> str:
    """The report's line, then what it did not print."""
    return (f"epoch:{r['epoch']}, loss:{r['test_loss']:.4f}, acc:{r['test_acc']:.4f} | "
            f"train_loss:{r['train_loss']:.4f}, train_acc:{r['train_acc']:.4f}, lr:{r['lr']:.2e}, {r['seconds']:.1f}s")


def _versions() -> dict[str, str]:
    return {"lenet5": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "negatives": str(negatives_mod.VERSION)}  # the non-digits' generator


@dataclass
class Session:
    """Everything that changes while a run trains; `state()` is what a checkpoint holds of it."""
    cfg: config_mod.RunConfig
    device: torch.device
    layout: torch.memory_format
    model: nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    ema: nn.Module | None
    gen: torch.Generator
    steps: int  # batches per epoch
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def evaluated(self) -> nn.Module:
        return self.ema if self.ema is not None else self.model

    def state(self, reject: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"model_name": self.cfg.model.name, "config": self.cfg.to_dict(), "model": self.model.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None, "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict() if self.sched is not None else None,
                "rng": {"torch": torch.get_rng_state(), "data": self.gen.get_state()},
                "epoch": len(self.rows), "metrics": list(self.rows), **({"reject": reject} if reject else {})}

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if self.sched is not None:
            self.sched.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng"]["torch"])
        self.gen.set_state(state["rng"]["data"])
        self.rows = list(state["metrics"])


@dataclass(frozen=True)
class Data:
    train: data_mod.Split
    held_out: data_mod.Split | None  # digits never trained on: the "not a digit" calibration
    test: data_mod.Split
    non_digits: torch.Tensor | None
    source: dict[str, Any]  # what run.json records: dataset, folder, checksums


def train(cfg: config_mod.RunConfig | None, out_dir: str | os.PathLike | None = None, *,
          resume: bool = False, device: str = "auto", data_dir: str | os.PathLike | None = None,
          log: Log | None = print, progress: bool = False, command: str | None = None,
          evaluate_on: str = "test", on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
          ) -> list[dict[str, Any]]:
    """Train per `cfg` into `out_dir`; return the metrics rows (one dict per epoch).

    With `resume=True` the run continues from out_dir's last checkpoint; `cfg` may then be None
    (the run's own config is used) and, if given, must equal it; the data come from the folder the
    run recorded unless `data_dir` is given. `command` (the CLI line that started the run) is
    recorded in run.json.

    For a hyperparameter search (`lenet5.tune`): `evaluate_on="validation"` scores every epoch on the
    `data.validation` held-out training images and never loads the test set (the `test_*` columns
    then hold validation scores; run.json says so), and `on_epoch(epoch, row)` is called after each
    epoch is committed: an exception it raises (a pruned trial) stops the run there, resumable.
    """
    log = log or (lambda s: None)
    if cfg is None and not resume:
        raise UserError("a config is needed to start a run")
    run = RunFolder(out_dir if out_dir is not None else default_run_dir(cfg))
    with run.writing():
        cfg, state = run.start(cfg, resume)
        if resume:
            data_dir = run.data_dir(data_dir)
        if state is not None:
            if len(state["metrics"]) >= cfg.train.epochs:
                run.write_metrics(state["metrics"])  # a kill after the final commit may have left it behind
                log(f"{run.path}: already complete ({len(state['metrics'])} epochs)")
                return list(state["metrics"])
        dev = resolve_device(device)
        data = load_data(cfg, data_dir, evaluate_on)
        torch.manual_seed(cfg.train.seed)  # the report's init: same seed, same first weights
        s = new_session(cfg, data.train, dev)
        data = dataclasses.replace(data, test=dataclasses.replace(
            data.test, images=data.test.images.contiguous(memory_format=s.layout)))
        if state is not None:
            s.load_state(state)
            log(f"resuming {run.path} after epoch {len(s.rows) - 1}")
        else:
            run.create(cfg, run_meta(dev, data.source, command, evaluate_on))
        for epoch in range(len(s.rows), cfg.train.epochs):
            row = train_epoch(s, data, epoch, progress)
            s.rows.append(row)
            best = row["test_acc"] > max((r["test_acc"] for r in s.rows[:-1]), default=-1.0)
            run.commit(s.state(reject=final_reject(s, data)), best)
            log(format_epoch(row))
            warn_if_at_chance(s, data, log)
            if on_epoch is not None:
                on_epoch(epoch, row)
    return s.rows


def load_data(cfg: config_mod.RunConfig, data_dir: str | os.PathLike | None, evaluate_on: str = "test") -> Data:
    """The training digits, those held out, what each epoch is scored on (the test set, or the
    held-out digits for a search), the non-digits, and where they came from."""
    whole = data_mod.load(cfg.data.dataset, "train", data_dir)
    train_set, held_out = split_validation(whole, cfg.data.validation)
    if evaluate_on == "validation" and held_out is None:
        raise UserError("evaluate_on='validation' needs held-out images: set data.validation")
    test_set = data_mod.load(cfg.data.dataset, "test", data_dir) if evaluate_on == "test" else held_out
    non_digits = negatives_mod.bank(NEGATIVES_SEED, data_dir) if cfg.data.negatives else None
    spec = data_mod.get_spec(cfg.data.dataset)
    source = {"dataset": spec.name, "dir": str(data_mod.resolve_data_dir(data_dir).resolve()),
              "md5": {f.name: f.md5 for f in spec.all_files()}}
    return Data(train_set, held_out, test_set, non_digits, source)


def new_session(cfg: config_mod.RunConfig, train_set: data_mod.Split, dev: torch.device) -> Session:
    """A fresh model (from the current torch RNG), its optimiser, schedule and average."""
    t = cfg.train
    model = ckpt_mod.build_model(cfg)
    if cfg.data.normalize:
        model.input_mean.fill_(train_set.images.mean().item())
        model.input_std.fill_(train_set.images.std().item())
    # Batch norm runs 2-2.6x slower on NHWC tensors on CPU (benchmarks/bench_layout.py, BENCHMARKS.md).
    layout = torch.channels_last if t.channels_last and not cfg.model.batch_norm else torch.contiguous_format
    model.to(dev, memory_format=layout)
    steps = math.ceil(min(len(train_set), cfg.data.train_subset or len(train_set)) / t.batch_size)
    opt = make_optimizer(model, t)
    ema = copy.deepcopy(model).eval().requires_grad_(False) if t.ema else None
    return Session(cfg, dev, layout, model, opt, make_scheduler(opt, t, steps), ema,
                   torch.Generator().manual_seed(t.seed), steps)


def train_epoch(s: Session, data: Data, epoch: int, progress: bool) -> dict[str, Any]:
    """One pass over the training batches, then the test set; the epoch's metrics row."""
    t0 = time.perf_counter()
    t = s.cfg.train
    s.model.train()
    loss_sum = torch.zeros((), device=s.device)
    correct = torch.zeros((), device=s.device, dtype=torch.long)
    loss_fn = criterion(t.loss, t.label_smoothing)
    seen = 0  # digits and, for a model that learns "not a digit", the non-digits mixed in
    with tqdm(total=s.steps, desc=f"epoch {epoch}", unit="batch", leave=False, disable=not progress,
              file=sys.stderr, mininterval=0.5) as bar:
        for i, (x, y) in enumerate(training_batches(s.cfg, data.train, data.non_digits, s.gen), 1):
            x, y = x.to(s.device, memory_format=s.layout, non_blocking=True), y.to(s.device, non_blocking=True)
            logits = s.model(x)
            loss = loss_fn(logits, y)
            s.opt.zero_grad(set_to_none=True)
            loss.backward()
            s.opt.step()
            if s.sched is not None:
                s.sched.step()
            if s.ema is not None:
                ema_update(s.ema, s.model, t.ema, epoch * s.steps + i)
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
            bar.update()
            if progress and i % PROGRESS_EVERY == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    test_loss, test_acc = loss_and_accuracy(s.evaluated, data.test, t.eval_batch_size, s.device, criterion(t.loss))
    row = {"epoch": epoch, "train_loss": (loss_sum / seen).item(), "train_acc": (correct / seen).item(),
           "test_loss": test_loss.item(), "test_acc": test_acc.item(),
           "lr": s.opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
    if not (math.isfinite(row["train_loss"]) and math.isfinite(row["test_loss"])):
        raise TrainingDiverged(
            f"training diverged at epoch {epoch} (loss is {row['train_loss']}); nothing of this epoch was "
            f"saved. Try a lower learning rate (now {t.lr}) or another seed")
    return row


def final_reject(s: Session, data: Data) -> dict[str, Any] | None:
    """The finished model's "not a digit" threshold, for its last commit (None before, or without one)."""
    if data.non_digits is None or len(s.rows) < s.cfg.train.epochs:
        return None
    return calibrate(s.evaluated, data.held_out.images, negatives_mod.bank(NEGATIVES_SEED + 1, data.source["dir"]),
                     data.held_out.labels)


def warn_if_at_chance(s: Session, data: Data, log: Log) -> None:
    row = s.rows[-1]
    if len(s.rows) == s.cfg.train.plateau_epochs and row["test_acc"] < CHANCE_FACTOR / len(data.train.classes):
        log(f"warning: test accuracy is still {row['test_acc']:.2%} after {len(s.rows)} epochs, the chance "
            f"plateau. The report's sigmoid + Adam(lr 0.01) recipe stalls here for some seeds and may "
            f"never leave it: try another seed, a lower learning rate (e.g. 0.001), or the modern preset")


def run_meta(dev: torch.device, source: dict[str, Any], command: str | None, evaluate_on: str) -> dict[str, Any]:
    """What run.json records of how the run was made."""
    return {"device": str(dev), "threads": torch.get_num_threads(), "versions": _versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "data": source,
            **({"command": command} if command else {}),
            **({"evaluated_on": evaluate_on} if evaluate_on != "test" else {})}


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
            x = distort(x, d.distort, gen, y)
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
