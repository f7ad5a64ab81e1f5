"""Paper-like images made from MNIST digits: dark ink on light paper, large, off-centre, thick or
thin strokes, slightly rotated, JPEG-compressed. They measure how well real-world preprocessing
works on digits whose true labels are known.

    rng = np.random.default_rng(0)
    img = paper_digit(test_images[0], rng)                 # PIL image, 100–400 px
    img = paper_number([test_images[i] for i in range(4)], rng)   # a 4-digit number
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

from .preprocess import disk

MAX_ROTATE_DEG = 12.0


def _on_paper(ink: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Ink (H, W) in [0, 1] -> a JPEG-compressed photo-like image of ink on paper."""
    paper = rng.uniform(0.78, 1.0)
    pen = rng.uniform(0.0, 0.3)
    noise = rng.normal(0, 0.02, ink.shape)
    gray = paper * (1 - ink) + pen * ink + noise
    img = Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8), mode="L")
    if rng.random() < 0.5:
        tint = rng.uniform(0.9, 1.0, 3)
        img = Image.fromarray((np.asarray(img)[..., None] * tint).astype(np.uint8), mode="RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.integers(35, 92)))
    return Image.open(io.BytesIO(buf.getvalue()))


def _restroke(ink: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Thicker or thinner strokes, by up to about one MNIST pixel either way."""
    r = int(round(rng.uniform(-0.6, 1.0) * scale))
    if r > 0:
        return ndimage.grey_dilation(ink, footprint=disk(r))
    if r < 0:
        return ndimage.grey_erosion(ink, footprint=disk(-r))
    return ink


def paper_digit(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One MNIST digit (28×28 uint8) as a 100–400 px photo of a digit written on paper."""
    img = Image.fromarray(digit.astype(np.uint8), mode="L").rotate(rng.uniform(-MAX_ROTATE_DEG, MAX_ROTATE_DEG),
                                                                  resample=Image.Resampling.BICUBIC)
    side = int(rng.integers(70, 300))
    ink = np.asarray(img.resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    ink = _restroke(np.clip(ink, 0, 1), rng, side / 28)
    m = (rng.uniform(0.0, 0.5, 4) * side).astype(int)  # top, bottom, left, right: off-centre margins
    ink = np.pad(ink, ((m[0], m[1]), (m[2], m[3])))
    return _on_paper(ink, rng)


def paper_number(digits: list[np.ndarray], rng: np.random.Generator) -> Image.Image:
    """Several MNIST digits side by side (varied gaps, sizes, baselines) as a photo of a number."""
    parts = []
    for d in digits:
        h = int(round(28 * rng.uniform(0.85, 1.15)))
        img = Image.fromarray(d.astype(np.uint8), mode="L").rotate(rng.uniform(-6, 6), resample=Image.Resampling.BICUBIC)
        arr = np.asarray(img.resize((h, h), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
        cols = np.nonzero(arr.max(0) > 0.1)[0]
        parts.append(arr[:, cols[0]:cols[-1] + 1] if len(cols) else arr)
    height = max(p.shape[0] for p in parts) + 8
    gaps = [int(rng.integers(2, 12)) for _ in parts[1:]]
    width = sum(p.shape[1] for p in parts) + sum(gaps) + 8
    canvas = np.zeros((height, width), np.float32)
    x = 4
    for i, p in enumerate(parts):
        y = int(rng.integers(0, height - p.shape[0] + 1))  # baseline jitter
        canvas[y:y + p.shape[0], x:x + p.shape[1]] = np.maximum(canvas[y:y + p.shape[0], x:x + p.shape[1]], p)
        x += p.shape[1] + (gaps[i] if i < len(gaps) else 0)
    scale = rng.uniform(3, 6)
    big = Image.fromarray(canvas, mode="F").resize((int(width * scale), int(height * scale)), Image.Resampling.BICUBIC)
    ink = _restroke(np.clip(np.asarray(big), 0, 1), rng, scale * 0.5)
    m = (rng.uniform(0.05, 0.3, 4) * ink.shape[0]).astype(int)
    return _on_paper(np.pad(ink, ((m[0], m[1]), (m[2], m[3]))), rng)


def phone_photo(digit: np.ndarray, w: int = 4000, h: int = 3000) -> bytes:
    """A digit written large on paper and photographed: 12 MP, uneven light, sensor noise, ~4 MB of JPEG."""
    rng = np.random.default_rng(0)
    side = int(0.6 * h)
    ink = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255
    gray = np.empty((h, w), np.float32)
    gray[:] = np.linspace(0.75, 0.95, w)[None, :]
    y0, x0 = (h - side) // 2, (w - side) // 2
    gray[y0:y0 + side, x0:x0 + side] *= 1 - 0.8 * ink
    rgb = np.clip(gray[..., None] * [1.0, 0.97, 0.92] + rng.normal(0, 0.03, (h, w, 1)), 0, 1)
    buf = io.BytesIO()
    Image.fromarray((rgb * 255).astype(np.uint8)).save(buf, "JPEG", quality=92)
    return buf.getvalue()
