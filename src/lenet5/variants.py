"""The ablation's variants: each a preset and the overrides on it, named. No torch here, so that
the command line can list them without importing it.

    from lenet5.variants import VARIANTS
    preset, overrides = VARIANTS["robust-no-fill"]
"""

from __future__ import annotations

from typing import Any

from .config import PRESETS

ROBUST = PRESETS["robust"]["data"]["distort"]
# name -> (preset, overrides on it). Single changes sit on top of `classic`, so each row answers
# "what does this one change buy the report's recipe?".
VARIANTS: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "classic": ("classic", {}),
    "relu": ("classic", {"model": {"activation": "relu"}}),
    "maxpool": ("classic", {"model": {"pooling": "max"}}),
    "lrdecay": ("classic", {"train": {"schedule": "cosine"}}),  # cosine to zero over the run, per step
    "dropout": ("classic", {"model": {"dropout": 0.2}}),
    # Beyond the report, still one change on `classic`.
    "batchnorm": ("classic", {"model": {"batch_norm": True}}),
    "normalize": ("classic", {"data": {"normalize": True}}),
    "augment": ("classic", {"data": {"augment": True}}),
    "ema": ("classic", {"train": {"ema": 0.999}}),  # evaluate an average of the weights (decay per step)
    "modern": ("modern", {}),
    # `modern` with one of its changes taken back: what each is worth in combination.
    "modern-no-relu": ("modern", {"model": {"activation": "sigmoid"}}),
    "modern-no-maxpool": ("modern", {"model": {"pooling": "avg"}}),
    "modern-no-lrdecay": ("modern", {"train": {"schedule": "constant"}}),
    "modern-no-dropout": ("modern", {"model": {"dropout": 0.0}}),
    "modern-no-normalize": ("modern", {"data": {"normalize": False}}),
    "modern-no-ema": ("modern", {"train": {"ema": 0.0}}),
    "best": ("best", {}),
    # `robust` (the bundled model's recipe) with one distortion taken out, and at LeNet-5's own width:
    # what each is worth on handwriting that is not MNIST's (benchmarks/bench_handwriting.py).
    "robust": ("robust", {}),
    "robust-narrow": ("robust", {"model": {"channels": (6, 16)}}),
    **{f"robust-no-{name}": ("robust", {"data": {"distort": tuple(d for d in ROBUST if d != name)}})
       for name in ROBUST},
    # LeNet-5 as LeCun et al. 1998 published it, next to the report's simplification (README).
    "lecun1998": ("lecun1998", {}),
    "lecun1998-distorted": ("lecun1998-distorted", {}),
}
