"""Images that are not digits, made up, to teach a model to say "not a digit".

    from lenet5.negatives import bank
    x = bank(seed=0, data_dir="../shared/data")     # (N, 1, 28, 28) float32 in [0, 1]

Each kind of thing people show a digit reader that is not a digit gets a generator: letters and
symbols from the fonts on the system, letters written by a pen (Hershey's single-stroke fonts),
scribbles, dots, lone lines, geometric shapes, doodles (a face, a sun, a house...), noise and
textures, and photos of objects (Fashion-MNIST's training clothes). Every image is then passed
through `lenet5.preprocess` — exactly what a user's image goes through — so the model learns the
28×28 inputs it will really be shown. Fashion-MNIST and noise
also appear raw (a 28×28 array given directly is not preprocessed).

Left out on purpose, because a person would read them as digits: the letters O o Q D I l i j S s
Z z B b G g q, and circles or ellipses (0), near-vertical strokes (1).

The bank is deterministic for a seed and is cached under ~/.cache/lenet5 (or $XDG_CACHE_HOME), since
preprocessing its ~72,000 images takes about a minute on 2 cores.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont

VERSION = 7  # bump when a generator changes: the cache is keyed by it
# Four times the 1,500 a kind of version 4: a 30-epoch run then saw each non-digit ~8 times instead of
# ~25 and refused more of the evaluation sets' unseen non-digits (README: "Doodles, and four times the non-digits").
PER_KIND = 6000  # generated images of each kind
FASHION_RAW, FASHION_PREPROCESSED = 12000, 6000
CANVAS = 72  # pixels: the size a generated image is drawn at before preprocessing
LETTERS = "ACEFHJKLMNPRTUVWXYacdefhkmnprtuvwxy"
SYMBOLS = "#@%&*+=?!$€£¥§~<>^×÷√∞πΣΩλμ∫≠±¶©®™♪♥★✓✗→←↑↓"
FONT_DIRS = ("/usr/share/fonts",)
# Hershey's single-stroke fonts and the letters of each that no one reads as a digit. The evaluation's
# pen letters (lenet5.evalsets.PEN_LETTER_FONTS) are drawn from other fonts, so they measure letters
# in hands the model never saw.
# Symbols too: with letters alone, a hand-drawn ? went from 92% refused to 50% (read as 7, 3 or 2).
PEN_SYMBOLS = "?#%*=<>@"  # no ! (a 1 with a dot), + (a 4 or a t), $ or & (an 8 or a 5)
PEN_ALPHABETS = {**dict.fromkeys(("futural", "futuram", "rowmans", "scripts", "scriptc"), LETTERS + PEN_SYMBOLS),
                 "greek": "DLXPSYWaglmpyw"}  # Δ Λ Ξ Π Σ Ψ Ω α γ λ μ π ψ ω; no Γ: a 7


def bank(seed: int = 0, data_dir: str | os.PathLike | None = None, cache: bool = True) -> torch.Tensor:
    """Every kind of non-digit, preprocessed like a user's image: (N, 1, 28, 28) float32 in [0, 1]."""
    path = _cache_dir() / f"negatives-v{VERSION}-s{seed}.pt"
    if cache and path.is_file():
        return torch.load(path, weights_only=True)
    rng = np.random.default_rng(seed)
    drawn = [img for kind in KINDS.values() for img in kind(rng, PER_KIND)]
    arrays = _preprocess_all(drawn)
    arrays += _fashion(rng, data_dir)
    arrays += [rng.random((28, 28), dtype=np.float32) * rng.uniform(0.3, 1.0) for _ in range(500)]
    x = torch.from_numpy(np.stack(arrays).astype(np.float32)).unsqueeze(1)
    if cache:
        from .files import atomic_path
        with atomic_path(path) as tmp:
            torch.save(x, tmp)
    return x


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lenet5"


def _preprocess_all(images: list[Image.Image]) -> list[np.ndarray]:
    """Preprocess on every core; images that come out blank are dropped."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context
    ctx = get_context("fork" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=ctx) as pool:
        out = list(pool.map(_preprocess_or_none, images, chunksize=64))
    return [a for a in out if a is not None]


def _preprocess_or_none(img: Image.Image) -> np.ndarray | None:
    from .preprocess import ImageError, preprocess
    try:
        return preprocess(img)
    except ImageError:
        return None


def _fashion(rng: np.random.Generator, data_dir) -> list[np.ndarray]:
    """Photos of objects: Fashion-MNIST training clothes, raw and as a user's image would be preprocessed."""
    from .data import load_arrays
    images, _ = load_arrays("fashion-mnist", "train", data_dir)
    pick = rng.choice(len(images), FASHION_RAW + FASHION_PREPROCESSED, replace=False)
    raw = [images[i].astype(np.float32) / 255 for i in pick[:FASHION_RAW]]
    return raw + _preprocess_all([Image.fromarray(images[i]) for i in pick[FASHION_RAW:]])


# ------------------------------------------------------------------ the generators

def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("L", (CANVAS, CANVAS), 0)
    return img, ImageDraw.Draw(img)


def _drawn(draw_one: Callable[[np.random.Generator, Image.Image, ImageDraw.ImageDraw], Image.Image]
           ) -> Callable[[np.random.Generator, int], list[Image.Image]]:
    """A generator of n images, each drawn by `draw_one` on a fresh canvas, then finished."""
    def make(rng: np.random.Generator, n: int) -> list[Image.Image]:
        out = []
        for _ in range(n):
            img, draw = _canvas()
            out.append(_finish(draw_one(rng, img, draw), rng))
        return out
    return make


def _finish(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Random polarity (ink on paper or chalk on board) and a little blur, as photos and scans have."""
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return Image.eval(img, lambda v: 255 - v) if rng.random() < 0.5 else img


@lru_cache(maxsize=1)
def _fonts() -> list[str]:
    import matplotlib
    dirs = [Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf", *map(Path, FONT_DIRS)]
    found = sorted({str(p) for d in dirs if d.is_dir() for p in d.rglob("*.ttf")})
    return [f for f in found if "LastResort" not in f] or [""]


def _glyphs(alphabet: str) -> Callable[[np.random.Generator, int], list[Image.Image]]:
    def make(rng: np.random.Generator, n: int) -> list[Image.Image]:
        fonts, out = _fonts(), []
        while len(out) < n:
            ch, font_path = alphabet[rng.integers(len(alphabet))], fonts[rng.integers(len(fonts))]
            font = _font(font_path, int(rng.integers(36, 60)))
            img, draw = _canvas()
            if font_path and not _has_glyph(font, ch):
                continue
            draw.text((CANVAS / 2, CANVAS / 2), ch, fill=255, font=font, anchor="mm",
                      stroke_width=int(rng.integers(0, 3)), stroke_fill=255)
            if img.getbbox() is None:
                continue
            out.append(_finish(img.rotate(rng.uniform(-20, 20), resample=Image.BILINEAR), rng))
        return out
    return make


@lru_cache(maxsize=None)
def _font(path: str, size: int) -> ImageFont.ImageFont:
    return ImageFont.truetype(path, size) if path else ImageFont.load_default()


@lru_cache(maxsize=None)
def _has_glyph(font: ImageFont.FreeTypeFont, ch: str) -> bool:
    """False where the font would draw its 'missing glyph' box instead of the character."""
    try:
        return font.getmask(ch).getbbox() is not None and font.getmask(ch).size != font.getmask("\uffff").size
    except Exception:
        return False


def _points(rng: np.random.Generator, k: int, margin: float = 10) -> np.ndarray:
    return rng.uniform(margin, CANVAS - margin, size=(k, 2))


def _smooth(points: np.ndarray, steps: int = 12) -> list[tuple[float, float]]:
    """A Catmull-Rom curve through the points: a pen's path, not a polygon."""
    p = np.vstack([points[:1], points, points[-1:]])
    out = []
    for i in range(1, len(p) - 2):
        for t in np.linspace(0, 1, steps, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(tuple(0.5 * ((2 * p[i]) + (-p[i - 1] + p[i + 1]) * t
                                    + (2 * p[i - 1] - 5 * p[i] + 4 * p[i + 1] - p[i + 2]) * t2
                                    + (-p[i - 1] + 3 * p[i] - 3 * p[i + 1] + p[i + 2]) * t3)))
    return out + [tuple(points[-1])]


def _scribble(rng: np.random.Generator, img: Image.Image, draw: ImageDraw.ImageDraw) -> Image.Image:
    """A pen wandering through random points, drifting with a slowly turning heading, several paths
    tangled, a coiled spring of loops, or an area hatched over (crossing something out), with a fine
    to a broad pen."""
    width = int(rng.choice([1, 2, 2, 3, 4, 5, 6]))
    style = rng.choice(["wander", "drift", "drift", "tangle", "coil", "hatch"])
    if style == "drift":
        paths = [_placed(_drift(rng), rng, turn=False)]
    elif style == "wander":
        paths = [_smooth(_points(rng, int(rng.integers(6, 14))))]
    elif style == "tangle":
        paths = [_smooth(_points(rng, int(rng.integers(4, 8)))) for _ in range(int(rng.integers(2, 5)))]
    elif style == "coil":  # loops along a line, as when testing a pen: three to eight of them
        t = np.linspace(0, 2 * np.pi * rng.uniform(3, 8), 400)
        r, advance = rng.uniform(5, 12), rng.uniform(0.8, 2.0)
        pts = np.stack([advance * t + r * np.cos(t), r * rng.uniform(0.7, 1.5) * np.sin(t)], 1)
        paths = [_placed(pts, rng)]
    else:  # back-and-forth strokes over a patch, at any angle
        k = int(rng.integers(6, 16))
        pts = np.stack([np.linspace(0, 1, k) + rng.normal(0, 0.02, k), np.arange(k) % 2 + rng.normal(0, 0.06, k)], 1)
        paths = [_placed(pts * [rng.uniform(30, 55), rng.uniform(20, 50)], rng)]
    for path in paths:
        draw.line(path, fill=255, width=width, joint="curve")
    return img


def _drift(rng: np.random.Generator) -> np.ndarray:
    """A pen moving on with a heading that turns a little at each step: a wavy line, a meander, an
    idle doodle. Wander's random points rarely give these gentle open curves, and the bundled model
    read them as 1, 2, 5 or 8. Never a fairly straight, near-vertical stroke (a 1) nor a path that
    comes back to where it began (a 0)."""
    while True:
        steps = int(rng.integers(30, 160))
        heading = np.cumsum(rng.normal(0, rng.uniform(0.15, 0.6), steps)) + rng.uniform(0, 2 * np.pi)
        pts = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], 1), 0)
        chord = pts[-1] - pts[0]
        upright = abs(chord[1]) > 1.7 * abs(chord[0])  # within 30° of vertical
        one = upright and np.hypot(*chord) > 0.6 * steps
        zero = np.hypot(*chord) < 0.4 * np.ptp(pts, 0).max()
        if not (one or zero):
            return pts


def _placed(pts: np.ndarray, rng: np.random.Generator, turn: bool = True) -> list[tuple[float, float]]:
    """Points rotated by a random angle (`turn`) and scaled to fit the canvas with a margin, centred."""
    a = rng.uniform(0, 2 * np.pi) if turn else 0.0
    pts = (pts - pts.mean(0)) @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = pts * min(1.0, (CANVAS - 16) / max(np.ptp(pts, 0).max(), 1e-6))
    return [tuple(p) for p in pts + CANVAS / 2]


def _pen_letter(rng: np.random.Generator, img: Image.Image, draw: ImageDraw.ImageDraw) -> Image.Image:
    """A letter or symbol, or now and then two or three, written with a pen: a single-stroke font's strokes with
    a hand's slant, stretch, turn and wobble. Letters from the system's fonts are print; the bundled
    model trained on those alone refused only 65–75% of pen-drawn letters (README)."""
    font = list(PEN_ALPHABETS)[int(rng.integers(len(PEN_ALPHABETS)))]
    alphabet = PEN_ALPHABETS[font]
    count = 1 if rng.random() < 0.8 else int(rng.integers(2, 4))
    text = "".join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=count))
    strokes = [np.array(s, float) for s in _hershey(font).strokes_for_text(text) if len(s)]
    pts = np.concatenate(strokes)
    a = math.radians(rng.uniform(-12, 12))
    # x' = aspect·x + slant·y (y grows downwards: slant < 0 leans the top right), then a small turn
    pose = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ \
        np.array([[rng.uniform(0.7, 1.3), rng.uniform(-0.45, 0.15)], [0.0, 1.0]])
    k, phase = rng.normal(0, 0.15, (2, 2)), rng.uniform(0, 2 * np.pi, 2)
    amp = rng.uniform(0, 0.04) * np.ptp(pts, 0).max()
    posed = [(s - pts.mean(0)) @ pose.T + amp * np.sin(s @ k + phase) for s in strokes]
    lo, hi = np.concatenate(posed).min(0), np.concatenate(posed).max(0)
    scale = (CANVAS - 16) / max(float(np.max(hi - lo)), 1e-6)
    width = int(rng.choice([2, 3, 4, 5, 6, 7]))
    for q in posed:
        path = [tuple(v) for v in (q - (lo + hi) / 2) * scale + CANVAS / 2]
        if len(path) == 1:
            (x, y), r = path[0], width / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        else:
            draw.line(path, fill=255, width=width, joint="curve")
    return img


@lru_cache(maxsize=None)
def _hershey(font: str):
    from HersheyFonts import HersheyFonts
    f = HersheyFonts()
    f.load_default_font(font)
    return f


def _dot(rng: np.random.Generator, img: Image.Image, draw: ImageDraw.ImageDraw) -> Image.Image:
    for x, y in _points(rng, int(rng.choice([1, 1, 1, 2, 3, 5])), margin=14):
        rx = rng.uniform(2, 9)
        ry = rx * rng.uniform(0.7, 1.4)  # roundish: a long blob is a marker's 1
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=255)
    return img


def _line(rng: np.random.Generator, img: Image.Image, draw: ImageDraw.ImageDraw) -> Image.Image:
    """Lone lines at least 45° from vertical (a near-vertical stroke is a 1), wavy lines, zigzags, dashes."""
    angle = math.radians(rng.uniform(45, 135))  # from vertical
    length, (cx, cy) = rng.uniform(20, 60), _points(rng, 1, margin=24)[0]
    t = np.linspace(-0.5, 0.5, 40)
    wave = rng.choice([0.0, 0.0, rng.uniform(2, 8)]) * np.sin(t * rng.uniform(6, 20))
    if rng.random() < 0.2:
        wave = rng.uniform(3, 8) * np.sign(np.sin(t * rng.uniform(10, 30)))  # zigzag
    dx, dy = math.sin(angle), -math.cos(angle)
    pts = [(cx + dx * length * u - dy * w, cy + dy * length * u + dx * w) for u, w in zip(t, wave)]
    if rng.random() < 0.15:  # dashed
        for a, b in zip(pts[::4], pts[2::4]):
            draw.line([a, b], fill=255, width=int(rng.integers(2, 6)))
    else:
        draw.line(pts, fill=255, width=int(rng.integers(2, 7)), joint="curve")
    return img


def _shape(rng: np.random.Generator, img: Image.Image, draw: ImageDraw.ImageDraw) -> Image.Image:
    """Polygons, stars, crosses, arrows, spirals, hatching, grids — no circles (they read as 0)."""
    c, r = np.array([CANVAS / 2, CANVAS / 2]) + rng.uniform(-6, 6, 2), rng.uniform(14, 30)
    kind, width = int(rng.integers(7)), int(rng.integers(2, 6))
    fill = 255 if rng.random() < 0.3 else None
    if kind <= 1:  # polygon: triangle to hexagon, or a star
        k = int(rng.integers(3, 7))
        star = kind == 1
        angles = np.linspace(0, 2 * np.pi, (2 * k if star else k), endpoint=False) + rng.uniform(0, np.pi)
        radii = np.where(np.arange(len(angles)) % 2, r * 0.45, r) if star else np.full(len(angles), r)
        pts = [tuple(c + rr * np.array([math.cos(a), math.sin(a)])) for a, rr in zip(angles, radii)]
        draw.polygon(pts, outline=255, fill=fill, width=width)
    elif kind == 2:  # rectangle
        w, h = r * rng.uniform(0.6, 1.2), r * rng.uniform(0.6, 1.2)
        draw.rectangle((c[0] - w, c[1] - h, c[0] + w, c[1] + h), outline=255, fill=fill, width=width)
    elif kind == 3:  # cross: + or ×
        a = rng.uniform(0, np.pi / 2)
        for b in (a, a + np.pi / 2):
            d = r * np.array([math.cos(b), math.sin(b)])
            draw.line([tuple(c - d), tuple(c + d)], fill=255, width=width)
    elif kind == 4:  # arrow
        a = rng.uniform(0, 2 * np.pi)
        d = r * np.array([math.cos(a), math.sin(a)])
        tip = c + d
        draw.line([tuple(c - d), tuple(tip)], fill=255, width=width)
        for s in (2.6, -2.6):
            draw.line([tuple(tip), tuple(tip - 0.5 * r * np.array([math.cos(a + s / 2.6 * 0.5), math.sin(a + s / 2.6 * 0.5)]))],
                      fill=255, width=width)
    elif kind == 5:  # spiral
        t = np.linspace(0, rng.uniform(3, 6) * np.pi, 120)
        rad = r * t / t[-1]
        draw.line([tuple(c + q * np.array([math.cos(a), math.sin(a)])) for q, a in zip(rad, t)], fill=255, width=width)
    else:  # hatching or a grid
        k, a = int(rng.integers(3, 7)), rng.uniform(0, np.pi)
        for b in ((a,) if rng.random() < 0.5 else (a, a + np.pi / 2)):
            d, e = np.array([math.cos(b), math.sin(b)]), np.array([-math.sin(b), math.cos(b)])
            for off in np.linspace(-r, r, k):
                draw.line([tuple(c + e * off - d * r), tuple(c + e * off + d * r)], fill=255, width=width)
    return img.rotate(rng.uniform(-30, 30), resample=Image.BILINEAR)


def _loop(c: np.ndarray, rx: float, ry: float, rng: np.random.Generator, a0: float = 0.0,
          a1: float = 2 * np.pi, bumps: int = 0) -> list[tuple[float, float]]:
    """An arc or a closed loop as a hand draws it: radius a little uneven, `bumps` for a cloud's edge."""
    t = np.linspace(a0, a1, 12 + 2 * bumps)
    rr = 1 + rng.normal(0, 0.05, len(t)) + (0.2 * np.abs(np.sin(bumps * t / 2)) if bumps else 0)
    if a1 - a0 >= 2 * np.pi - 1e-6:
        rr[-1] = rr[0]  # closed: ends where it began
    return _smooth(np.stack([c[0] + rx * rr * np.cos(t), c[1] + ry * rr * np.sin(t)], 1), steps=4)


def _doodle(rng: np.random.Generator, img: Image.Image, draw: ImageDraw.ImageDraw) -> Image.Image:
    """What people draw to try a digit reader that is no digit: a face (the page read a smiley as 0), a
    sun, a house, a flower, a stick figure, a tick, a cloud, a fish, an envelope, a cat, a heart."""
    w, c, r = int(rng.integers(2, 6)), np.array([CANVAS / 2, CANVAS / 2]) + rng.uniform(-4, 4, 2), rng.uniform(16, 28)
    line = lambda *pts: draw.line([tuple(p) for p in pts], fill=255, width=w, joint="curve")  # noqa: E731
    dot = lambda p, q: draw.ellipse((p[0] - q, p[1] - q, p[0] + q, p[1] + q), fill=255)  # noqa: E731
    kind = rng.choice(["face", "face", "sun", "house", "flower", "stick", "tick", "cloud", "fish", "envelope",
                       "cat", "heart"])
    if kind in ("face", "cat"):
        if kind == "cat" or rng.random() < 0.85:  # a face with no outline is eyes and a mouth alone
            line(*_loop(c, r, r * rng.uniform(0.85, 1.15), rng))
        for s in (-1, 1):
            eye = c + [s * 0.38 * r, -0.25 * r]
            dot(eye, rng.uniform(0.07, 0.15) * r) if rng.random() < 0.7 else line(eye - [0, 0.12 * r], eye + [0, 0.12 * r])
            if kind == "cat":
                line(c + [s * 0.85 * r, -0.5 * r], c + [s * 0.75 * r, -1.25 * r], c + [s * 0.25 * r, -0.95 * r])
                line(c + [s * 0.3 * r, 0.2 * r], c + [s * 1.1 * r, 0.1 * r])  # whiskers
        smile = rng.random() < 0.8
        mouth_c = c + [0, (0.05 if smile else 0.6) * r]
        line(*_loop(mouth_c, 0.5 * r, 0.35 * r, rng, *((0.2, np.pi - 0.2) if smile else (np.pi + 0.3, 2 * np.pi - 0.3))))
    elif kind == "sun":
        line(*_loop(c, 0.5 * r, 0.5 * r, rng))
        for a in np.linspace(0, 2 * np.pi, int(rng.integers(7, 13)), endpoint=False) + rng.uniform(0, 1):
            u = np.array([np.cos(a), np.sin(a)])
            line(c + 0.7 * r * u, c + 1.1 * r * u)
    elif kind == "house":
        x0, x1, y0, y1 = c[0] - 0.8 * r, c[0] + 0.8 * r, c[1] - 0.2 * r, c[1] + r
        line((x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0), (c[0], c[1] - r), (x1, y0))
        if rng.random() < 0.6:
            line((c[0] - 0.2 * r, y1), (c[0] - 0.2 * r, c[1] + 0.4 * r), (c[0] + 0.2 * r, c[1] + 0.4 * r), (c[0] + 0.2 * r, y1))
    elif kind == "flower":
        k = int(rng.integers(5, 9))
        for a in np.linspace(0, 2 * np.pi, k, endpoint=False):
            u = np.array([np.cos(a), np.sin(a)])
            line(*_loop(c + 0.55 * r * u, 0.32 * r, 0.32 * r, rng))
        dot(c, 0.2 * r)
    elif kind == "stick":
        head = c - [0, 0.7 * r]
        line(*_loop(head, 0.28 * r, 0.28 * r, rng))
        line(head + [0, 0.28 * r], c + [0, 0.4 * r])
        line(c + [-0.6 * r, -0.15 * r], c + [0.6 * r, -0.15 * r])
        line(c + [-0.5 * r, r], c + [0, 0.4 * r], c + [0.5 * r, r])
    elif kind == "tick":
        line(c + [-0.7 * r, 0], c + [-0.2 * r, 0.6 * r], c + [0.8 * r, -0.8 * r])
    elif kind == "cloud":
        line(*_loop(c, r, 0.6 * r, rng, bumps=int(rng.integers(5, 9))))
    elif kind == "fish":
        line(*_loop(c, 0.75 * r, 0.45 * r, rng))
        line(c + [0.7 * r, 0], c + [1.15 * r, -0.4 * r], c + [1.15 * r, 0.4 * r], c + [0.7 * r, 0])
        dot(c + [-0.4 * r, -0.1 * r], 0.08 * r)
    elif kind == "envelope":
        x0, x1, y0, y1 = c[0] - r, c[0] + r, c[1] - 0.65 * r, c[1] + 0.65 * r
        line((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0), (c[0], c[1] + 0.1 * r), (x1, y0))
    else:  # heart
        t = np.linspace(0, 2 * np.pi, 40)
        line(*np.stack([c[0] + r / 16 * 16 * np.sin(t) ** 3,
                        c[1] - r / 16 * (13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))], 1))
    return img.rotate(rng.uniform(-20, 20), resample=Image.BILINEAR)


def _noise(rng: np.random.Generator, n: int) -> list[Image.Image]:
    """Sensor noise, salt and pepper, smooth blobs, gratings and gradients: photos of nothing."""
    out = []
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS] / CANVAS
    for _ in range(n):
        kind = int(rng.integers(5))
        if kind == 0:
            a = rng.random((CANVAS, CANVAS))
        elif kind == 1:
            a = (rng.random((CANVAS, CANVAS)) < rng.uniform(0.02, 0.3)).astype(float)
        elif kind == 2:
            small = rng.random((int(rng.integers(3, 10)),) * 2)
            a = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((CANVAS, CANVAS), Image.BICUBIC)) / 255
        elif kind == 3:
            f, th = rng.uniform(3, 15), rng.uniform(0, np.pi)
            a = 0.5 + 0.5 * np.sin(2 * np.pi * f * (xx * math.cos(th) + yy * math.sin(th)))
        else:
            a = np.clip(xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1) + rng.normal(0, 0.1, xx.shape), 0, 1)
        out.append(Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8)))
    return out


KINDS: dict[str, Callable[[np.random.Generator, int], list[Image.Image]]] = {
    "letters": _glyphs(LETTERS), "symbols": _glyphs(SYMBOLS), "scribbles": _drawn(_scribble),
    "pen letters": _drawn(_pen_letter), "dots": _drawn(_dot), "lines": _drawn(_line), "shapes": _drawn(_shape),
    "doodles": _drawn(_doodle), "noise": _noise,
}
