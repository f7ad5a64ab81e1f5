"""Typed, frozen run configuration and the named presets.

    from lenet5.config import resolve
    cfg = resolve("classic", {"train": {"epochs": 5, "seed": 1}})
    cfg.train.lr            # 0.01, the report's
    cfg.to_dict()           # what config.json holds
    load_file("runs/tune-modern/best.json")   # a preset file (`lenet5 train --config`), same checks

A preset is a plain nested dict of overrides on the defaults; the defaults are the report's
experiment, so `classic` is the empty dict. Unknown keys fail loudly.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .files import read_json


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "mnist"          # mnist | fashion-mnist
    normalize: bool = False         # subtract the train mean / divide by std; the report feeds [0, 1]
    augment: bool = False           # random affine distortions of train images (LeCun et al. 1998)
    train_subset: int | None = None  # use only this many shuffled train images per epoch (smoke tests)
    distort: tuple[str, ...] = ()   # how real handwriting differs from MNIST, names from lenet5.augment.DISTORTIONS
    negatives: float = 0.0          # generated non-digits per digit in each batch, taught as an extra
                                    # "not a digit" class (lenet5.negatives); 0 = a plain 10-class model
    validation: int = 0             # train images held out (the same ones for every seed), never trained on:
                                    # the "not a digit" threshold is calibrated on them


@dataclass(frozen=True)
class ModelConfig:
    name: str = "lenet5"            # a name from lenet5.models.list_models()
    activation: str = "sigmoid"     # sigmoid | tanh | relu
    pooling: str = "avg"            # avg | max
    dropout: float = 0.0            # probability, before fc2 and the classifier
    batch_norm: bool = False        # after every conv / hidden linear layer
    channels: tuple[int, int] = (6, 16)   # feature maps of conv1 and conv2 (the report's: 6, 16)
    hidden: tuple[int, int] = (120, 84)   # units of fc1 and fc2 (the report's: 120, 84)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30                # full passes over the train set
    batch_size: int = 512           # images per optimizer step, as the report
    lr: float = 0.01                # Adam's peak learning rate, as the report
    optimizer: str = "adam"         # adam | adamw | sgd (momentum 0.9, nesterov)
    weight_decay: float = 0.0       # L2 / decoupled decay; 0 as the report
    schedule: str = "constant"      # constant | cosine | onecycle (per step) | lecun1998 (the paper's
                                    # per-pass rates 0.0005…0.00001 as multiples of `lr`: train.LECUN1998_RATES)
    loss: str = "cross-entropy"     # cross-entropy | map (LeCun et al. 1998 eq. 9, for RBF outputs: lenet5.losses)
    label_smoothing: float = 0.0    # cross-entropy target smoothing
    ema: float = 0.0                # decay of an exponential moving average of weights, evaluated instead; 0 = off
    seed: int = 0                   # init, shuffling, dropout and augmentation all derive from it
    eval_batch_size: int = 2000     # no gradients at test time, so larger batches are free speed
    plateau_epochs: int = 3         # warn if still at chance accuracy after this many epochs
    channels_last: bool = True      # NHWC memory layout: ~20% faster convolutions on CPU; not used with
                                    # batch norm, which it slows 2-2.6x (BENCHMARKS.md)


@dataclass(frozen=True)
class RunConfig:
    preset: str = "classic"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # The lab report, exactly.
    "classic": {},
    # The report's exact shape (same layers, 61,706 weights) trained as one would today; each change
    # is measured alone and taken out one at a time in the ablation (README). ReLU is worth most;
    # dropout 0.1 and cosine decay lift the end past 99.3%; max-pooling and the weight average (EMA)
    # add nothing at the end but reach 98.85% an epoch or two sooner; standardisation a little of both.
    # Batch 64: 8x the report's steps per epoch.
    "modern": {
        "data": {"normalize": True},
        "model": {"activation": "relu", "pooling": "max", "dropout": 0.1},
        "train": {"schedule": "cosine", "lr": 0.002, "batch_size": 64, "epochs": 12, "ema": 0.999},
    },
    # Still LeNet-5-sized (< 100k parameters), with everything that helps on a CPU budget.
    "best": {
        "data": {"normalize": True, "augment": True},
        "model": {"activation": "relu", "pooling": "max", "batch_norm": True},
        "train": {"schedule": "onecycle", "lr": 0.01, "epochs": 30, "batch_size": 256,
                  "label_smoothing": 0.1, "ema": 0.999, "optimizer": "adamw", "weight_decay": 0.05},
    },
    # For people's own handwriting, and the bundled model: `best` trained on digits distorted the ways
    # real hands and cameras differ from MNIST (each distortion measured alone in the ablation), plus
    # a "not a digit" class learned from generated non-digits, with its threshold calibrated on
    # 5,000 held-out training digits.
    "robust": {
        "data": {"normalize": True, "distort": ("rotate", "shear", "aspect", "elastic", "thickness", "blur", "levels", "jitter", "fill", "european"), "negatives": 0.25, "validation": 5000},
        "model": {"activation": "relu", "pooling": "max", "batch_norm": True, "channels": (8, 24)},
        "train": {"schedule": "onecycle", "lr": 0.01, "epochs": 30, "batch_size": 256,
                  "label_smoothing": 0.1, "ema": 0.999, "optimizer": "adamw", "weight_decay": 0.05},
    },
    # LeNet-5 as LeCun et al. 1998 published it (lenet5.models.LeCun1998: 60,000 weights, Table I's
    # C3, RBF outputs), its MAP loss and its 20-pass learning-rate schedule. In place of the paper's
    # per-sample stochastic diagonal Levenberg-Marquardt: Adam, also a per-weight step size, on
    # mini-batches of 16 (README: why, and what it costs).
    "lecun1998": {
        "model": {"name": "lecun1998"},
        "train": {"loss": "map", "schedule": "lecun1998", "lr": 0.0005, "epochs": 20, "batch_size": 16},
    },
    # ... trained on the paper's kinds of distortion: translation and scaling (jitter), squeezing
    # (aspect) and horizontal shear, drawn afresh every pass instead of its fixed 540,000 copies.
    "lecun1998-distorted": {
        "data": {"distort": ("shear", "aspect", "jitter")},
        "model": {"name": "lecun1998"},
        "train": {"loss": "map", "schedule": "lecun1998", "lr": 0.0005, "epochs": 20, "batch_size": 16},
    },
}

MAX_EPOCHS = 10_000  # more is a typo (the report trains 30)
MAX_SEED = 2**32 - 1  # what every RNG in use (torch, numpy) accepts
DEVICES = ("auto", "cpu", "cuda", "mps")  # what `lenet5 train --device` accepts (lenet5.train picks)
SCHEDULES = ("constant", "cosine", "onecycle", "lecun1998")
LOSSES = ("cross-entropy", "map")  # lenet5.losses
SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def _build(cls, values: dict[str, Any], where: str):
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(names)
    if unknown:
        raise UserError(f"unknown {where} setting(s): {', '.join(sorted(unknown))}; known: {', '.join(names)}")
    # JSON has no tuples: a list read back from config.json is the tuple that was written
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def from_dict(d: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from `to_dict()` output (config.json, a checkpoint)."""
    unknown = set(d) - set(SECTIONS) - {"preset"}
    if unknown:
        raise UserError(f"unknown config section(s): {', '.join(sorted(unknown))}; known: preset, {', '.join(SECTIONS)}")
    parts = {k: _build(cls, d.get(k, {}), k) for k, cls in SECTIONS.items()}
    return RunConfig(preset=d.get("preset", "classic"), **parts)


def merge(base: dict[str, dict[str, Any]], overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {k: dict(v) for k, v in base.items()}
    for section, values in overrides.items():
        out.setdefault(section, {}).update(values)
    return out


def resolve(preset: str = "classic", overrides: dict[str, dict[str, Any]] | None = None) -> RunConfig:
    """The preset's settings, then `overrides` on top; None values in overrides are ignored."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    clean = {s: {k: v for k, v in vals.items() if v is not None} for s, vals in (overrides or {}).items()}
    cfg = from_dict({"preset": preset, **merge(PRESETS[preset], clean)})
    validate(cfg)
    return cfg


def load_file(path: str | os.PathLike, overrides: dict[str, dict[str, Any]] | None = None) -> RunConfig:
    """A preset file (`lenet5 tune` writes one as best.json: `to_dict()` as JSON), then `overrides` on top.

    It is read through the same strict `from_dict` and `validate` as a named preset.
    """
    d = read_json(path, "a config file")
    if not (isinstance(d, dict) and isinstance(d.get("preset", ""), str)
            and all(isinstance(d.get(s, {}), dict) for s in SECTIONS)):
        raise UserError(f"{path} is not a config file: expected an object with preset, {', '.join(SECTIONS)}")
    clean = {s: {k: v for k, v in vals.items() if v is not None} for s, vals in (overrides or {}).items()}
    sections = merge({s: d[s] for s in SECTIONS if s in d}, clean)
    cfg = from_dict({**{k: v for k, v in d.items() if k not in SECTIONS}, **sections})
    validate(cfg)
    return cfg


def validate(cfg: RunConfig) -> None:
    t = cfg.train
    checks = [
        (1 <= t.epochs <= MAX_EPOCHS, f"epochs must be 1–{MAX_EPOCHS:,}, got {t.epochs}"),
        (t.batch_size >= 1, f"batch size must be >= 1, got {t.batch_size}"),
        (t.eval_batch_size >= 1, f"eval batch size must be >= 1, got {t.eval_batch_size}"),
        (t.lr > 0, f"learning rate must be > 0, got {t.lr}"),
        (t.optimizer in ("adam", "adamw", "sgd"), f"unknown optimizer {t.optimizer!r}; known: adam, adamw, sgd"),
        (t.schedule in SCHEDULES, f"unknown schedule {t.schedule!r}; known: {', '.join(SCHEDULES)}"),
        (t.loss in LOSSES, f"unknown loss {t.loss!r}; known: {', '.join(LOSSES)}"),
        (t.loss == "cross-entropy" or not t.label_smoothing, "label smoothing applies to the cross-entropy loss only"),
        (0 <= t.label_smoothing < 1, f"label smoothing must be in [0, 1), got {t.label_smoothing}"),
        (0 <= t.ema < 1, f"ema decay must be in [0, 1), got {t.ema}"),
        (0 <= t.seed <= MAX_SEED, f"seed must be 0–{MAX_SEED}, got {t.seed}"),
        (math.isfinite(t.lr), f"learning rate must be a finite number, got {t.lr}"),
        (cfg.data.train_subset is None or cfg.data.train_subset >= 1,
         f"train subset must be >= 1, got {cfg.data.train_subset}"),
        (0 <= cfg.data.negatives <= 4, f"negatives must be 0–4 per digit, got {cfg.data.negatives}"),
        (0 <= cfg.data.validation <= 20000, f"validation must be 0–20,000 images, got {cfg.data.validation}"),
        (not cfg.data.negatives or cfg.data.validation > 0,
         "negatives need held-out digits to calibrate the not-a-digit threshold: set data.validation (e.g. 5000)"),
    ]
    if cfg.data.distort:
        from .augment import DISTORTIONS  # torch: only when a config asks for distortions
        unknown = sorted(set(cfg.data.distort) - set(DISTORTIONS))
        checks.append((not unknown, f"unknown distortion(s) {', '.join(unknown)}; known: {', '.join(DISTORTIONS)}"))
    for ok, message in checks:
        if not ok:
            raise UserError(message)
