"""Reading a digit several ways: as drawn, turned 10° each way, and drawn smaller; the answer is the
mean of the four probability vectors (test-time augmentation).

    from lenet5.views import VIEWS, averaged
    probs = averaged(logits_of, batch)      # (N, outputs), for numpy arrays or torch tensors

Why: real hands lean and size their digits differently from MNIST, and a single reading is brittle
where a digit sits near the edge of a class. Read in these four views, the bundled model (the same
weights, its threshold calibrated for each way of reading) names more of the handwriting it never
saw: scikit-learn's digits 95.6 → 96.9%, form cells 94.8 → 95.4%, pen digits 98.9 → 99.2%, MNIST
answered right 99.34 → 99.55%, and refuses fewer real digits (1.40 → 0.95%), for 3 of 600
non-digits fewer refused (README, "Four views, measured"). Other sets of views read fewer of those
digits right: turning ±5° or ±15° instead, shifting a pixel each way, shearing ±0.2, growing 15% as a
fifth view, all sixteen together. The cost is four model calls' compute (benchmarks/bench_views.py).

Each view is one fixed bilinear resampling of the 784 pixels about the field's centre (four taps a
pixel), so all views of a batch are a single gather, the same code in numpy and torch. A model uses
views only when its `reject` entry names them (`lenet5.reject.calibrate` does, its threshold being calibrated on
the averaged probability); older checkpoints are read once, as before.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import numpy as np

from .preprocess import FIELD

# name: (degrees counter-clockwise, scale about the centre)
VIEWS: dict[str, tuple[float, float]] = {
    "as drawn": (0.0, 1.0),
    "turned -10°": (-10.0, 1.0),
    "turned +10°": (10.0, 1.0),
    "smaller": (0.0, 0.85),
}


def taps(degrees: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each of the view's 784 pixels samples the image, bilinearly, at the inverse rotation and
    scale about the field's centre: (4, 784) pixel indices and (4, 784) weights; outside the field is
    background (weight 0)."""
    c = (FIELD - 1) / 2
    a = np.deg2rad(degrees)
    inverse = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) / scale
    rows, cols = np.mgrid[0:FIELD, 0:FIELD]
    sx, sy = inverse @ np.stack([cols.ravel() - c, rows.ravel() - c]) + c
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = sx - x0, sy - y0
    index, weight = [], []
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        x, y = x0 + dx, y0 + dy
        inside = (x >= 0) & (x < FIELD) & (y >= 0) & (y < FIELD)
        index.append(np.where(inside, y * FIELD + x, 0))
        weight.append(np.where(inside, w, 0.0))
    return np.array(index), np.array(weight, np.float32)


@lru_cache(maxsize=None)
def _all_taps(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Every named view side by side: (4·V·784,) pixel indices, tap by tap, and (4, V·784) weights.
    One gather then makes all views of a batch (a dense 784×784 matrix per view took 8 ms for one
    image here, reading 10 MB for 3,136 outputs; this takes ~0.05 ms)."""
    each = [taps(*VIEWS[n]) for n in names]
    return np.concatenate([i for i, _ in each], 1).ravel(), np.concatenate([w for _, w in each], 1)


def expand(batch: Any, names: tuple[str, ...] = tuple(VIEWS)) -> Any:
    """(N, …28×28) numpy array or torch tensor -> (V·N, 1, 28, 28) of the same kind, view by view."""
    n, v = len(batch), len(names)
    index, weight = _all_taps(tuple(names))
    pixels = batch.reshape(n, FIELD * FIELD)
    if isinstance(batch, np.ndarray):
        taken = np.take(pixels, index, axis=1)
    else:
        import torch
        index, weight = torch.from_numpy(index).to(batch.device), torch.from_numpy(weight).to(batch.device)
        taken = pixels.index_select(1, index)
    taken = taken.reshape(n, *weight.shape)
    taken *= weight
    flat = taken.sum(1)                                                # (N, V·784)
    return flat.reshape(n, v, FIELD * FIELD).swapaxes(0, 1).reshape(v * n, 1, FIELD, FIELD)


def averaged(logits_of: Callable[[Any], Any], batch: Any, names: tuple[str, ...] = tuple(VIEWS)) -> Any:
    """(N, outputs) softmax probabilities averaged over the views, from a function giving logits."""
    n = len(batch)
    z = logits_of(expand(batch, names))
    if isinstance(z, np.ndarray):
        e = np.exp(z - z.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
    else:
        p = z.softmax(1)
    return p.reshape(len(names), n, -1).mean(0)
