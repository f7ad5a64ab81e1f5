"""Saying "not a digit": the threshold on a model's not-a-digit probability, calibrated on held-out data.

    from lenet5.reject import calibrate
    reject = calibrate(model, held_out_digits, held_out_non_digits, held_out_labels)
    reject["threshold"]      # refuse when P(not a digit) >= this; stored in the checkpoint

Method (measured against max-softmax and energy scores in benchmarks/bench_refusal.py): the model
has an 11th output, "not a digit", trained on generated non-digits (`lenet5.negatives`) next to the
digits. Its probability, averaged over the views a digit is read in (`lenet5.views`), is the score;
the entry names the views, so that every reader scores the same way. The threshold is the lowest
that refuses at most DIGIT_REFUSAL of held-out MNIST digits and at most HARD_DIGIT_REFUSAL of the
same digits distorted the ways real handwriting differs (`lenet5.augment`), a stand-in for the real
hands the model has not seen. Neither the test set nor any evaluation set is looked at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import UserError
from .views import VIEWS, averaged

if TYPE_CHECKING:  # (torch is imported where it is used: reading a model's entry needs none of it)
    import torch

DIGIT_REFUSAL = 0.005       # of held-out MNIST digits
HARD_DIGIT_REFUSAL = 0.01   # of held-out digits after random distortions
CALIBRATION_SEED = 7        # the distortions drawn for calibration: the same for every run
# All but "fill": a digit stretched into a square box is so unlike MNIST that accepting 99% of them
# raised the threshold enough to refuse 3 points fewer non-digits, while refusing no more of the
# form-digits evaluation set (0.8% either way; a 5-epoch robust run, 2026-11-26).
UNCALIBRATED_DISTORTIONS = ("fill",)


def checked(entry: Any) -> dict[str, Any] | None:
    """A checkpoint's or export's `reject` entry as read from disk, or one UserError line saying what is
    wrong with it: an output index, a threshold in [0, 1], and views each named once (lenet5.views)."""
    if entry is None:
        return None
    damaged = "the model's \"not a digit\" entry is damaged ({}); retrain the model, or use another one"
    if not isinstance(entry, dict):
        raise UserError(damaged.format(f"{type(entry).__name__}, not a mapping"))
    index, threshold, views = entry.get("index"), entry.get("threshold"), entry.get("views") or []
    if type(index) is not int or index < 1:
        raise UserError(damaged.format(f"output index {index!r}"))
    if type(threshold) not in (int, float) or not 0 <= threshold <= 1:
        raise UserError(damaged.format(f"threshold {threshold!r}"))
    if not isinstance(views, list) or not all(isinstance(v, str) for v in views):
        raise UserError(damaged.format(f"views {views!r:.60}, not a list of names"))
    if len(set(views)) != len(views) or not set(views) <= set(VIEWS):
        raise UserError(f"the model is read in views this version of lenet5 does not know, or names one twice "
                        f"({', '.join(map(repr, views[:8]))}{', …' if len(views) > 8 else ''}): upgrade lenet5, "
                        f"or use a model made by this version")
    return entry


def not_digit_probability(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(N,) probability of the last output, "not a digit", for (N, 1, 28, 28) images, averaged over the views."""
    from .evaluate import predict_logits
    return averaged(lambda x: predict_logits(model, x), images)[:, -1]


def calibrate(model: torch.nn.Module, digits: torch.Tensor, non_digits: torch.Tensor,
              labels: torch.Tensor | None = None) -> dict[str, Any]:
    """The checkpoint's `reject` entry: output index, threshold, and the refusal rates it gives.
    With the digits' `labels`, their distorted copies include European 1s and 7s."""
    import torch

    from .augment import DISTORTIONS, distort
    from .evaluate import predict_logits
    kinds = tuple(d for d in DISTORTIONS if d not in UNCALIBRATED_DISTORTIONS)
    distorted = distort(digits, kinds, torch.Generator().manual_seed(CALIBRATION_SEED), labels)
    clean_p, hard_p, neg_p = (not_digit_probability(model, x) for x in (digits, distorted, non_digits))
    threshold = max(torch.quantile(clean_p, 1 - DIGIT_REFUSAL).item(),
                    torch.quantile(hard_p, 1 - HARD_DIGIT_REFUSAL).item())
    threshold = min(threshold + 1e-6, 1.0)  # refusal is p >= threshold: the quantile itself is kept

    def refused(p: torch.Tensor) -> float:
        return round((p >= threshold).double().mean().item(), 6)

    return {"index": int(predict_logits(model, digits[:1]).shape[1] - 1), "threshold": threshold,
            "method": "not-a-digit output; threshold from held-out digits", "views": list(VIEWS),
            "held_out_digits_refused": refused(clean_p), "distorted_digits_refused": refused(hard_p),
            "held_out_non_digits_refused": refused(neg_p),
            "held_out": {"digits": len(digits), "non_digits": len(non_digits)}}
