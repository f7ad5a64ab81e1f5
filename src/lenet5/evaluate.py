"""Test-set metrics: loss, accuracy, per-class accuracy, confusion matrix.

    from lenet5.evaluate import evaluate_run
    result = evaluate_run("runs/classic-mnist-s0", data_dir="../shared/data")
    result["accuracy"], result["confusion_matrix"][3][5]   # 3s predicted as 5
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from . import config as config_mod
from . import data as data_mod
from .checkpoint import load_model
from .losses import Criterion, criterion
from .models import evaluating

DEFAULT_EVAL_BATCH = 2000  # no gradients: large batches cost little memory and run faster


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = DEFAULT_EVAL_BATCH,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Logits for every image, in eval mode (restoring the model's mode afterwards), on the CPU."""
    with evaluating(model):
        outs = [model(images[i:i + batch_size].to(device, non_blocking=True)).float()
                for i in range(0, len(images), batch_size)]
    return torch.cat(outs).cpu()


@torch.no_grad()
def loss_and_accuracy(model: nn.Module, split: data_mod.Split, batch_size: int = DEFAULT_EVAL_BATCH,
                      device: torch.device | str = "cpu", loss: Criterion | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss per image (cross-entropy unless `loss` says) and accuracy, as 0-d tensors (no host
    sync until read)."""
    loss = loss or criterion()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    with evaluating(model):
        for i in range(0, len(split), batch_size):
            x = split.images[i:i + batch_size].to(device, non_blocking=True)
            y = split.labels[i:i + batch_size].to(device, non_blocking=True)
            out = model(x)
            loss_sum += loss(out, y, reduction="sum")
            correct += (out.argmax(1) == y).sum()
    return loss_sum / len(split), correct.float() / len(split)  # float32: MPS has no float64


def metrics_from_logits(logits: torch.Tensor, labels: torch.Tensor, num_classes: int,
                        loss: Criterion | None = None) -> dict[str, Any]:
    """Loss (the run's criterion; cross-entropy unless `loss` says), accuracy, per class, confusion."""
    loss = loss or criterion()
    pred = logits.argmax(1)
    confusion = torch.bincount(labels * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)
    per_class = confusion.diag().double() / confusion.sum(1).clamp(min=1).double()
    return {
        "loss": loss(logits, labels).item(),
        "accuracy": (pred == labels).double().mean().item(),
        "per_class_accuracy": per_class.tolist(),
        "confusion_matrix": confusion.tolist(),
    }


def evaluate_run(run_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                 which: str = "last", batch_size: int = DEFAULT_EVAL_BATCH) -> dict[str, Any]:
    """Rebuild the model from the run folder alone and measure it on its data set's test split."""
    from .run import RunFolder
    model, ckpt = load_model(run_dir, which)
    cfg = config_mod.from_dict(ckpt["config"])
    test = data_mod.load(cfg.data.dataset, "test", RunFolder(run_dir).data_dir(data_dir))
    logits = predict_logits(model, test.images, batch_size)
    result = metrics_from_logits(logits, test.labels, len(test.classes), criterion(cfg.train.loss))
    return {"run": str(run_dir), "checkpoint": which, "epoch": ckpt["epoch"], "dataset": cfg.data.dataset,
            "classes": list(test.classes), **result}
