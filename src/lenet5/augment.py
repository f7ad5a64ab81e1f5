"""How real handwriting differs from MNIST's, as random distortions of a whole batch at once.

    from lenet5.augment import distort
    x = distort(x, ("rotate", "shear", "aspect", "elastic", "thickness"), generator)   # (N, 1, 28, 28)

Each name is one way people's digits differ from MNIST's, and each is measured alone in the
ablation (`lenet5 ablate --variants robust,robust-no-elastic,...`). Every operation is a tensor
operation on the whole batch (no Python per image).

The geometric distortions are followed by the normalisation `lenet5.preprocess` applies to every
real image — longer side to 20 px, centre of mass to the centre of 28×28 — so the network trains on
what it will be shown, not on digits that fall off the field or shrink.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

# name -> what it imitates
DISTORTIONS = {
    "rotate": "slanted writing: rotation by up to ±15°",
    "shear": "italic writing: horizontal shear by up to ±0.3",
    "aspect": "narrow or wide hands, and digits stretched to fill a box: aspect ×0.5–×2",
    "elastic": "wobbly pens and individual letter forms: smooth random displacement of up to ~2 px",
    "thickness": "pens from fine to marker: strokes thinned or thickened by up to a pixel",
    "blur": "scans and out-of-focus photos: Gaussian blur of varying strength",
    "levels": "faint ink, grey paper and sensor noise: ink gain, gamma, background and noise",
    "jitter": "imperfect cropping: the fitted digit off by ±10% in size and ±1.5 px in place",
    "fill": "forms that stretch each digit to fill its box, often scanned at 1 bit: the ink stretched to a square",
    "european": "continental European forms, rare in MNIST: half of the 1s given a long flag (some a base), "
                "half of the 7s crossed",
}
ROTATE_DEG = 15.0
SHEAR = 0.3
ASPECT = 2.0           # log-uniform in [1/ASPECT, ASPECT], applied to half the images
ELASTIC_PX = 2.0       # displacement amplitude, pixels at the 28-px scale
ELASTIC_GRID = 4       # control points per side of the displacement field: smooth, digit-sized bends
THICKNESS = (-0.8, 1.0)  # <0 blends towards a 3×3 grey erosion, >0 towards a 3×3 dilation
BLUR_TAPS = (0.25, 0.5, 0.25)  # a separable 3×3 binomial blur (σ ≈ 0.7 px), blended in by up to 100%
JITTER_SCALE, JITTER_PX = 0.10, 1.5
FILL_SHARE = 0.2       # of the distorted images; half of those also made 1-bit
EUROPEAN_SHARE = 0.5   # of the 1s and of the 7s
FILL_STRETCH = 5.0     # at most: a 1 drawn without a flag becomes a slanted bar, not a solid block
FIELD, BOX = 28, 20    # MNIST: a 20-px box in a 28-px field, as lenet5.preprocess fits real images
PAD = 5                # room around the 20-px digit while it is distorted, so nothing is cut off
INK_LEVEL = 0.25       # share of an image's brightest value that counts as ink when refitting
CLEAN_SHARE = 0.25     # images left undistorted (only refitted): MNIST's own digits stay well learned
# What a non-digit may go through: no rotation, shear or aspect, which can turn a slanted line, a
# dash or a blob into a 1 (measured: 40 of the 1,135 test 1s came out "not a digit" otherwise).
NON_DIGIT_DISTORTIONS = ("elastic", "thickness", "blur", "levels", "jitter")


def distort(x: torch.Tensor, names: Sequence[str], generator: torch.Generator,
            labels: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 1, 28, 28) in [0, 1] -> the same batch with each named distortion drawn per image.

    `labels` (N,) are needed by "european" only (it draws on 1s and 7s); without them it is skipped."""
    names = set(names)
    unknown = names - set(DISTORTIONS)
    if unknown:
        raise ValueError(f"unknown distortion(s) {sorted(unknown)}; known: {', '.join(DISTORTIONS)}")
    if not names:
        return x
    n = len(x)

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    clean = (torch.rand(n, generator=generator) < CLEAN_SHARE).view(n, 1, 1, 1)
    if "european" in names and labels is not None:
        x = torch.where(clean, x, _european(x, labels, uniform, generator))
    big = F.pad(x, (PAD,) * 4)
    big = torch.where(clean, big, _warp(big, names, uniform, generator))
    if "thickness" in names:
        big = torch.where(clean, big, _thickness(big, uniform(*THICKNESS)))
    if "blur" in names:
        blurred = _blur(big)
        big = torch.lerp(big, blurred, (uniform(0, 1) * (torch.rand(n, generator=generator) < 0.5) * ~clean.view(n)).view(n, 1, 1, 1))
    fill = ((torch.rand(n, generator=generator) < FILL_SHARE) & ~clean.view(n)) if "fill" in names else None
    out = refit(big, uniform, "jitter" in names, fill)
    if fill is not None:
        one_bit = (fill & (torch.rand(n, generator=generator) < 0.5)).view(n, 1, 1, 1)
        out = torch.where(one_bit, (out > 0.4 * out.amax((2, 3), keepdim=True)).to(out.dtype), out)
    if "levels" in names:
        out = torch.where(clean, out, _levels(out, uniform, generator))
    return out.clamp_(0, 1)


def _warp(x: torch.Tensor, names: set[str], uniform, generator: torch.Generator) -> torch.Tensor:
    """Rotation, shear, aspect and elastic bends in one resampling."""
    n, _, h, w = x.shape
    angle = uniform(-1, 1) * math.radians(ROTATE_DEG) if "rotate" in names else torch.zeros(n)
    shear = uniform(-SHEAR, SHEAR) if "shear" in names else torch.zeros(n)
    log_aspect = uniform(-1, 1) * math.log(ASPECT) * (torch.rand(n, generator=generator) < 0.5) \
        if "aspect" in names else torch.zeros(n)
    sx, sy = torch.exp(log_aspect / 2), torch.exp(-log_aspect / 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Sampling matrix (output -> input coordinates): rotation · shear · 1/aspect.
    a, b = cos / sx, (cos * shear - sin) / sy
    c, d = sin / sx, (sin * shear + cos) / sy
    zero = torch.zeros(n)
    theta = torch.stack([torch.stack([a, b, zero], 1), torch.stack([c, d, zero], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    if "elastic" in names:
        field = torch.rand(n, 2, ELASTIC_GRID, ELASTIC_GRID, generator=generator) * 2 - 1
        field = F.interpolate(field, size=(h, w), mode="bilinear", align_corners=True)
        grid = grid + field.permute(0, 2, 3, 1) * (ELASTIC_PX * 2 / w)  # pixels -> [-1, 1] units
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def _european(x: torch.Tensor, labels: torch.Tensor, uniform, generator: torch.Generator) -> torch.Tensor:
    """Pen strokes added where a European hand puts them: from the top of a 1 down to the left (a
    flag), along its foot (a base, a third of the flagged), and across the middle of a 7's stem."""
    n = len(x)
    picked = torch.rand(n, generator=generator) < EUROPEAN_SHARE
    ones, sevens = picked & (labels == 1), picked & (labels == 7)
    img = x[:, 0]
    ink = img > 0.5
    rows = torch.arange(FIELD, dtype=x.dtype)
    any_row = ink.any(2)
    top = torch.where(any_row, rows, float(FIELD)).amin(1)
    bottom = torch.where(any_row, rows, -1.0).amax(1)
    height = (bottom - top).clamp_min(1)
    width = (img.sum((1, 2)) / height).clamp(1.5, 4.0)  # the pen: ink per row

    def centre(row: torch.Tensor) -> torch.Tensor:  # mean ink column on a row (the nearest inked one)
        on = ink[torch.arange(n), row.long().clamp(0, FIELD - 1)].to(x.dtype)
        return (on * rows).sum(1) / on.sum(1).clamp_min(1) + (on.sum(1) == 0) * FIELD / 2

    top_x, foot_x = centre(top), centre(bottom)
    mid = top + height * uniform(0.45, 0.6)
    mid_x = centre(mid)
    flag = torch.stack([top_x, top, top_x - height * uniform(0.2, 0.4), top + height * uniform(0.2, 0.4)], 1)
    base_half = height * uniform(0.15, 0.3)
    base = torch.stack([foot_x - base_half, bottom, foot_x + base_half, bottom], 1)
    cross_half = height * uniform(0.15, 0.3)
    cross = torch.stack([mid_x - cross_half, mid, mid_x + cross_half, mid - height * uniform(0, 0.05)], 1)
    with_base = ones & (torch.rand(n, generator=generator) < 1 / 3)
    out = img
    for segment, where in ((flag, ones), (base, with_base), (cross, sevens)):
        out = torch.where(where.view(n, 1, 1), torch.maximum(out, _stroke(segment, width)), out)
    return out.unsqueeze(1)


def _stroke(segment: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """(N, 4) segments x0, y0, x1, y1 in pixels -> (N, 28, 28) anti-aliased strokes `width` px wide."""
    yy, xx = torch.meshgrid(torch.arange(FIELD, dtype=segment.dtype), torch.arange(FIELD, dtype=segment.dtype),
                            indexing="ij")
    x0, y0, x1, y1 = (segment[:, i].view(-1, 1, 1) for i in range(4))
    dx, dy = x1 - x0, y1 - y0
    t = (((xx - x0) * dx + (yy - y0) * dy) / (dx * dx + dy * dy).clamp_min(1e-6)).clamp(0, 1)
    distance = torch.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))
    return (width.view(-1, 1, 1) / 2 + 0.5 - distance).clamp(0, 1)


def _thickness(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Blend each image towards its 3×3 grey erosion (amount < 0) or dilation (amount > 0)."""
    dilated, eroded = _filter3(x, torch.maximum), _filter3(x, torch.minimum)
    a = amount.view(-1, 1, 1, 1)
    return torch.where(a < 0, torch.lerp(x, eroded, (-a).clamp(0, 1)), torch.lerp(x, dilated, a.clamp(0, 1)))


def _filter3(x: torch.Tensor, op) -> torch.Tensor:
    """A separable 3×3 max or min filter from shifted views (max_pool2d is ~10× slower on 1 channel)."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    rows = op(op(p[..., :-2], p[..., 1:-1]), p[..., 2:])
    return op(op(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :])


def _blur(x: torch.Tensor) -> torch.Tensor:
    a, b, c = BLUR_TAPS
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    rows = a * p[..., :-2] + b * p[..., 1:-1] + c * p[..., 2:]
    return a * rows[..., :-2, :] + b * rows[..., 1:-1, :] + c * rows[..., 2:, :]


def refit(x: torch.Tensor, uniform=None, jitter: bool = False, fill: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 1, H, W) -> (N, 1, 28, 28): longer side of the ink to 20 px, centre of mass to the centre.

    The batched twin of lenet5.preprocess.fit_to_field; `jitter` adds its typical error; where `fill`
    (N booleans) is set, the shorter side is stretched to 20 px too, as a form that filled each box
    with its digit would have done before the image reached lenet5.preprocess.
    """
    n, _, h, w = x.shape
    img = x[:, 0]
    peak = img.amax((1, 2), keepdim=True).clamp_min(1e-6)
    ink = img >= INK_LEVEL * peak
    rows, cols = ink.any(2), ink.any(1)
    extent_y = _extent(rows).clamp_min(1)
    extent_x = _extent(cols).clamp_min(1)
    scale = BOX / torch.maximum(extent_y, extent_x)  # output pixels per input pixel
    scale_x = scale_y = scale
    if fill is not None:
        stretch = (torch.maximum(extent_y, extent_x) / torch.minimum(extent_y, extent_x)).clamp(max=FILL_STRETCH)
        scale_x = torch.where(fill & (extent_x < extent_y), scale * stretch, scale)
        scale_y = torch.where(fill & (extent_y < extent_x), scale * stretch, scale)
    mass = img.sum((1, 2)).clamp_min(1e-6)
    cy = (img.sum(2) * torch.arange(h, dtype=x.dtype)).sum(1) / mass
    cx = (img.sum(1) * torch.arange(w, dtype=x.dtype)).sum(1) / mass
    if jitter and uniform is not None:
        size = torch.exp(uniform(-JITTER_SCALE, JITTER_SCALE))
        scale_x, scale_y = scale_x * size, scale_y * size
        cy, cx = cy + uniform(-JITTER_PX, JITTER_PX) / scale_y, cx + uniform(-JITTER_PX, JITTER_PX) / scale_x
    # Output normalised coordinate u maps to input pixel 14·u/scale + centre (pixel centres at i + 0.5).
    zero = torch.zeros(n, dtype=x.dtype)
    theta = torch.stack([torch.stack([FIELD / (w * scale_x), zero, (2 * cx + 1) / w - 1], 1),
                         torch.stack([zero, FIELD / (h * scale_y), (2 * cy + 1) / h - 1], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, FIELD, FIELD], align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def _extent(any_ink: torch.Tensor) -> torch.Tensor:
    """(N, L) booleans -> number of positions from the first True to the last, inclusive."""
    idx = torch.arange(any_ink.shape[1], dtype=torch.float32)
    first = torch.where(any_ink, idx, float("inf")).amin(1)
    last = torch.where(any_ink, idx, float("-inf")).amax(1)
    return (last - first + 1).clamp_min(0).nan_to_num(0.0)


def _levels(x: torch.Tensor, uniform, generator: torch.Generator) -> torch.Tensor:
    """Ink gain and gamma for every image; a grey background for 30% of them; pixel noise."""
    n = len(x)
    gain = uniform(0.55, 1.0).view(n, 1, 1, 1)
    gamma = torch.exp(uniform(-0.5, 0.5)).view(n, 1, 1, 1)
    background = (uniform(0, 0.12) * (torch.rand(n, generator=generator) < 0.3)).view(n, 1, 1, 1)
    noise = uniform(0, 0.06).view(n, 1, 1, 1) * torch.randn(x.shape, generator=generator)
    return background + (1 - background) * gain * x.clamp(0, 1) ** gamma + noise
