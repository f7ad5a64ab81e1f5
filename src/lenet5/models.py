"""LeNet-5 and the model registry. A model maps images to logits and knows nothing of training.

    from lenet5.models import create_model, list_models, summary
    model = create_model("lenet5", activation="relu", pooling="max")
    logits = model(torch.zeros(8, 1, 28, 28))      # -> (8, 10)
    print(model)                                   # layers, output shapes, parameter counts
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from .errors import UserError

INPUT_SHAPE = (1, 28, 28)  # MNIST: one channel, 28×28 pixels
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
POOLINGS: dict[str, Callable[[], nn.Module]] = {
    "avg": lambda: nn.AvgPool2d(kernel_size=2, stride=2),
    "max": lambda: nn.MaxPool2d(kernel_size=2, stride=2),
}
# The sub-modules whose outputs the report plots as feature maps (after pooling).
FEATURE_LAYERS = ("pool1", "pool2")

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def add(cls):
        _REGISTRY[name] = cls
        return cls
    return add


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, **options) -> nn.Module:
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    try:
        return _REGISTRY[name](**options)
    except TypeError as e:
        raise UserError(f"bad options for model {name!r}: {e}") from None


@register("lenet5")
class LeNet5(nn.Module):
    """The report's LeNet-5, with the switches its future-work section asks about.

    Defaults are the report's network exactly: conv 1→6 5×5 pad 2, sigmoid, avg-pool; conv 6→16
    5×5, sigmoid, avg-pool; 400→120→84 sigmoid; 84→10 logits (61,706 parameters). The layers are
    created in the report's order so the same seed gives the same initial weights. `channels` and
    `hidden` widen the same topology (the `robust` preset: 8 and 24 maps).
    """

    def __init__(self, *, activation: str = "sigmoid", pooling: str = "avg", dropout: float = 0.0,
                 batch_norm: bool = False, normalize: bool = False, in_channels: int = 1,
                 num_classes: int = 10, channels: tuple[int, int] = (6, 16), hidden: tuple[int, int] = (120, 84)):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise UserError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        if pooling not in POOLINGS:
            raise UserError(f"unknown pooling {pooling!r}; known: {', '.join(POOLINGS)}")
        if not 0.0 <= dropout < 1.0:
            raise UserError(f"dropout must be in [0, 1), got {dropout}")
        act, pool = ACTIVATIONS[activation], POOLINGS[pooling]
        (c1, c2), (h1, h2) = channels, hidden
        norm2d = nn.BatchNorm2d if batch_norm else (lambda c: nn.Identity())
        norm1d = nn.BatchNorm1d if batch_norm else (lambda c: nn.Identity())
        # Convolutions before linear layers, as in the report: parameter init draws in this order.
        self.conv1 = nn.Conv2d(in_channels, c1, 5, padding=2, bias=not batch_norm)
        self.bn1 = norm2d(c1)
        self.act1 = act()
        self.pool1 = pool()
        self.conv2 = nn.Conv2d(c1, c2, 5, bias=not batch_norm)
        self.bn2 = norm2d(c2)
        self.act2 = act()
        self.pool2 = pool()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(c2 * 5 * 5, h1, bias=not batch_norm)
        self.bn3 = norm1d(h1)
        self.act3 = act()
        self.drop1 = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc2 = nn.Linear(h1, h2, bias=not batch_norm)
        self.bn4 = norm1d(h2)
        self.act4 = act()
        self.drop2 = nn.Dropout(dropout) if dropout else nn.Identity()
        self.clf = nn.Linear(h2, num_classes)
        # Input standardisation lives in the model so that export, predict and serve need not
        # know it; training fills in the train set's statistics.
        self.normalize = normalize
        if normalize:
            self.register_buffer("input_mean", torch.zeros(()))
            self.register_buffer("input_std", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = (x - self.input_mean) / self.input_std
        x = self.pool1(self.act1(self.bn1(self.conv1(x))))
        x = self.pool2(self.act2(self.bn2(self.conv2(x))))
        x = self.flatten(x)
        x = self.drop1(self.act3(self.bn3(self.fc1(x))))
        x = self.drop2(self.act4(self.bn4(self.fc2(x))))
        return self.clf(x)

    def __repr__(self) -> str:
        return format_summary(summary(self))


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode inside the block, the model's previous mode after it, even on an error.

        with evaluating(model), torch.no_grad():
            logits = model(x)          # dropout off, batch-norm statistics untouched
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def summary(model: nn.Module, input_shape: tuple[int, ...] = INPUT_SHAPE) -> list[tuple[str, str, tuple[int, ...], int]]:
    """(name, type, output shape without batch, parameters) for each leaf layer, in call order.

    Runs one forward pass on zeros in eval mode (so batch-norm statistics are untouched).
    """
    rows, hooks = [], []
    for name, module in model.named_modules():
        if list(module.children()) or isinstance(module, nn.Identity):
            continue
        params = sum(p.numel() for p in module.parameters(recurse=False))
        hooks.append(module.register_forward_hook(
            lambda m, i, o, name=name, params=params: rows.append((name, type(m).__name__, tuple(o.shape[1:]), params))))
    try:
        with evaluating(model), torch.no_grad():
            model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    return rows


def format_summary(rows) -> str:
    lines = [f"{'layer':<10}{'type':<12}{'output shape':<16}{'params':>8}", "-" * 46]
    for name, kind, shape, params in rows:
        lines.append(f"{name:<10}{kind:<12}{'×'.join(map(str, shape)):<16}{params:>8,}")
    lines += ["-" * 46, f"{'total':<38}{sum(r[3] for r in rows):>8,}"]
    return "\n".join(lines)
