"""Evaluation sets that are not MNIST: handwriting and non-digits the model was never trained on.

Every builder is pure and deterministic (a seeded numpy Generator) and returns raw images as a user
would hand them to `Predictor.predict` (uint8 numpy arrays, grey (H, W) or RGB (H, W, 3), of
realistic size and either polarity; never already MNIST-normalised, never 28×28) with their labels:

    from lenet5 import evalsets
    images, labels = evalsets.sklearn_digits()            # 1,797 real handwritten digits
    images, labels = evalsets.pen_digits(1000, seed=0)
    images, labels = evalsets.form_digits(1000, seed=0)
    images, labels = evalsets.paper_photos(500, seed=0, data_dir="../shared/data")
    images, categories = evalsets.non_digits(600, seed=0, data_dir="../shared/data")
    images, kinds = evalsets.doodles(220, seed=0)
    for name, s in evalsets.SETS.items(): images, labels = s.build(seed=0, data_dir=...)

The sets and how they differ from MNIST:

- `sklearn_digits`: scikit-learn's `load_digits`, 1,797 digits written by 43 other people (UCI
  "optdigits"), only 8×8 with 17 grey levels, so blocky and thick; upscaled smoothly to 32–96 px,
  a third dark on light. Other writers, other scanning, other normalisation than MNIST.
- `pen_digits`: a pen-stroke simulator. Each digit is drawn as strokes in a unit box, in several
  styles per digit (1 plain or with a long flag and a base, open and closed 4, plain, hooked and
  crossed 7, round and flat-topped 3, 9 with straight or curved tail, 2 with and without a loop,
  ...), with slant, rotation, aspect (a quarter stretched to fill a square box, as some forms do),
  smooth wobble, pen width, anti-aliased at 40–200 px, dark on light or light on dark. No MNIST
  pixel is involved.
- `form_digits`: pen digits as some forms and their scanners keep them: each stretched to fill a
  16×16 box in both directions (a 1 with a flag becomes a slanted bar with a flag), 1-bit.
- `paper_photos`: RGB photos of a digit on paper (half MNIST *test* digits, half pen digits), made
  independently of `lenet5.synth`: coloured paper, blue/black/pencil ink, ruled or squared paper,
  uneven lighting and a soft shadow, paper grain, perspective, camera blur, JPEG, 200–1500 px,
  digit off-centre and of varying size.
- `non_digits`: what is not a digit, in 8 categories of equal size: `letters` (system fonts and
  pen-drawn, without those a person would read as a digit), `symbols`, `scribbles`, `dots`,
  `lines` (horizontal or at least 45° from vertical, straight or wavy), `shapes` (no circles or
  ellipses: those read as 0), `clothing` (Fashion-MNIST *test*, upscaled, either polarity) and
  `noise`.
- `doodles`: what people draw to try a digit reader (a face, a sun, a house, a stick figure, a tick,
  a flower, a car, a boat, an umbrella, an eye, a snail), pen-drawn; the first six are kinds the
  training's non-digits also have (made there by other code), the last five are not.

These sets share no code with the training side of the package, on purpose: a model is measured on
data its training generator never made.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SUPERSAMPLE = 4  # strokes are drawn this many times larger, then shrunk: anti-aliased edges
CATEGORIES = ("letters", "symbols", "scribbles", "dots", "lines", "shapes", "clothing", "noise")
# Letters a person would not read as a digit (no O o Q D I l i j S s Z z B b G g q).
LETTERS = "ACEFHJKLMNPRTUVWXY" + "acdefhkmnprtuvwxy"
SYMBOLS = "#@%&*+=?!$€§~<>^£¥©®±×÷∞√Ω¶π"  # no / | \ - . , ( ) [ ]: lone lines and dots

Images = list  # of uint8 numpy arrays (H, W) or (H, W, 3)


# ---------------------------------------------------------------- stroke geometry (unit box, y down)

def _line(*pts: tuple[float, float], step: float = 0.02) -> np.ndarray:
    """A polyline through pts, densified so that wobble bends it smoothly."""
    out = []
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        n = max(2, int(math.hypot(x1 - x0, y1 - y0) / step))
        t = np.linspace(0, 1, n, endpoint=False)[:, None]
        out.append(np.array([x0, y0]) * (1 - t) + np.array([x1, y1]) * t)
    out.append(np.array([pts[-1]], float))
    return np.concatenate(out)


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> np.ndarray:
    """An elliptic arc from angle a0 to a1 (degrees, counter-clockwise as on paper: 90 is the top)."""
    n = max(8, int(abs(a1 - a0) / 6))
    a = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(a), cy - ry * np.sin(a)], 1)


def _bezier(*pts: tuple[float, float], n: int = 30) -> np.ndarray:
    """A Bézier curve with the given control points (de Casteljau)."""
    t = np.linspace(0, 1, n)[:, None]
    p = [np.array(q, float) for q in pts]
    while len(p) > 1:
        p = [a * (1 - t) + b * t for a, b in zip(p, p[1:])]
    return p[0]


def _cat(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts)


def _gerono(w: float = 0.6) -> np.ndarray:
    """A figure eight in one stroke (Gerono's lemniscate stood upright)."""
    t = np.linspace(0, 2 * np.pi, 90)
    return np.stack([0.5 + w * np.sin(t) * np.cos(t), 0.5 - 0.5 * np.cos(t)], 1)


_HEAD = _arc(0.5, 0.3, 0.3, 0.28, -10, 350)  # the loop of a 9
_LOOP6 = _arc(0.48, 0.72, 0.3, 0.27, 180, 540)  # the loop of a 6
_BOWL5 = _arc(0.47, 0.68, 0.33, 0.3, 140, -150)  # the bowl of a 5
_TOP2 = _arc(0.5, 0.27, 0.32, 0.27, 160, -30)  # the hook of a 2 / ?

# Each digit: styles, each a list of strokes (arrays of (x, y) in a unit box, y down).
DIGIT_STYLES: dict[int, list[list[np.ndarray]]] = {
    0: [[_arc(0.5, 0.5, 0.32, 0.5, 100, 470)], [_arc(0.5, 0.5, 0.22, 0.5, 80, -300)]],
    1: [[_line((0.5, 0), (0.5, 1))],
        [_line((0.22, 0.32), (0.55, 0), (0.55, 1))],                                   # long flag
        [_line((0.25, 0.3), (0.55, 0), (0.55, 1)), _line((0.3, 1), (0.8, 1))]],       # flag and base
    2: [[_cat(_TOP2, _line((0.78, 0.4), (0.12, 1), (0.9, 1)))],
        [_cat(_TOP2, _line((0.78, 0.4), (0.2, 0.93)), _arc(0.22, 0.87, 0.09, 0.08, 240, -60),
              _line((0.2, 0.95), (0.9, 0.97)))],                                       # loop at the base
        [_cat(_bezier((0.12, 0.2), (0.5, -0.15), (1.0, 0.2), (0.1, 1.0)), _line((0.1, 1), (0.9, 0.98)))]],
    3: [[_cat(_arc(0.47, 0.25, 0.3, 0.23, 150, -90), _arc(0.47, 0.7, 0.33, 0.28, 90, -150))],
        [_cat(_line((0.15, 0), (0.85, 0), (0.45, 0.4)), _arc(0.45, 0.68, 0.36, 0.28, 90, -150))]],
    4: [[_line((0.7, 1), (0.7, 0), (0.1, 0.68), (0.92, 0.68))],                        # closed
        [_line((0.2, 0), (0.12, 0.62), (0.9, 0.62)), _line((0.68, 0.2), (0.68, 1))]],  # open
    5: [[_cat(_line((0.8, 0), (0.25, 0), (0.2, 0.42)), _BOWL5)],
        [_cat(_line((0.22, 0), (0.2, 0.45)), _BOWL5), _line((0.22, 0), (0.85, 0.02))]],
    6: [[_cat(_bezier((0.72, 0), (0.15, 0.2), (0.18, 0.72)), _LOOP6)],
        [_cat(_line((0.65, 0), (0.19, 0.68)), _LOOP6)]],
    7: [[_line((0.1, 0), (0.9, 0), (0.4, 1))],
        [_line((0.1, 0), (0.9, 0), (0.42, 1)), _line((0.33, 0.52), (0.85, 0.5))],     # crossed
        [_line((0.1, 0.18), (0.1, 0), (0.9, 0), (0.45, 1))]],                          # hooked
    8: [[_gerono(0.6)],
        [_arc(0.5, 0.24, 0.24, 0.24, 270, 630), _arc(0.5, 0.73, 0.32, 0.27, 90, 450)]],
    9: [[_cat(_HEAD, _line((0.8, 0.35), (0.76, 1)))],
        [_cat(_HEAD, _bezier((0.8, 0.35), (0.82, 1.0), (0.25, 0.98)))],
        [_cat(_HEAD, _line((0.8, 0.35), (0.55, 1)))]],
}

# A few letters and symbols by hand, for the non-digit set.
PEN_GLYPHS: dict[str, list[np.ndarray]] = {
    "A": [_line((0.1, 1), (0.5, 0), (0.9, 1)), _line((0.27, 0.6), (0.73, 0.6))],
    "E": [_line((0.85, 0), (0.15, 0), (0.15, 1), (0.85, 1)), _line((0.15, 0.5), (0.7, 0.5))],
    "F": [_line((0.85, 0), (0.15, 0), (0.15, 1)), _line((0.15, 0.48), (0.7, 0.48))],
    "H": [_line((0.15, 0), (0.15, 1)), _line((0.85, 0), (0.85, 1)), _line((0.15, 0.5), (0.85, 0.5))],
    "K": [_line((0.15, 0), (0.15, 1)), _line((0.85, 0), (0.15, 0.55), (0.85, 1))],
    "M": [_line((0.05, 1), (0.15, 0), (0.5, 0.7), (0.85, 0), (0.95, 1))],
    "N": [_line((0.15, 1), (0.15, 0), (0.85, 1), (0.85, 0))],
    "R": [_cat(_line((0.15, 1), (0.15, 0)), _arc(0.45, 0.25, 0.35, 0.25, 90, -90), _line((0.15, 0.5), (0.85, 1)))],
    "W": [_line((0.0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1.0, 0))],
    "X": [_line((0.1, 0), (0.9, 1)), _line((0.9, 0), (0.1, 1))],
    "Y": [_line((0.1, 0), (0.5, 0.5), (0.9, 0)), _line((0.5, 0.5), (0.5, 1))],
    "e": [_cat(_line((0.15, 0.55), (0.85, 0.55)), _arc(0.5, 0.55, 0.35, 0.4, 10, 320))],
    "h": [_line((0.2, 0), (0.2, 1)), _cat(_arc(0.5, 0.55, 0.3, 0.2, 180, 0), _line((0.8, 0.55), (0.8, 1)))],
    "m": [_cat(_line((0.1, 1), (0.1, 0.3)), _arc(0.3, 0.45, 0.2, 0.15, 180, 0), _line((0.5, 0.45), (0.5, 1))),
          _cat(_arc(0.7, 0.45, 0.2, 0.15, 180, 0), _line((0.9, 0.45), (0.9, 1)))],
    "n": [_cat(_line((0.2, 1), (0.2, 0.2)), _arc(0.5, 0.4, 0.3, 0.25, 180, 0), _line((0.8, 0.4), (0.8, 1)))],
    "r": [_line((0.3, 1), (0.3, 0.2)), _arc(0.6, 0.5, 0.3, 0.3, 180, 60)],
    "u": [_cat(_line((0.2, 0), (0.2, 0.65)), _arc(0.5, 0.65, 0.3, 0.35, 180, 360), _line((0.8, 0.65), (0.8, 0)),
               _line((0.8, 0), (0.85, 1)))],
    "v": [_line((0.1, 0), (0.5, 1), (0.9, 0))],
    "w": [_line((0.0, 0), (0.25, 1), (0.5, 0.2), (0.75, 1), (1.0, 0))],
    "+": [_line((0.5, 0.05), (0.5, 0.95)), _line((0.05, 0.5), (0.95, 0.5))],
    "=": [_line((0.05, 0.35), (0.95, 0.35)), _line((0.05, 0.65), (0.95, 0.65))],
    "#": [_line((0.35, 0), (0.25, 1)), _line((0.75, 0), (0.65, 1)),
          _line((0.05, 0.33), (0.95, 0.33)), _line((0.05, 0.67), (0.95, 0.67))],
    "<": [_line((0.9, 0.1), (0.1, 0.5), (0.9, 0.9))],
    ">": [_line((0.1, 0.1), (0.9, 0.5), (0.1, 0.9))],
    "?": [_cat(_TOP2, _line((0.75, 0.42), (0.5, 0.6), (0.5, 0.8))), _arc(0.5, 0.97, 0.03, 0.03, 0, 360)],
    "!": [_line((0.5, 0), (0.5, 0.75)), _arc(0.5, 0.97, 0.03, 0.03, 0, 360)],
    "*": [_line((0.5, 0), (0.5, 1)), _line((0.08, 0.25), (0.92, 0.75)), _line((0.92, 0.25), (0.08, 0.75))],
    "~": [_bezier((0.0, 0.6), (0.3, 0.1), (0.7, 0.9), (1.0, 0.4))],
    "^": [_line((0.1, 0.8), (0.5, 0.2), (0.9, 0.8))],
    "&": [_cat(_line((0.9, 1), (0.3, 0.35)), _arc(0.45, 0.2, 0.18, 0.2, 200, -60),
               _line((0.5, 0.38), (0.2, 0.6)), _arc(0.4, 0.78, 0.25, 0.22, 150, 330), _line((0.6, 0.92), (0.9, 0.6)))],
}


# ---------------------------------------------------------------- pen simulator: strokes -> pixels

def _wobble(strokes: list[np.ndarray], rng: np.random.Generator, amount: float) -> list[np.ndarray]:
    """A hand's unsteadiness: one smooth random displacement field plus small jitter along each stroke."""
    k = rng.normal(0, 2.5, (3, 2))
    phase, amp = rng.uniform(0, 2 * np.pi, (3, 2)), rng.normal(0, amount, (3, 2)) / 2
    out = []
    for s in strokes:
        field = np.stack([sum(amp[i, d] * np.sin(s @ k[i] + phase[i, d]) for i in range(3)) for d in range(2)], 1)
        jitter = rng.normal(0, amount * 0.3, s.shape)
        kernel = np.ones(5) / 5  # smoothed along the stroke: jitter, not sawtooth
        jitter = np.stack([np.convolve(np.pad(jitter[:, d], 2, mode="edge"), kernel, "valid") for d in range(2)], 1)
        out.append(s + field + jitter)
    return out


def _pose(strokes: list[np.ndarray], aspect: float, slant: float, rotate_deg: float, fill_box: bool) -> list[np.ndarray]:
    """Aspect (or stretched to fill a square box), slant (shear), then a small rotation."""
    pts = np.concatenate(strokes)
    lo, hi = pts.min(0), pts.max(0)
    size = np.maximum(hi - lo, 1e-3)
    if fill_box:  # each glyph stretched to its box in both directions (a form's digit cells)
        scale = np.array([1 / size[0] if size[0] > 0.15 else 1.0, 1 / size[1]])
    else:
        scale = np.array([aspect, 1.0]) / size[1]
    a = math.radians(rotate_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    out = []
    for s in strokes:
        q = (s - lo) * scale
        q[:, 0] += slant * (1.0 - q[:, 1])  # the top leans right for slant > 0
        out.append(q @ rot.T)
    return out


def _render(strokes: list[np.ndarray], rng: np.random.Generator, side: int, pen: float,
            margin: float, polygons: bool = False) -> np.ndarray:
    """Strokes (any units) -> float ink (side', side'') in [0, 1], anti-aliased, the glyph placed off-centre.

    `pen` is the stroke width as a share of the glyph's larger extent; `margin` the paper around it."""
    pts = np.concatenate(strokes)
    lo, hi = pts.min(0), pts.max(0)
    extent = float(max(hi - lo)) or 1.0
    scale = side * (1 - 2 * margin) / extent * SUPERSAMPLE
    w = int(math.ceil((hi[0] - lo[0]) * scale + 2 * margin * side * SUPERSAMPLE)) + 1
    h = int(math.ceil((hi[1] - lo[1]) * scale + 2 * margin * side * SUPERSAMPLE)) + 1
    w, h = max(w, side * SUPERSAMPLE // 3), max(h, side * SUPERSAMPLE // 3)
    off = np.array([rng.uniform(0.3, 1.7), rng.uniform(0.3, 1.7)]) * margin * side * SUPERSAMPLE
    img = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(img)
    width = max(SUPERSAMPLE, int(round(pen * extent * scale)))
    for s in strokes:
        xy = [tuple(p) for p in ((s - lo) * scale + off)]
        if polygons and len(xy) > 2:
            d.polygon(xy, fill=255)
        elif len(xy) == 1 or np.ptp(s, 0).max() * scale < width:  # a dot
            (x, y), r = xy[0], width / 2
            d.ellipse([x - r, y - r, x + r, y + r], fill=255)
        else:
            d.line(xy, fill=255, width=width, joint="curve")
            for x, y in (xy[0], xy[-1]):  # round pen tips
                d.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=255)
    small = img.resize((max(1, w // SUPERSAMPLE), max(1, h // SUPERSAMPLE)), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255.0


def _on_plain_paper(ink: np.ndarray, rng: np.random.Generator, dark_paper: bool | None = None) -> np.ndarray:
    """Float ink -> uint8 grey image: light paper and dark ink, or (a quarter) a light pen on a dark board."""
    dark = rng.random() < 0.25 if dark_paper is None else dark_paper
    paper, pen = (rng.uniform(0.0, 0.25), rng.uniform(0.75, 1.0)) if dark else \
        (rng.uniform(0.75, 1.0), rng.uniform(0.0, 0.3))
    grey = paper + (pen - paper) * ink + rng.normal(0, rng.uniform(0, 0.03), ink.shape)
    return (np.clip(grey, 0, 1) * 255).round().astype(np.uint8)


def _draw(strokes: list[np.ndarray], rng: np.random.Generator, fill_box_p: float = 0.25,
          polygons: bool = False, aspect: tuple[float, float] = (0.5, 1.0)) -> np.ndarray:
    """One glyph in a random hand, as float ink of 40–200 px; aspect: width / height range."""
    fill = rng.random() < fill_box_p
    posed = _pose(_wobble(strokes, rng, rng.uniform(0.005, 0.035)), aspect=rng.uniform(*aspect),
                  slant=rng.uniform(-0.15, 0.45), rotate_deg=rng.uniform(-8, 8), fill_box=fill)
    side = int(np.exp(rng.uniform(np.log(40), np.log(200))))
    return _render(posed, rng, side, pen=rng.uniform(0.05, 0.16), margin=rng.uniform(0.08, 0.3),
                   polygons=polygons)


def pen_digit_ink(label: int, rng: np.random.Generator) -> np.ndarray:
    """One digit in a random style and hand, as float ink (white on black) of 40–200 px."""
    styles = DIGIT_STYLES[label]
    return _draw(styles[int(rng.integers(len(styles)))], rng)


def pen_digits(n: int = 1000, seed: int = 0) -> tuple[Images, np.ndarray]:
    """n digits from the pen simulator (labels 0–9 in turn), grey uint8, either polarity."""
    rng = np.random.default_rng([seed, 2])
    labels = np.arange(n) % 10
    return [_on_plain_paper(pen_digit_ink(int(y), rng), rng) for y in labels], labels


FORM_CELL = 16  # px: the box each digit of a form is stretched to fill, then scanned at 1 bit


def form_digits(n: int = 1000, seed: int = 0) -> tuple[Images, np.ndarray]:
    """n pen-simulator digits as a form scanner saves them: the ink stretched to fill a 16×16 box
    in both directions (a 1 becomes a slanted bar), then thresholded to black and white."""
    rng = np.random.default_rng([seed, 6])
    labels = np.arange(n) % 10
    return [_form_cell(pen_digit_ink(int(y), rng), rng) for y in labels], labels


def _form_cell(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.nonzero(ink > 0.5 * ink.max())
    crop = Image.fromarray((ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1] * 255).astype(np.uint8))
    cell = np.asarray(crop.resize((FORM_CELL, FORM_CELL), Image.Resampling.BOX), np.float32)
    black = cell > rng.uniform(0.3, 0.6) * cell.max()
    return np.where(black, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- scikit-learn's digits

def sklearn_digits(seed: int = 0) -> tuple[Images, np.ndarray]:
    """All 1,797 digits of sklearn.datasets.load_digits, upscaled smoothly to 32–96 px, a third
    dark on light."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the sklearn-digits set needs scikit-learn: pip install scikit-learn") from None
    d = load_digits()
    rng = np.random.default_rng([seed, 1])
    images = []
    for im in d.images:  # (8, 8), 0–16, ink high
        side = int(rng.integers(32, 97))
        method = Image.Resampling.BICUBIC if rng.random() < 0.5 else Image.Resampling.BILINEAR
        big = np.asarray(Image.fromarray((im * (255 / 16)).astype(np.float32), "F").resize((side, side), method))
        big = np.clip(big, 0, 255)
        images.append((255 - big if rng.random() < 1 / 3 else big).round().astype(np.uint8))
    return images, d.target.astype(np.int64)


# ---------------------------------------------------------------- paper photos

PAPERS = [(250, 250, 245), (245, 238, 215), (250, 245, 200), (225, 235, 245), (215, 215, 210), (240, 225, 225)]
PHOTO_WORK = 320  # px: the largest side a photo is composed at before being enlarged to its size
INKS = [(25, 45, 150), (35, 35, 110), (20, 20, 25), (60, 60, 65), (90, 90, 95), (120, 25, 30)]  # blue, black, pencil, red


def _mnist_ink(digit: np.ndarray, rng: np.random.Generator, height: int) -> np.ndarray:
    """An MNIST digit cropped to its ink and scaled (bilinear, from float) so that it is `height` px tall."""
    rows, cols = np.nonzero(digit.max(1) > 30)[0], np.nonzero(digit.max(0) > 30)[0]
    crop = digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32) / 255
    s = height / crop.shape[0]
    img = Image.fromarray(crop, "F").resize((max(2, round(crop.shape[1] * s)), height), Image.Resampling.BILINEAR)
    ink = np.clip(np.asarray(img), 0, 1)
    return np.clip((ink - 0.15) * 1.6, 0, 1)  # steeper edges: a pen line, not an upscaled blur


def _paper(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(h, w, 3) float paper (colour, grain, sometimes ruled or squared lines) and its plain colour."""
    base = np.array(PAPERS[int(rng.integers(len(PAPERS)))], np.float32) / 255
    grain = np.asarray(Image.fromarray(rng.normal(0, 1, (max(2, h // 4), max(2, w // 4))).astype(np.float32), "F")
                       .resize((w, h), Image.Resampling.BILINEAR))
    paper = base * (1 + rng.uniform(0.005, 0.03) * grain[..., None])
    kind, pitch = rng.choice(["plain", "ruled", "squared"], p=[0.6, 0.25, 0.15]), rng.uniform(0.07, 0.16) * min(h, w)
    if kind != "plain":
        colour = np.array([0.55, 0.7, 0.9], np.float32) if rng.random() < 0.7 else np.array([0.6, 0.6, 0.6], np.float32)
        strength, off = rng.uniform(0.15, 0.45), rng.uniform(0, pitch)
        lines = np.zeros((h, w), np.float32)
        ys = np.arange(h)
        lines[(np.abs((ys - off) % pitch) < max(1.0, h / 500))] = 1
        if kind == "squared":
            xs = np.arange(w)
            lines[:, (np.abs((xs - off) % pitch) < max(1.0, w / 500))] = 1
        paper = paper * (1 - strength * lines[..., None] * (1 - colour))
    return paper, base


def _lighting(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(h, w) multiplicative light: a linear gradient, a vignette, and sometimes a soft shadow."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / h - 0.5, xx / w - 0.5
    a = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0.03, 0.2) * (np.cos(a) * xx + np.sin(a) * yy) - rng.uniform(0, 0.25) * (xx ** 2 + yy ** 2)
    if rng.random() < 0.5:  # the shadow of a hand or phone: a half-plane with a very soft edge
        b, c = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.5)
        edge = (np.cos(b) * xx + np.sin(b) * yy - c) / rng.uniform(0.05, 0.2)
        light = light * (1 - rng.uniform(0.1, 0.35) / (1 + np.exp(-edge)))
    return light * rng.uniform(0.8, 1.05)


def _perspective(img: Image.Image, rng: np.random.Generator, fill: tuple[int, ...]) -> Image.Image:
    """A slight camera tilt: each corner moved by up to 6% of the side; what comes into view is `fill`."""
    w, h = img.size
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    dst = src + rng.uniform(-0.06, 0.06, (4, 2)) * [w, h]
    # PIL maps output (x, y) to input: solve for the 8 coefficients from dst -> src
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    coeffs = np.linalg.solve(np.array(rows), np.array(rhs))
    return img.transform((w, h), Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BILINEAR,
                         fillcolor=fill)


def _photo(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Float ink (h, w) -> an RGB uint8 camera photo of it written on a sheet of paper, 200–1500 px.

    Composed at no more than PHOTO_WORK px and then enlarged, as a phone's soft optics would: fast."""
    side = int(np.exp(rng.uniform(np.log(200), np.log(1500))))
    h, w = side, int(side * rng.uniform(0.75, 1.33))
    f = min(1.0, PHOTO_WORK / max(h, w))
    hw, ww = max(8, round(h * f)), max(8, round(w * f))
    scale = rng.uniform(0.25, 0.7) * min(hw, ww) / max(ink.shape)  # the digit's share of the photo
    img = Image.fromarray(ink.astype(np.float32), "F")
    ink = np.clip(np.asarray(img.resize((max(2, round(ink.shape[1] * scale)), max(2, round(ink.shape[0] * scale))),
                                        Image.Resampling.BILINEAR)), 0, 1)
    y, x = int(rng.integers(0, hw - ink.shape[0] + 1)), int(rng.integers(0, ww - ink.shape[1] + 1))  # off-centre
    cover = np.zeros((hw, ww), np.float32)
    cover[y:y + ink.shape[0], x:x + ink.shape[1]] = ink * rng.uniform(0.75, 1.0)
    pen = np.array(INKS[int(rng.integers(len(INKS)))], np.float32) / 255
    paper, base = _paper(hw, ww, rng)
    sheet = Image.fromarray((np.clip(paper * (1 - cover[..., None]) + pen * cover[..., None], 0, 1) * 255)
                            .astype(np.uint8), "RGB")
    # tilt the sheet, then light it: the light falls on the scene, not on the sheet's own pixels
    rgb = np.asarray(_perspective(sheet, rng, tuple(int(v * 255) for v in base)), np.float32) / 255
    noise = rng.normal(0, rng.uniform(0.005, 0.025), (hw, ww, 1)).astype(np.float32)
    rgb = rgb * _lighting(hw, ww, rng)[..., None] + noise
    photo = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2) * max(hw, ww) / PHOTO_WORK))
    if f < 1:
        photo = photo.resize((w, h), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=int(rng.integers(30, 90)))
    return np.asarray(Image.open(buf))  # JPEG decodes to RGB


def paper_photos(n: int = 500, seed: int = 0, data_dir: str | os.PathLike | None = None) -> tuple[Images, np.ndarray]:
    """n photos of a digit on paper (labels 0–9 in turn): even ones MNIST test digits, odd ones pen digits."""
    from . import data
    x, y = data.load_arrays("mnist", "test", data_dir)
    by_label = [np.nonzero(y == k)[0] for k in range(10)]
    rng = np.random.default_rng([seed, 3])
    labels = np.arange(n) % 10
    images = []
    for i, k in enumerate(labels):
        if i % 2 == 0:
            ink = _mnist_ink(x[rng.choice(by_label[k])], rng, int(rng.integers(60, 160)))
        else:
            ink = pen_digit_ink(int(k), rng)
        images.append(_photo(ink, rng))
    return images, labels


# ---------------------------------------------------------------- non-digits

@lru_cache(maxsize=1)
def system_fonts() -> tuple[str, ...]:
    """TrueType fonts with Latin letters found on this system (matplotlib's, /usr/share/fonts), sorted."""
    import importlib.util
    roots = [Path("/usr/share/fonts"), Path.home() / ".fonts"]
    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.origin:
        roots.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    skip = ("cmex", "cmsy", "STIXSiz", "STIXNonUni", "LastResort", "MathTeX", "Symbol", "Emoji")
    found = {p.name: p for r in roots if r.is_dir() for p in r.rglob("*.ttf") if not any(s in p.name for s in skip)}
    return tuple(str(found[k]) for k in sorted(found))


def _font_glyph(ch: str, rng: np.random.Generator) -> np.ndarray | None:
    """One character in a random system font as float ink, slightly rotated, 40–200 px; None if missing."""
    fonts = system_fonts()
    if not ch.isascii() or not ch.isalpha():  # Computer Modern TTFs put other glyphs at those code points
        fonts = tuple(f for f in fonts if not Path(f).name.startswith("cm")) or fonts
    if not fonts:
        return None
    font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], size=int(rng.integers(40, 160)))
    x0, y0, x1, y1 = font.getbbox(ch)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    pad = int(max(x1 - x0, y1 - y0) * rng.uniform(0.1, 0.5)) + 2
    img = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 0)
    ImageDraw.Draw(img).text((pad - x0, pad - y0), ch, fill=255, font=font)
    img = img.rotate(rng.uniform(-10, 10), Image.Resampling.BICUBIC, expand=True)
    ink = np.asarray(img, np.float32) / 255
    return ink if ink.max() > 0.5 else None


def _glyph(chars: str, rng: np.random.Generator) -> np.ndarray:
    """A character from `chars`: half in a system font, half by pen where the pen knows it."""
    ch = chars[int(rng.integers(len(chars)))]
    if ch in PEN_GLYPHS and (rng.random() < 0.5 or not system_fonts()):
        return _draw(PEN_GLYPHS[ch], rng, fill_box_p=0.1)
    ink = _font_glyph(ch, rng)
    if ink is None:  # no font has it: a pen-drawn character from the same list instead
        pen = [c for c in chars if c in PEN_GLYPHS]
        return _draw(PEN_GLYPHS[pen[int(rng.integers(len(pen)))]], rng, fill_box_p=0.1)
    return ink


def _scribble(rng: np.random.Generator) -> np.ndarray:
    """A random pen path with momentum (loops and zig-zags), or a patch scribbled over."""
    if rng.random() < 0.3:  # crossed-out patch: fast back-and-forth strokes
        k = int(rng.integers(5, 14))
        xs = np.linspace(0, 1, k) + rng.normal(0, 0.03, k)
        ys = np.where(np.arange(k) % 2 == 0, 0.0, 1.0) * rng.uniform(0.4, 1.0) + rng.normal(0, 0.05, k)
        path = _line(*zip(xs, ys), step=0.03)
    else:
        steps = int(rng.integers(40, 160))
        turn = np.cumsum(rng.normal(0, rng.uniform(0.2, 0.6), steps)) + rng.uniform(0, 2 * np.pi)
        path = np.cumsum(np.stack([np.cos(turn), np.sin(turn)], 1), 0)
    return _render(_wobble([path], rng, 0.01), rng, int(rng.integers(40, 200)), rng.uniform(0.015, 0.06),
                   rng.uniform(0.05, 0.2))


def _dots(rng: np.random.Generator) -> np.ndarray:
    """A lone dot (half of them) or a few dots scattered on the paper."""
    side = int(rng.integers(40, 200))
    k = 1 if rng.random() < 0.5 else int(rng.integers(2, 7))
    canvas = Image.new("L", (side * SUPERSAMPLE, side * SUPERSAMPLE), 0)
    d = ImageDraw.Draw(canvas)
    for _ in range(k):
        r = rng.uniform(0.02, 0.12) * side * SUPERSAMPLE
        x, y = rng.uniform(0.15, 0.85, 2) * side * SUPERSAMPLE
        d.ellipse([x - r, y - r * rng.uniform(0.7, 1.3), x + r, y + r], fill=255)
    return np.asarray(canvas.resize((side, side), Image.Resampling.BOX), np.float32) / 255


def _lines(rng: np.random.Generator) -> np.ndarray:
    """A lone line: straight or wavy, at least 45° from vertical (a near-vertical stroke is a 1)."""
    a = math.radians(rng.uniform(-45, 45))
    t = np.linspace(0, 1, 60)
    wave = 0.0 if rng.random() < 0.5 else rng.uniform(0.03, 0.12) * np.sin(2 * np.pi * rng.uniform(1, 4) * t
                                                                             + rng.uniform(0, 6))
    path = np.stack([t, wave * np.ones_like(t)], 1) @ np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    return _render(_wobble([path], rng, 0.005), rng, int(rng.integers(40, 200)), rng.uniform(0.02, 0.08),
                   rng.uniform(0.1, 0.3))


def _star(points: int, inner: float) -> np.ndarray:
    a = np.radians(90 + np.arange(2 * points + 1) * 180 / points)
    r = np.where(np.arange(2 * points + 1) % 2 == 0, 0.5, 0.5 * inner)
    return np.stack([0.5 + r * np.cos(a), 0.5 - r * np.sin(a)], 1)


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 80)
    return np.stack([0.5 + 0.03 * 16 * np.sin(t) ** 3,
                     0.5 - 0.03 * (13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))], 1)


def _spiral() -> np.ndarray:
    t = np.linspace(0, 6 * np.pi, 200)
    return np.stack([0.5 + 0.5 * t / t[-1] * np.cos(t), 0.5 + 0.5 * t / t[-1] * np.sin(t)], 1)


SHAPES: dict[str, list[np.ndarray]] = {
    "square": [_line((0, 0), (1, 0), (1, 1), (0, 1), (0, 0))],
    "triangle": [_line((0.5, 0), (1, 0.9), (0, 0.9), (0.5, 0))],
    "diamond": [_line((0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5), (0.5, 0))],
    "star": [_star(5, 0.4)],
    "cross": [_line((0.5, 0), (0.5, 1)), _line((0, 0.45), (1, 0.45))],
    "heart": [_heart()],
    "arrow": [_line((0, 0.5), (1, 0.5)), _line((0.7, 0.25), (1, 0.5), (0.7, 0.75))],
    "spiral": [_spiral()],
    "hatching": [_line((0.12 * i, 0), (0.12 * i + 0.3, 1)) for i in range(6)],
    "hexagon": [np.stack([0.5 + 0.5 * np.cos(np.radians(np.arange(7) * 60)),
                          0.5 + 0.5 * np.sin(np.radians(np.arange(7) * 60))], 1)],
}


def _dot(x: float, y: float) -> np.ndarray:
    return np.array([[x, y]])


def _circle(cx: float, cy: float, r: float) -> np.ndarray:
    return _arc(cx, cy, r, r, 0, 360)


# What people draw to try a digit reader: the first six are kinds `lenet5.negatives` also makes
# (drawn there by other code), the last five are not.
DOODLES: dict[str, list[np.ndarray]] = {
    "face": [_circle(0.5, 0.5, 0.5), _dot(0.33, 0.35), _dot(0.67, 0.35), _arc(0.5, 0.5, 0.28, 0.25, 200, 340)],
    "sun": [_circle(0.5, 0.5, 0.25)] + [_line((0.5 + 0.33 * math.cos(a), 0.5 + 0.33 * math.sin(a)),
                                              (0.5 + 0.5 * math.cos(a), 0.5 + 0.5 * math.sin(a)))
                                        for a in np.radians(np.arange(0, 360, 45) + 10)],
    "house": [_line((0.1, 0.45), (0.1, 1), (0.9, 1), (0.9, 0.45), (0.1, 0.45), (0.5, 0), (0.9, 0.45)),
              _line((0.4, 1), (0.4, 0.7), (0.6, 0.7), (0.6, 1))],
    "stick figure": [_circle(0.5, 0.15, 0.15), _line((0.5, 0.3), (0.5, 0.65)), _line((0.2, 0.45), (0.8, 0.45)),
                     _line((0.25, 1), (0.5, 0.65), (0.75, 1))],
    "tick": [_line((0, 0.6), (0.3, 1), (1, 0))],
    "flower": [_circle(0.5 + 0.3 * math.cos(a), 0.5 + 0.3 * math.sin(a), 0.18) for a in np.radians(np.arange(0, 360, 60))]
              + [_dot(0.5, 0.5)],
    "car": [_line((0, 0.7), (0, 0.45), (0.25, 0.45), (0.35, 0.2), (0.7, 0.2), (0.8, 0.45), (1, 0.45), (1, 0.7), (0, 0.7)),
            _circle(0.25, 0.75, 0.1), _circle(0.75, 0.75, 0.1)],
    "boat": [_line((0, 0.7), (1, 0.7), (0.8, 0.95), (0.2, 0.95), (0, 0.7)), _line((0.5, 0.7), (0.5, 0)),
             _line((0.5, 0.05), (0.85, 0.6), (0.5, 0.6))],
    "umbrella": [_arc(0.5, 0.45, 0.5, 0.4, 0, 180), _line((0, 0.45), (1, 0.45)), _line((0.5, 0.45), (0.5, 0.9)),
                 _arc(0.6, 0.9, 0.1, 0.1, 180, 360)],
    "eye": [_arc(0.5, 0.8, 0.6, 0.5, 35, 145), _arc(0.5, 0.2, 0.6, 0.5, 215, 325), _circle(0.5, 0.5, 0.14)],
    "snail": [_spiral() * 0.6 + [0.1, 0.0], _line((0, 0.62), (1, 0.62)), _line((0.85, 0.62), (0.95, 0.35))],
}


def doodles(n: int = 220, seed: int = 0) -> tuple[Images, np.ndarray]:
    """n pen-drawn doodles, the kinds of DOODLES in turn; returns (images, kinds)."""
    rng = np.random.default_rng([seed, 5])
    kinds = np.array([list(DOODLES)[i % len(DOODLES)] for i in range(n)])
    return [_on_plain_paper(_draw(DOODLES[k], rng, fill_box_p=0.0, aspect=(0.8, 1.25)), rng) for k in kinds], kinds


# Hershey single-stroke fonts that lenet5.negatives never draws from: letters in hands the model never saw
PEN_LETTER_FONTS = ("cursive", "timesr", "timesi")


def pen_letters(n: int = 300, seed: int = 0, alphabet: str = LETTERS) -> tuple[Images, np.ndarray]:
    """n letters that no one reads as digits (or other characters of `alphabet`) written by the pen
    simulator, the fonts of PEN_LETTER_FONTS in turn; returns (images, fonts)."""
    from HersheyFonts import HersheyFonts
    rng = np.random.default_rng([seed, 7])
    fonts = np.array([PEN_LETTER_FONTS[i % len(PEN_LETTER_FONTS)] for i in range(n)])
    loaded = {f: HersheyFonts() for f in PEN_LETTER_FONTS}
    for name, font in loaded.items():
        font.load_default_font(name)
    images = []
    for f in fonts:
        ch = alphabet[int(rng.integers(len(alphabet)))]
        strokes = [np.array(s, float) for s in loaded[f].strokes_for_text(ch) if len(s)]
        images.append(_on_plain_paper(_draw(strokes, rng, fill_box_p=0.0, aspect=(0.6, 1.3)), rng))
    return images, fonts


def _shape(rng: np.random.Generator) -> np.ndarray:
    """An outlined shape by pen, or (a quarter of the polygons) a filled one."""
    name = list(SHAPES)[int(rng.integers(len(SHAPES)))]
    filled = name in ("square", "triangle", "diamond", "star", "heart", "hexagon") and rng.random() < 0.25
    # never narrow: a thin filled rectangle is a 1
    return _draw(SHAPES[name], rng, fill_box_p=0.1, polygons=filled, aspect=(0.75, 1.3))


def _noise(rng: np.random.Generator) -> np.ndarray:
    """A grey image of noise or texture, 40–200 px (already an image, not ink on paper)."""
    h, w = (int(v) for v in rng.integers(40, 200, 2))
    kind = int(rng.integers(6))
    if kind == 0:
        img = rng.uniform(0, 1, (h, w))
    elif kind == 1:
        img = rng.normal(0.5, rng.uniform(0.1, 0.3), (h, w))
    elif kind == 2:  # salt and pepper on a flat grey
        img = np.full((h, w), rng.uniform(0.2, 0.8))
        u = rng.random((h, w))
        p = rng.uniform(0.02, 0.2)
        img[u < p / 2], img[u > 1 - p / 2] = 0.0, 1.0
    elif kind == 3:  # smooth blobs: coarse noise blown up
        coarse = rng.uniform(0, 1, (int(rng.integers(3, 8)), int(rng.integers(3, 8))))
        img = np.asarray(Image.fromarray(coarse.astype(np.float32), "F").resize((w, h), Image.Resampling.BICUBIC))
    elif kind == 4:  # a texture: gratings, checks
        yy, xx = np.mgrid[0:h, 0:w]
        f, a = rng.uniform(0.05, 0.5), rng.uniform(0, np.pi)
        img = 0.5 + 0.5 * np.sin(f * (np.cos(a) * xx + np.sin(a) * yy))
        if rng.random() < 0.5:
            img = img * (0.5 + 0.5 * np.sin(f * (np.sin(a) * xx - np.cos(a) * yy)))
    else:  # a gradient, linear or radial
        yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
        a = rng.uniform(0, 2 * np.pi)
        img = (np.cos(a) * xx + np.sin(a) * yy) if rng.random() < 0.6 else np.hypot(xx - 0.5, yy - 0.5)
        img = (img - img.min()) / max(1e-6, np.ptp(img))
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def _clothing(fashion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A Fashion-MNIST item upscaled to 40–140 px, a third of them dark on light (on a white page)."""
    side = int(rng.integers(40, 141))
    big = np.asarray(Image.fromarray(fashion).resize((side, side), Image.Resampling.BILINEAR))
    return 255 - big if rng.random() < 1 / 3 else big


def non_digits(n: int = 600, seed: int = 0, data_dir: str | os.PathLike | None = None) -> tuple[Images, np.ndarray]:
    """n images that are no digit, the categories of CATEGORIES in turn; returns (images, categories)."""
    from . import data
    rng = np.random.default_rng([seed, 4])
    cats = np.array([CATEGORIES[i % len(CATEGORIES)] for i in range(n)])
    fashion = None
    if "clothing" in cats:
        fx, fy = data.load_arrays("fashion-mnist", "test", data_dir)
        fashion = [fx[fy == k] for k in range(10)]
    makers: dict[str, Callable[[], np.ndarray]] = {
        "letters": lambda: _on_plain_paper(_glyph(LETTERS, rng), rng),
        "symbols": lambda: _on_plain_paper(_glyph(SYMBOLS, rng), rng),
        "scribbles": lambda: _on_plain_paper(_scribble(rng), rng),
        "dots": lambda: _on_plain_paper(_dots(rng), rng),
        "lines": lambda: _on_plain_paper(_lines(rng), rng),
        "shapes": lambda: _on_plain_paper(_shape(rng), rng),
        "clothing": lambda: _clothing(fashion[int(rng.integers(10))][int(rng.integers(1000))], rng),
        "noise": lambda: _noise(rng),
    }
    return [makers[c]() for c in cats], cats


# ---------------------------------------------------------------- registry

@dataclass(frozen=True)
class EvalSet:
    kind: str  # "digits": labels are digits; "non-digits": labels are categories, every answer should be a refusal
    build: Callable[..., tuple[Images, np.ndarray]]  # (seed, data_dir) -> (images, labels)
    about: str


SETS: dict[str, EvalSet] = {
    "sklearn-digits": EvalSet("digits", lambda seed=0, data_dir=None: sklearn_digits(seed),
                              "scikit-learn load_digits: 1,797 real 8×8 handwritten digits, upscaled"),
    "pen-digits": EvalSet("digits", lambda seed=0, data_dir=None: pen_digits(1000, seed),
                          "1,000 digits from a pen-stroke simulator, several styles per digit"),
    "form-digits": EvalSet("digits", lambda seed=0, data_dir=None: form_digits(1000, seed),
                           "1,000 pen digits stretched to fill a 16×16 box, 1-bit, as forms are scanned"),
    "paper-photos": EvalSet("digits", lambda seed=0, data_dir=None: paper_photos(500, seed, data_dir),
                            "500 RGB photos of MNIST-test and pen digits on paper"),
    "non-digits": EvalSet("non-digits", lambda seed=0, data_dir=None: non_digits(600, seed, data_dir),
                          "600 non-digits: letters, symbols, scribbles, dots, lines, shapes, clothing, noise"),
    "doodles": EvalSet("non-digits", lambda seed=0, data_dir=None: doodles(220, seed),
                       "220 pen-drawn doodles: a face, a sun, a house, a stick figure, a car, a boat, ..."),
    "pen-letters": EvalSet("non-digits", lambda seed=0, data_dir=None: pen_letters(300, seed),
                           "300 letters by the pen simulator, from fonts the model never trained on"),
}
