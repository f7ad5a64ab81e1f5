"""Any image of a handwritten digit -> a 28×28 array that looks like MNIST. Pure functions.

    from lenet5.preprocess import preprocess, split_digits, open_image
    x = preprocess(open_image("photo.jpg"))           # (28, 28) float32, white ink on black, [0, 1]
    digits = split_digits(open_image("year.png"))     # [(28, 28) arrays], left to right

MNIST was built by fitting each digit into a 20×20 box (aspect kept, anti-aliased) and placing it in
a 28×28 field so that its centre of mass is at the centre. A photo of ink on paper looks nothing
like that, so: ink polarity -> background removal (Otsu) -> crop to the ink -> stroke width
evened out -> longer side to 20 px -> centre of mass to the centre of 28×28.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from .errors import UserError

FIELD = 28                 # MNIST image side
BOX = 20                   # the digit's longer side inside the field
MAX_INPUT_PIXELS = 40_000_000  # refuse larger images before decoding them (decompression bombs)
MIN_CONTRAST = 0.2         # ink darker than paper by less than this (of full scale) is no ink at all
MIN_INK_FRACTION = 0.0005  # fewer ink pixels than this share of the image: blank
SPECK_FRACTION = 0.03      # components smaller than this share of the ink are noise (JPEG, paper)
TARGET_STROKE = 2.2        # MNIST stroke width in pixels at the 20-px scale (about 2–3)
THICK_STROKE = 4.5         # thicker than this at 20 px: thin it, a marker's stroke fills the digit
DIGIT_ASPECT = 0.75        # a handwritten digit's typical width / height
TOUCHING_RATIO = 1.4       # a component wider than this × the digits' height holds several digits
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageError(UserError):
    """An input that is not a usable image (not an image, truncated, too large, 0×0)."""


class BlankImageError(ImageError):
    """An image with no ink on it: reported as blank, never classified."""


def open_image(source: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    """Decode a path or bytes into a PIL image (first frame, EXIF orientation applied), checked."""
    if isinstance(source, Image.Image):
        img, name = source, "image"
    else:
        name = "image" if isinstance(source, bytes) else str(source)
        try:
            if isinstance(source, bytes):
                if not source:
                    raise ImageError("empty image data")
                fh = io.BytesIO(source)
            else:
                if Path(source).is_file() and Path(source).stat().st_size == 0:
                    raise ImageError(f"{name}: empty file")
                fh = open(source, "rb")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(fh)
                w, h = img.size
                if w * h > MAX_INPUT_PIXELS:
                    raise ImageError(f"{name}: {w}×{h} is too large (over {MAX_INPUT_PIXELS:,} pixels); "
                                     f"scale it down first")
                img.seek(0)  # GIF / TIFF: the first frame
                img.load()
        except FileNotFoundError:
            raise ImageError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"{name}: is a folder, not an image") from None
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image Pillow can read (PNG, JPEG, BMP, GIF, TIFF, WebP)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name}: too large to decode safely (decompression bomb?); scale it down first") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"{name}: truncated or corrupt image ({e})") from None
    if img.size[0] == 0 or img.size[1] == 0:
        raise ImageError(f"{name}: image is {img.size[0]}×{img.size[1]} pixels")
    return ImageOps.exif_transpose(img)


def ink_map(img: Image.Image) -> np.ndarray:
    """Float (H, W) in [0, 1] where 1 is the most ink: polarity decided, background stretched to 0.

    A transparent background is paper (alpha is the ink); otherwise the border's median is the paper
    colour, and dark-on-light is inverted.
    """
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3]
        if alpha.min() < 0.5 < alpha.max():  # a real cut-out: what is opaque is ink
            return alpha
        gray = rgba[..., :3].mean(-1) * alpha + (1 - alpha)  # flat alpha: composite on white paper
    else:
        gray = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = 1.0 - gray if np.median(border) > 0.5 else gray
    return ink


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1] (256 bins)."""
    hist, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(1, hist.sum())
    w0 = np.cumsum(p)
    mu = np.cumsum(p * (edges[:-1] + edges[1:]) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w0 - mu) ** 2 / (w0 * (1 - w0))
    return float(edges[int(np.nanargmax(between)) + 1])


def clean(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background to 0 and ink stretched to 1; returns (ink, mask of ink pixels). Raises if blank."""
    lo, hi = float(np.percentile(ink, 1)), float(ink.max())
    if hi - lo < MIN_CONTRAST:
        raise BlankImageError("blank image: no ink found (nothing darker or lighter than the paper)")
    stretched = np.clip((ink - lo) / (hi - lo), 0, 1)
    t = otsu_threshold(stretched)
    mask = stretched > t
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n:
        sizes = ndimage.sum(mask, labels, index=np.arange(1, n + 1))
        keep = np.zeros(n + 1, bool)
        keep[1:] = sizes >= SPECK_FRACTION * sizes.sum()
        mask = keep[labels]
    if mask.sum() < max(2, MIN_INK_FRACTION * mask.size):
        raise BlankImageError("blank image: no ink found (only specks)")
    # Soft edges kept just outside the mask so anti-aliasing survives; far background zeroed.
    near = ndimage.binary_dilation(mask, iterations=2)
    top = float(np.percentile(stretched[mask], 90))
    out = np.clip((stretched - t * 0.5) / max(1e-6, top - t * 0.5), 0, 1) * near
    return out.astype(np.float32), mask


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the mean distance-to-background along the stroke's middle."""
    mask = np.pad(mask, 1)  # outside the crop is background, not more ink
    dist = ndimage.distance_transform_edt(mask)
    ridge = (dist >= ndimage.maximum_filter(dist, size=3)) & mask
    return float(2 * dist[ridge].mean()) if ridge.any() else 1.0


def fit_to_field(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Crop to the ink, even out the stroke, longer side to BOX px, centre of mass at the field centre."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop, cmask = ink[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    scale = BOX / max(crop.shape)
    width = stroke_width(cmask) * scale
    if width < TARGET_STROKE and scale < 1:  # thin pen on a big image: would vanish when shrunk
        r = int(round((TARGET_STROKE - width) / scale / 2))
        if r >= 1:
            pad = np.pad(crop, r)
            crop = ndimage.grey_dilation(pad, footprint=disk(r))
    elif width > THICK_STROKE and scale < 1:
        r = int(round((width - THICK_STROKE) / scale / 2))
        if r >= 1:
            crop = ndimage.grey_erosion(crop, footprint=disk(r))
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS))
    small = np.clip(small, 0, None)
    if small.max() > 0:
        small = np.clip(small / small.max(), 0, 1)
    field = np.zeros((FIELD, FIELD), np.float32)
    cy, cx = ndimage.center_of_mass(small) if small.sum() > 0 else (small.shape[0] / 2, small.shape[1] / 2)
    top = int(np.clip(round(FIELD / 2 - cy), 0, FIELD - small.shape[0]))
    left = int(np.clip(round(FIELD / 2 - cx), 0, FIELD - small.shape[1]))
    field[top:top + small.shape[0], left:left + small.shape[1]] = small
    return field


def disk(r: int) -> np.ndarray:
    """A round footprint of radius r pixels, for growing or shrinking strokes."""
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r


def preprocess(image: str | os.PathLike | bytes | Image.Image | np.ndarray) -> np.ndarray:
    """One digit, any image -> (28, 28) float32 MNIST-like (white ink on black, [0, 1])."""
    img = _as_image(image)
    ink, mask = clean(ink_map(img))
    return fit_to_field(ink, mask)


def _as_image(image) -> Image.Image:
    if isinstance(image, np.ndarray):
        arr = image.astype(np.float32)
        if arr.ndim == 3:
            arr = arr.mean(-1)
        if arr.ndim != 2 or 0 in arr.shape:
            raise ImageError(f"array of shape {image.shape} is not an image")
        if arr.max() > 1.0:
            arr = arr / 255.0
        return Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8), mode="L")
    return open_image(image)


# ---------------------------------------------------------------- several digits in a row

@dataclass(frozen=True)
class DigitBox:
    x0: int
    x1: int
    y0: int
    y1: int


def segment(mask: np.ndarray) -> list[DigitBox]:
    """Left-to-right boxes of the digits in a row of ink.

    Connected components, then: pieces that share most of their columns are one digit (a broken
    stroke, the bar of a 5); a component much wider than the typical digit is cut at the columns
    with least ink (touching digits).
    """
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    boxes = [DigitBox(s[1].start, s[1].stop, s[0].start, s[0].stop) for s in ndimage.find_objects(labels) if s]
    boxes.sort(key=lambda b: b.x0)
    merged: list[DigitBox] = []
    for b in boxes:
        if merged:
            m = merged[-1]
            overlap = min(m.x1, b.x1) - max(m.x0, b.x0)
            if overlap > 0.5 * min(m.x1 - m.x0, b.x1 - b.x0):
                merged[-1] = DigitBox(min(m.x0, b.x0), max(m.x1, b.x1), min(m.y0, b.y0), max(m.y1, b.y1))
                continue
        merged.append(b)
    if not merged:
        return []
    height = float(np.median([b.y1 - b.y0 for b in merged]))
    out: list[DigitBox] = []
    for b in merged:
        width = b.x1 - b.x0
        if width > TOUCHING_RATIO * height:
            out += _cut(mask, b, max(2, int(round(width / (DIGIT_ASPECT * height)))))
        else:
            out.append(b)
    return out


def _cut(mask: np.ndarray, b: DigitBox, k: int) -> list[DigitBox]:
    """Cut a box into k parts at the columns with least ink near the even split points."""
    cols = mask[b.y0:b.y1, b.x0:b.x1].sum(0).astype(float)
    width = len(cols)
    cuts = []
    for j in range(1, k):
        centre = width * j // k
        lo, hi = max(1, centre - width // (3 * k)), min(width - 1, centre + width // (3 * k) + 1)
        cuts.append(lo + int(np.argmin(cols[lo:hi])) if hi > lo else centre)
    edges = [0, *cuts, width]
    parts = []
    for a, z in zip(edges, edges[1:]):
        rows = np.nonzero(mask[b.y0:b.y1, b.x0 + a:b.x0 + z].any(1))[0]
        if len(rows):
            parts.append(DigitBox(b.x0 + a, b.x0 + z, b.y0 + rows[0], b.y0 + rows[-1] + 1))
    return parts


def split_digits(image: str | os.PathLike | bytes | Image.Image | np.ndarray) -> list[np.ndarray]:
    """A row of handwritten digits (a number) -> one MNIST-like 28×28 array per digit, left to right."""
    ink, mask = clean(ink_map(_as_image(image)))
    digits = []
    for b in segment(mask):
        sub = np.zeros_like(mask)
        sub[b.y0:b.y1, b.x0:b.x1] = mask[b.y0:b.y1, b.x0:b.x1]
        if sub.any():
            digits.append(fit_to_field(ink * ndimage.binary_dilation(sub, iterations=2), sub))
    if not digits:
        raise BlankImageError("blank image: no digits found")
    return digits


def naive_resize(image: str | os.PathLike | bytes | Image.Image | np.ndarray) -> np.ndarray:
    """What most MNIST demos do: grayscale, resize to 28×28, invert if light. For comparison only."""
    img = _as_image(image).convert("L").resize((FIELD, FIELD), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return 1.0 - arr if arr.mean() > 0.5 else arr
