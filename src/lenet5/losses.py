"""The training criteria a config can name (`TrainConfig.loss`), as functions of logits and labels.

    from lenet5.losses import criterion
    loss = criterion("map")(logits, labels)          # mean over the batch

- "cross-entropy": softmax cross-entropy on the logits (the lab report's, and every preset but
  lecun1998's), with optional label smoothing.
- "map": LeCun et al. 1998, eq. (9), for a model whose logits are minus RBF distances (−y_i):
      E = y_D + log(e^−j + Σ_i e^−y_i)
  It pulls the right class's distance y_D down and, through the log term, pushes the others up; the
  constant e^−j is a "rubbish" class that keeps already-large distances from being pushed further.
  Written with logits z = −y it is cross-entropy over the 10 logits plus one constant logit −j.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .config import LOSSES

MAP_J = 0.1  # the paper's positive constant j (it gives no value; 0.1 is ours)

Criterion = Callable[..., torch.Tensor]


def map_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    rubbish = torch.full((len(logits), 1), -MAP_J, dtype=logits.dtype, device=logits.device)
    return F.cross_entropy(torch.cat([logits, rubbish], 1), labels, reduction=reduction)


def criterion(name: str = "cross-entropy", label_smoothing: float = 0.0) -> Criterion:
    """`loss(logits, labels, reduction="mean")` for a config's loss name."""
    if name == "map":
        return map_loss
    if name == "cross-entropy":
        return lambda logits, labels, reduction="mean": F.cross_entropy(
            logits, labels, reduction=reduction, label_smoothing=label_smoothing)
    raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
