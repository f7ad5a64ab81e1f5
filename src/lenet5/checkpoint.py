"""Checkpoints: written atomically, loaded without unpickling arbitrary objects.

    from lenet5.checkpoint import load_model
    model, ckpt = load_model("runs/classic-mnist-s0")          # last checkpoint, eval mode
    model, ckpt = load_model("runs/classic-mnist-s0", "best")

A checkpoint (`RUN/checkpoints/{last,best}.pt`) is a dict of tensors and plain values only,
readable with `torch.load(weights_only=True)`. Format version 1 holds:

| key | what |
|---|---|
| format_version | 1 |
| model_name | registry name, e.g. "lenet5" |
| config | the resolved RunConfig as a dict (config.json holds the same) |
| model | the trained weights (state_dict) |
| ema | the averaged weights evaluated instead of `model`, or None |
| optimizer, scheduler | their state_dicts (scheduler None for a constant rate) |
| rng | {"torch": global CPU RNG state, "data": shuffle/augment generator state} |
| epoch | epochs completed |
| metrics | one dict per completed epoch, the rows of metrics.csv |
| reject | only for models with a "not a digit" output: {"index", "threshold", "views", ...} (lenet5.reject; "views": the ways each image is read, lenet5.views) |
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import config as config_mod
from .data import get_spec
from .errors import UserError
from .files import write_bytes_atomic
from .models import count_parameters, create_model

FORMAT_VERSION = 1
REQUIRED_KEYS = ("model_name", "config", "model", "epoch", "metrics")


def build_model(cfg: config_mod.RunConfig) -> nn.Module:
    """A fresh model for `cfg` (weights from the current torch RNG).

    Only the model settings the config changes from their defaults are passed on, so a model whose
    form is fixed (lecun1998) takes none and rejects any that is set.
    """
    defaults = config_mod.ModelConfig()
    options = {k: v for k, v in cfg.model.__dict__.items() if k != "name" and v != getattr(defaults, k)}
    extra = 1 if cfg.data.negatives else 0  # the "not a digit" output, last
    return create_model(cfg.model.name, num_classes=len(get_spec(cfg.data.dataset).classes) + extra,
                        normalize=cfg.data.normalize, **options)


def save(state: dict[str, Any], path: Path) -> None:
    """Write `state` to `path` via a temp file and rename, so a kill never leaves half a file.

    Serialised in memory first: a full disk then fails in an ordinary write (OSError ENOSPC, which
    the CLI explains) rather than inside torch's zip writer."""
    buf = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buf)
    write_bytes_atomic(path, buf.getbuffer())


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive holds its model's code (code/...) and constants.pkl beside the weights."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.split("/", 1)[-1] == "constants.pkl" for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False  # a damaged zip: torch.load says so below


def load(run_or_file: str | os.PathLike, which: str = "last") -> dict[str, Any]:
    """The checkpoint dict of a run folder (its `which` checkpoint) or of a .pt file, safely loaded onto the CPU."""
    from .run import RunFolder
    p = Path(run_or_file)
    path = p if p.is_file() else RunFolder(p).require().checkpoint(which)
    if not path.is_file():
        raise UserError(f"{p}: no {which} checkpoint at {path}")
    fix = "give a run folder or a .pt file that lenet5 wrote (retrain, or restore the file)"
    if path.suffix.lower() == ".onnx":  # a good file, for another reader
        raise UserError(f"{path}: an ONNX file, which `lenet5 predict` and `lenet5 serve` read (--model); "
                        f"this command needs the run folder it was exported from")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # torch.save writes a zip archive; torch would guess at anything else
            raise UserError(f"{path}: not a PyTorch checkpoint (torch.save writes a zip archive; this file is "
                            f"not one); {fix}")
    if _is_torchscript(path):  # torch.load would hand it to torch.jit.load, with a warning
        raise UserError(f"{path}: a TorchScript file (`lenet5 export --format torchscript`), made for other programs "
                        f"and not read back by lenet5; give the run folder it was exported from")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated, foreign or malicious file: refuse it, whatever torch raises
        raise UserError(f"{path}: a damaged PyTorch file, or one that holds more than weights "
                        f"({type(e).__name__}); {fix}") from None
    version = ckpt.get("format_version") if isinstance(ckpt, dict) else None
    if version != FORMAT_VERSION:
        raise UserError(f"{path}: checkpoint format {version!r} is not supported (this lenet5 reads {FORMAT_VERSION})")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing or not isinstance(ckpt["config"], dict):
        raise UserError(f"{path}: not a lenet5 checkpoint (missing {', '.join(missing) or 'a config'}); retrain or restore it")
    return ckpt


def load_model(run_or_file: str | os.PathLike, which: str = "last") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the evaluated model (averaged weights if the run kept them) in eval mode."""
    ckpt = load(run_or_file, which)
    cfg = config_mod.from_dict(ckpt["config"])
    model = build_model(cfg)
    try:
        model.load_state_dict(ckpt["ema"] if ckpt.get("ema") is not None else ckpt["model"])
    except (RuntimeError, TypeError, AttributeError) as e:  # weights that do not fit the config beside them
        raise UserError(f"{run_or_file}: its weights do not match its config ({str(e).splitlines()[0]}); "
                        f"retrain or restore it") from None
    return model.eval(), ckpt


def model_info(ckpt: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    """What an exported or served model says about itself.

        model, ckpt = load_model("runs/classic-mnist-s0")
        model_info(ckpt, model)["test_accuracy"]     # the last epoch's, e.g. 0.9884

    An inference checkpoint (`lenet5 export --format pt`) says instead how it answers the test set as
    `lenet5.load` reads it (in its views, with "not a digit" set aside): the digit it names.
    """
    from .reject import checked  # (through lenet5.views it imports the preprocessing: not at import time)
    cfg = config_mod.from_dict(ckpt["config"])
    last = ckpt["metrics"][-1] if ckpt["metrics"] else {}
    answers = ckpt.get("answers") if isinstance(ckpt.get("answers"), dict) else {}
    named = answers.get("mnist_test_accuracy")
    accuracy = named if type(named) is float and 0 <= named <= 1 else last.get("test_acc")  # (damaged: the epoch's)
    return {"preset": cfg.preset, "dataset": cfg.data.dataset, "epoch": ckpt["epoch"],
            "test_accuracy": accuracy, "parameters": count_parameters(model), "config": cfg.to_dict(),
            "reject": checked(ckpt.get("reject"))}
