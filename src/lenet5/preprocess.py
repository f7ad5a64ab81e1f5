"""Any image of a handwritten digit -> a 28×28 array that looks like MNIST. Pure functions.

    from lenet5.preprocess import preprocess, split_digits, open_image
    x = preprocess("photo.jpg")                       # (28, 28) float32, white ink on black, [0, 1]
                                                      # (a path or bytes: a JPEG is decoded only as finely as needed)
    digits = split_digits(open_image("year.png"))     # [(28, 28) arrays], left to right
    digits, gap = split_row("year.png")                # ..., and the narrowest gap in digit heights

MNIST was built by fitting each digit into a 20×20 box (aspect kept, anti-aliased) and placing it in
a 28×28 field so that its centre of mass is at the centre. A photo of ink on paper looks nothing
like that, so: ink polarity -> background removal (Otsu) -> crop to the ink -> stroke width
evened out -> longer side to 20 px -> centre of mass to the centre of 28×28.

A 20-px digit needs a few hundred pixels of ink, not the 12 megapixels of a phone photo, so a large
image is worked on at a working resolution: the whole of it is first looked at shrunk to at most
SCAN_SIDE pixels (a JPEG is decoded at 1/2, 1/4 or 1/8 scale by its own decoder, anything else is
shrunk with a box filter before it becomes floats); where the ink found there is under WORK_SIDE
pixels, that part of the image is read again, finer. Images up to SCAN_SIDE are used as they are,
but for a drawing or a clean scan with a broad pen, which is read shrunk to LOOK_SIDE or more.
"""

from __future__ import annotations

import io
import math
import os
import stat
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageDraw, ImageOps, UnidentifiedImageError
from scipy import ndimage

from .errors import UserError

FIELD = 28                 # MNIST image side
BOX = 20                   # the digit's longer side inside the field
MAX_INPUT_PIXELS = 40_000_000  # refuse larger images before decoding them (decompression bombs)
MIN_CONTRAST = 0.2         # ink darker than paper by less than this (of full scale) is no ink at all
MIN_INK_FRACTION = 0.0005  # fewer ink pixels than this share of the image: blank
CARD_SHARE = 0.5           # an opaque part covering this share of a cut-out image may be a card (`_card`)
PAGE_MARGIN = 0.1          # a page whose sides disagree is light (dark) where 60% of it is (`light_paper`)
MIN_DIGIT_SIDE = 16        # px: ...unless, in a large photo, ink this long is there to look at closer
PAPER_SHARE = 0.4          # the faintest share of pixels taken as paper when levelling the light
SHADOW_WINDOW = 0.25       # dark areas wider than this share of the image side are light, not ink...
SHADOW_DEPTH = 0.12        # ...up to this much darker than the paper (of full scale)
FLAT_BORDER = 0.9          # share of the border at the paper's exact level for paper that needs no levelling
SHEET_SIDE = 128           # a sheet of paper on a desk is looked for at this size (it is large: a coarse look does)
SHEET_AREA = 0.06          # it covers at least this share of the photo,
SHEET_INK = 0.25           # its ink at most this share of it,
SHEET_RECTANGLE = 0.83     # it fills its least bounding rectangle nearly (an ellipse fills 0.785: a light 0 on dark),
SHEET_CORNER = 0.03        # ...or, in perspective, has four corners, its outline followed to this share of its size,
SHEET_DESK = 0.6           # and a wide dark surround (the desk, not ruled lines nor strokes) is beyond this share of
DESK_WIDTH = 0.02          # its edge that is not the photo's; wider than this share of the photo's side, and
DESK_BORDER = 0.1          # on at least this share of the photo's border
# A sheet with no ink on it is blank paper only where it is plainly one (`_blank_sheet`):
SHEET_ASPECT = 2.5         # no longer than this × its width (a light bar on dark is a chalk 1),
SHEET_CONVEX = 0.96        # filling its convex hull (a digit drawn into its edge cuts a notch: 0.93),
BLANK_SHEET_CONTRAST = 0.25  # its darkest tenth this much lighter than the desk's lightest tenth (the
                             # helpers' desk photos 0.29–0.68 but one light table, 0.09; vignettes ≤ 0.094)
SPECK_FRACTION = 0.03      # components smaller than this share of the ink are noise (JPEG, paper)
RULED_LINES = 3            # ruled or squared paper: at least this many lines in one direction,
RULED_RUN = 0.1            # of straight runs this share of the side long (a 1-px line up to 3° off level),
RULED_SPAN = 0.9           # joined across this share of it,
RULED_THICK = 0.06         # no thicker (with their tilt) than this share of the other side,
RULED_MARGIN = 0.05        # reaching past the other ink by this share of the side at both ends,
RULED_LEVEL = 0.5          # looked for in what is darker than this share of the ink's threshold,
RULED_SIDE = 96            # in images at least this large (a page; not a drawing nor a cut-out cell)
PRINTED_TILT = 0.07        # a box's sides are followed up to this slope (tan 4°: a form a little askew), and
                           # the quick looks for lines across the image look at bands as tall as such a line
FRAME_SIZE = 0.5           # a box printed around the digit is at least this share of the image each way,
FRAME_BAND = 0.08          # its lines within this share of its side from its edges,
FRAME_SIDES = 0.8          # following three of its four edges over this share of their length
FRAME_ROW = 1.5            # a box this many times wider than tall is a row of cells, lines between them
BASELINE_END = 0.2         # a line under the digits has their lowest ink over it, this share of it from its ends,
BASELINE_RISE = 0.8        # its ticks (a comb's) rising less than this share of their height
NEIGHBOUR_GAP = 0.15       # ink cut by the image's edge this share of the digit's height from it: a neighbour's
EDGE_BAND = 0.08           # ink within this share of the image's side from its edges, nearly all of it,
EDGE_ALONG = 0.1           # touching them along this share of the shorter side: the paper's edge, not the digit
RING_GAP = 0.05            # a ring drawn around the digit may be open by twice this share of its side,
RING_INK = 0.15            # and what it holds has at least this share of its ink (a font's dotted 0: 0.07)
RING_ROUND = 0.95          # of its convex hull's area: drawn round (and what it holds is not: no bar, no dot),
RING_HOLDS = 0.4           # and what it holds spans at least this share of its hole's height (`_drawn_around`)
BLOB = 2.0                 # a shape with at most this × its thickness² of ink is a blob (a dot, a fingertip), no stroke
# Ink is at least this far from the paper to the darkest ink, whatever Otsu says. Otsu's threshold
# favours two classes of similar size: for a small digit in a big photo it can fall between the paper
# and what is left of the light after levelling (a shadow's band, ruled lines), which then swamps the
# digit. Paper photos 97.6 → 98.6% read right; 0.2–0.35 all gain (98.0–98.6%), scikit-learn's blurred
# digits start to lose from 0.35 (96.9 → 96.7%, 93.7% at 0.45); benchmarks/bench_handwriting.py.
INK_FLOOR = 0.25
TARGET_STROKE = 2.2        # MNIST stroke width in pixels at the 20-px scale (about 2–3)
THICK_STROKE = 4.5         # thicker than this at 20 px: thin it, a marker's stroke fills the digit
DIGIT_ASPECT = 0.75        # a handwritten digit's typical width / height
TOUCHING_RATIO = 1.4       # a component wider than this × the digits' height holds several digits
FLAT_PIECE = 0.35         # a piece of a row flatter than this × the digits' height is part of a neighbour,
NEAR_PIECE = 0.1          # when at most this × that height apart from it (`_flat_joined`)
SIDE_BY_SIDE_INK = 0.2     # a 28×28 field's ink, for telling digits side by side in it (`side_by_side`)
TALL_PIECE = 0.6           # of the ink's height: rows a piece side by side inks, to be a digit (`side_by_side`)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                    ".pgm", ".pbm", ".ppm", ".pnm")  # (Netpbm: how many digit sets and scanners keep them)
TINY_WORK = 64             # px: an image smaller than the field is first enlarged to at least this
MAX_BLOCK = 16             # ...also one that is such an image with each pixel repeated up to this many times
OVERSHOOT = 0.5            # values this far past 0–1 (or −1–1) are taken for resampling's overshoot
SCAN_SIDE = 512            # a larger image is first looked at with its longer side at most this
WORK_SIDE = 256            # ink smaller than this in that look is read again, finer (thin strokes stay dark)
LOOK_SIDE = 96             # a smaller drawing or scan is first looked at shrunk a whole number of times to no less
LOOK_SHRINK = 1.5          # than this (1.5 times, box-filtered, where twice would go under: 144–191 px),
LOOK_STROKE = 3.0          # and that look is kept where its strokes are this wide (px) there: a shrunk
                           # pixel then lies in a stroke or beside it, and the digit is longer than BOX,
LOOK_FAINT = 0.1           # and nothing this faint (of the ink's range) lies a stroke's width from them or more
STRIP_PIXELS = 2_000_000   # a huge image is converted and shrunk this many pixels at a time (memory)
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,  # EXIF orientation ->
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,   # the turn that undoes
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,       # it, as in
              8: Image.Transpose.ROTATE_90}                                       # ImageOps.exif_transpose


class ImageError(UserError):
    """An input that is not a usable image (not an image, truncated, too large, 0×0): one line, led by the
    file's name when it has one (bytes, arrays and PIL images have none)."""

    def __init__(self, reason: str, name: str | None = None):
        super().__init__(f"{name}: {reason}" if name else reason)


class BlankImageError(ImageError):
    """An image with no ink on it: reported as blank, never classified."""


def open_image(source: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    """Decode a path or bytes into a PIL image (first frame, EXIF orientation applied), checked."""
    if isinstance(source, Image.Image):
        _check_size(source, "image")
        return ImageOps.exif_transpose(source)
    img, name = _open(source)
    with _reading(name):
        ImageOps.exif_transpose(img, in_place=True)  # loads it; in place: a 40-MP image is not copied
    return img


def _open(source: str | os.PathLike | bytes) -> tuple[Image.Image, str | None]:
    """A path or bytes opened, not yet decoded (Pillow reads the header only), and checked."""
    name = None if isinstance(source, bytes) else str(source)
    with _reading(name):
        if isinstance(source, bytes):
            if not source:
                raise ImageError("the file is empty (0 bytes); choose another")  # (the page says "…: {this}.")
            img = Image.open(io.BytesIO(source))
        else:
            _check_file(source, name)
            img = Image.open(source)
        w, h = img.size
        if w * h > MAX_INPUT_PIXELS:
            raise ImageError(f"{w}×{h} is too large (over {MAX_INPUT_PIXELS:,} pixels); scale it down first", name)
        img.seek(0)  # GIF / TIFF: the first frame
    _check_size(img, name)
    return img, name


def _check_file(path: str | os.PathLike, name: str) -> None:
    """A regular, non-empty file, checked before opening: opening a FIFO would wait for a writer forever."""
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise ImageError("is a folder, not an image", name)
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("not a regular file", name)
    if st.st_size == 0:
        raise ImageError("empty file", name)


def _check_size(img: Image.Image, name: str | None) -> None:
    if img.size[0] == 0 or img.size[1] == 0:
        raise ImageError(f"image is {img.size[0]}×{img.size[1]} pixels", name)


@contextmanager
def _reading(name: str | None):
    """What the OS or Pillow raise while an image is opened or decoded -> one ImageError line naming it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except FileNotFoundError:
        raise ImageError("no such file", name) from None
    except IsADirectoryError:
        raise ImageError("is a folder, not an image", name) from None
    except PermissionError:
        raise ImageError("permission denied", name) from None
    except UnidentifiedImageError:
        raise ImageError("not an image (PNG, JPEG, BMP, GIF, TIFF, WebP and Netpbm can be read)", name) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("too large to decode safely (decompression bomb?); scale it down first", name) from None
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, OSError) and e.errno is not None:  # the disk or the system, not the image's bytes
            raise ImageError(f"cannot be read ({e.strerror})", name) from None
        # Pillow's own words ("image file is truncated (2 bytes not processed)") mislead more than help.
        raise ImageError("truncated or corrupt image: its data ends early or is damaged; save or export it again",
                         name) from None


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def ink_map(img: Image.Image) -> np.ndarray:
    """Float (H, W) in [0, 1] where 1 is the most ink: polarity decided, background stretched to 0.

    A transparent background is paper (alpha is the ink); otherwise the border's median is the paper
    colour, and dark-on-light is inverted.
    """
    return _ink_map(img)[0]


def _ink_map(img: Image.Image, how: str | None = None, cell: bool = False) -> tuple[np.ndarray, str]:
    """ink_map and how the ink was told from the paper: "alpha" (the opaque part is the ink), "hole"
    (the transparent part is), "dark" (on light paper) or "light".

    A given `how` is used instead of deciding again: a close-up of the ink has too little paper in it.
    `cell`: the image may be a cell cut to its digit (`light_paper`).
    """
    if _has_alpha(img):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha, gray = rgba[..., 3], rgba[..., :3].mean(-1)
        cut_out = alpha.min() < 0.5 < alpha.max()
        if how in ("alpha", "hole") or (how is None and cut_out and not _card(gray, alpha)):
            how = how or ("hole" if light_paper(alpha) else "alpha")  # (a stencil: opaque around the digit)
            return (1.0 - alpha if how == "hole" else alpha), how
        # A card, or flat alpha: composite on the card's paper, or on white
        paper = float(np.median(gray[alpha > 0.5])) if cut_out else 1.0
        gray = gray * alpha + paper * (1 - alpha)
    else:
        gray = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    if how is None:
        how = "dark" if light_paper(gray, cell) else "light"
    return (1.0 - gray if how == "dark" else gray), how


def _card(gray: np.ndarray, alpha: np.ndarray) -> bool:
    """An opaque card with the digit drawn on it, cut out with transparent corners or a margin (a
    screenshot with rounded corners, a sticker): the opaque part covers most of the image and has ink
    of its own. Read as alpha, its outline was the "digit" (a helper's 60: 1 read right)."""
    opaque = alpha > 0.5
    if np.count_nonzero(opaque) < CARD_SHARE * opaque.size:
        return False
    tones = gray[opaque]
    return percentile(tones, 99) - percentile(tones, 1) >= MIN_CONTRAST


def border(a: np.ndarray) -> np.ndarray:
    """The outermost rows and columns of a 2-D array, as one flat array (corners twice)."""
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def light_paper(gray: np.ndarray, cell: bool = False) -> bool:
    """Dark ink on light paper, by the border of a grey image in [0, 1] (else light ink on dark); in an
    image of RULED_SIDE or more, by a rim a sixteenth of its side deep where that is clearly light or
    dark: a box printed along the edge of a cropped form cell is not the paper (noise is neither); there,
    where two sides are dark and two light, by what most of the image is (a scanner's black edge on two
    sides of a page: a helper's 40, 33 → 37 read right).

    A `cell` cut to its digit is read by its four corners where all four agree: a digit stretched to
    fill its box can cover more of the border than of the corners, as a 0 drawn past its cell does.
    (MNIST test digits so stretched into 16×16 cells, 1-bit: the border took 21 of 2,000 the wrong way
    round, this 20. Three corners agreeing took 8, but a flat-topped 3 or a Z-shaped 2 reaches three.)"""
    if cell:
        corners = gray[[0, 0, -1, -1], [0, -1, 0, -1]]
        if (corners > 0.6).all() or (corners < 0.4).all():
            return bool(corners[0] > 0.6)
    k = min(gray.shape) // 16
    if max(gray.shape) >= RULED_SIDE and k >= 2:
        sides = (gray[:k:3, ::3], gray[-k::3, ::3], gray[k:-k:3, :k:3], gray[k:-k:3, -k::3])  # (every 3rd: quick)
        if sum(np.median(side) > 0.5 for side in sides) == 2:
            # Two sides dark and two light: a scanner's black edge along two sides of a page, or a
            # shadow over two. The paper is what most of the page clearly is, if it is (a bold digit
            # cropped tight can fill half of it).
            light = np.count_nonzero(gray[::3, ::3] > 0.5) / gray[::3, ::3].size
            if abs(light - 0.5) >= PAGE_MARGIN:
                return light > 0.5
        rim = float(np.median(np.concatenate([side.ravel() for side in sides])))
        if abs(rim - 0.5) > 0.1:
            return rim > 0.5
    return bool(np.median(border(gray)) > 0.5)


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1] (256 bins)."""
    v = np.ravel(values)
    if not (v.min() >= 0 and v.max() <= 1):  # (NaN included)
        v = v[(v >= 0) & (v <= 1)]  # outside the bins, as np.histogram leaves them
    # np.histogram's bins, counted ~8× faster: 256·v is exact in floating point, its floor is the bin.
    bins = (v * 256).astype(np.int16)
    hist = np.bincount(np.minimum(bins, 255, out=bins), minlength=256)
    p = hist.astype(np.float64) / max(1, hist.sum())
    w0 = np.cumsum(p)
    mu = np.cumsum(p * _OTSU_CENTRES)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w0 - mu) ** 2 / (w0 * (1 - w0))
    return float(_OTSU_EDGES[int(np.nanargmax(between)) + 1])


_OTSU_EDGES = np.linspace(0.0, 1.0, 257)  # otsu_threshold's bins
_OTSU_CENTRES = (_OTSU_EDGES[:-1] + _OTSU_EDGES[1:]) / 2


def clean(ink: np.ndarray, least: float = MIN_INK_FRACTION, flat: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Background to 0 and ink stretched to 1; returns (ink, mask of ink pixels). Raises if blank: no
    contrast, or ink on less than `least` of the image. `flat`: the caller knows there is no light to
    level (`flat_paper`, which is also looked at)."""
    # In place where it can be: on a large image each pass over its float array costs as much as the
    # rest of a small drawing's cleaning.
    ink = ink - ink.min() if flat or flat_paper(ink) else np.clip(ink - background(ink), 0, 1)
    lo, hi = percentile(ink, 1), float(ink.max())
    if hi - lo < MIN_CONTRAST:
        raise BlankImageError("blank image: no ink found (nothing darker or lighter than the paper)")
    stretched = np.subtract(ink, lo, out=ink)
    stretched /= hi - lo
    np.clip(stretched, 0, 1, out=stretched)
    otsu = otsu_threshold(stretched)
    t = max(otsu, INK_FLOOR)
    mask = _ink_at(stretched, t)
    if _too_little(mask, least) and t > otsu:  # faint ink that Otsu alone finds is still ink
        t = otsu
        mask = _ink_at(stretched, t)
    if _too_little(mask, least):
        raise BlankImageError("blank image: no ink found (only specks)")
    # Soft edges kept just outside the mask so anti-aliasing survives; far background zeroed.
    near = _grow(mask, 2)
    top = percentile(stretched[mask], 90)
    out = stretched - t * 0.5
    out /= max(1e-6, top - t * 0.5)
    np.clip(out, 0, 1, out=out)
    out *= near
    return out.astype(np.float32, copy=False), mask


def _ink_at(stretched: np.ndarray, t: float) -> np.ndarray:
    """The ink's mask at threshold t, specks left out, and the printed lines of ruled or squared paper,
    of a box around the digit and under it (those set to paper in `stretched` too, but where they touch
    the ink), and a ring drawn around it."""
    mask = stretched > t
    if max(mask.shape) < RULED_SIDE:
        return unspecked(mask)
    faint = stretched > t * RULED_LEVEL  # (printed lines are found whole where they are fainter)
    ruled = _crossed(faint) or _crossed(faint.T)  # (else no line crosses `mask` either, a part of `faint`)
    printed = _ruled_lines(faint) if ruled else np.zeros_like(mask)
    printed |= _frame(faint & ~printed)
    printed = (printed | _baseline(faint & ~printed)) & mask
    if ruled:  # and the lines that look missed: a margin line, where a faint ruling breaks up around it
        printed |= _ruled_lines(mask & ~printed)
    if printed.any():
        printed &= ~_grow(mask & ~printed, 2)  # (where a stroke crosses or touches a line, the line stays)
        mask &= ~printed
        stretched[printed] = 0
    labels, shapes = _shapes(mask)
    return _kept(labels, shapes[shapes != _ring_around(labels, shapes)])  # (unspecked, and unringed)


def _ring_around(labels: np.ndarray, shapes: np.ndarray) -> int:
    """Of the shapes (labels), the ring drawn around the digit (a circled answer), else 0: the one with
    the largest box, where nearly all the other shapes' ink lies in its hole (closed over a gap of up to
    2·RING_GAP of its side) and has RING_INK of the ring's ink or more (a helper's circled digits:
    0.4–1.9; a thin 1 in a wide ring, 0.2), when it looks drawn around a digit (`_drawn_around`). They
    were read as 0 or refused: 0 of 30 right where the ring stays clear of the digit, 30 now. A ring
    touching the digit is one shape with it, and stays."""
    if len(shapes) < 2:
        return 0
    boxes = ndimage.find_objects(labels)
    k = max(shapes, key=lambda i: math.prod(s.stop - s.start for s in boxes[i - 1]))
    ring = labels[boxes[k - 1]] == k
    g = max(1, round(RING_GAP * max(ring.shape)))
    closed = _grow(np.pad(ring, g), g)
    filled = ndimage.binary_fill_holes(closed)
    hole = (filled & ~closed)[g:-g, g:-g]
    others = shapes[shapes != k]
    held = filled[g:-g, g:-g] & _kept(labels[boxes[k - 1]], others)
    ink = np.bincount(labels.ravel())
    if not hole.any() or held.sum() < max(0.9 * ink[others].sum(), RING_INK * ink[k]):
        return 0
    return int(k) if _drawn_around(closed, filled, hole, held) else 0


def _drawn_around(closed: np.ndarray, filled: np.ndarray, hole: np.ndarray, held: np.ndarray) -> bool:
    """Whether a ring (closed: its mask grown shut; filled: with its hole) holding `held` in its hole
    was drawn around a digit, rather than be part of one or of a symbol: it is round (RING_ROUND of its
    convex hull: the outer line of an outlined 6 or 9 is not — a red-team's outlined digits, 36 of 80
    misread), and what it holds is not (a dot, a bar, a slash or a plain 1 fill their hulls: a 0's
    slash, dot or tick stays a 0, and a circled 1 reads as before), spans RING_HOLDS of its hole's
    height or more (a mark in a 0 is shorter; circled digits 0.5–1.0), and does not loop around its
    middle (a target's inner ring, a circled 0)."""
    from scipy.spatial import ConvexHull, QhullError

    def hull(mask: np.ndarray) -> float:
        try:
            return ConvexHull(np.argwhere(mask)).volume  # (an area, in 2-D)
        except QhullError:  # (all in a line)
            return 0.0
    (y0, y1, x0, x1), (hy0, hy1, _, _) = _bbox(hole), _bbox(held)
    middle = ((y0 + y1) // 2, (x0 + x1) // 2)
    return bool(filled.sum() >= RING_ROUND * hull(closed) and held.sum() < RING_ROUND * hull(held)
                and hy1 - hy0 >= RING_HOLDS * (y1 - y0)
                and not (ndimage.binary_fill_holes(held)[middle] and not held[middle]))


def _frame(mask: np.ndarray) -> np.ndarray:
    """The box printed around the digit (a form's cell), else none: the straight runs along the edges
    of the widest shape, within FRAME_BAND of its side, where they follow at least three of its four
    edges over FRAME_SIDES of their length as lines thinner than that band (boxy digits' strokes fill
    it), the shape is at least FRAME_SIZE of the image each way, and ink lies inside, twice that band
    from its edges. (A digit in a box was read as the box: 0 of 200 right.)"""
    none = np.zeros_like(mask)
    # A quick look first: bands of rows (or columns) so much inked at two sides of a box, and a band of
    # columns (rows). Bands, not rows: a line of a box tilted 2° crosses 7 rows of a 200-px image.
    least = FRAME_SIZE * FRAME_SIDES
    rows, tall = _inked_across(mask, least)
    if not rows.size:
        return none
    cols, wide = _inked_across(mask.T, least)
    if not cols.size or (rows[-1] + tall - rows[0] < FRAME_SIZE * mask.shape[0]
                         and cols[-1] + wide - cols[0] < FRAME_SIZE * mask.shape[1]):
        return none
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return none
    objects = ndimage.find_objects(labels)
    largest = int(np.argmax([(r.stop - r.start) * (c.stop - c.start) for r, c in objects])) + 1
    (y0, y1), (x0, x1) = ((s.start, s.stop) for s in objects[largest - 1])
    if y1 - y0 < FRAME_SIZE * mask.shape[0] or x1 - x0 < FRAME_SIZE * mask.shape[1]:
        return none
    d = max(2, math.ceil(FRAME_BAND * min(y1 - y0, x1 - x0)))
    shape, edges = labels[y0:y1, x0:x1] == largest, none.copy()
    if shape.mean() > 0.5:  # (a box is mostly paper; ink thresholded out of noise is not)
        return none
    box, followed, thick = edges[y0:y1, x0:x1], 0, []  # (a view: marks `edges`)
    for cut, turned in ((np.s_[:d], False), (np.s_[-d:], False), (np.s_[:, :d], True), (np.s_[:, -d:], True)):
        part = shape[cut].T if turned else shape[cut]
        along = _straight(part, max(3, part.shape[1] // 6), PRINTED_TILT).view(bool) & part
        across = along.sum(0)
        thick.append(across[across > 0].mean() if across.any() else 0.0)
        followed += (across > 0).mean() >= FRAME_SIDES and across[across > 0].mean() <= 0.75 * d  # (a thin line)
        box[cut] |= along.T if turned else along
    inside = mask[y0 + 2 * d:y1 - 2 * d, x0 + 2 * d:x1 - 2 * d]  # (clear of a hand-drawn square's wavy sides)
    if followed < 3 or inside.sum() < SPECK_FRACTION * mask.sum():
        return none
    if x1 - x0 >= FRAME_ROW * (y1 - y0):  # a row of cells: the lines between them are the box's too
        box |= _straight(shape.T, math.ceil(FRAME_SIDES * (y1 - y0))).view(bool).T & shape
    box |= _stray_ends(shape & ~box, 2 * d, float(np.median(thick)))  # (a stroke along a side thickens it)
    return edges


def _stray_ends(rest: np.ndarray, margin: int, thick: float) -> np.ndarray:
    """The pieces of what is left of a box's shape, once its sides are taken, that lie wholly within
    `margin` of its edges and are lines as thin as its sides (`thick`): the ends of sides that a tilt
    carried out of their band (a 348-px box 4° askew kept its four corners, and a 1 in it was "not a
    digit"). A stroke that touched the box reaches further in, or is thicker, and stays."""
    pieces, _ = ndimage.label(rest, structure=np.ones((3, 3)))
    inner = pieces[margin:-margin, margin:-margin]
    sizes = np.bincount(pieces.ravel())
    ends = [i for i, (r, c) in enumerate(ndimage.find_objects(pieces), 1)
            if sizes[i] <= 1.5 * thick * max(r.stop - r.start, c.stop - c.start)]
    return np.isin(pieces, ends) & ~np.isin(pieces, inner[inner > 0])


def _baseline(mask: np.ndarray) -> np.ndarray:
    """A line drawn under the digits (an underline; a comb's baseline and its ticks), else none: the
    shape lowest down, apart from the other ink, at least as wide as that ink and half as long as it is
    tall, rising less than BASELINE_RISE of its height, mostly one straight run across below all of it,
    with the ink's lowest part over its middle, not near an end. (An underlined 7 read as 2, 89% sure;
    a "!"'s dot is short, a 2's detached base meets its stroke at one end.)"""
    none = np.zeros_like(mask)
    per_row = np.count_nonzero(mask, axis=1)
    columns, rows = np.flatnonzero(mask.any(0)), np.flatnonzero(per_row)
    wide = np.flatnonzero(per_row >= FRAME_SIDES * (columns[-1] + 1 - columns[0])) if columns.size else columns
    if not wide.size or wide[-1] < rows[-1] - 0.2 * (rows[-1] - rows[0]):
        return none  # (a quick look first: a row near the bottom of the ink inked across most of its width)
    labels, shapes = _shapes(mask)
    if shapes.size < 2:
        return none
    objects = ndimage.find_objects(labels)
    lowest = max(shapes, key=lambda i: objects[i - 1][0].stop)
    (r, c), line = objects[lowest - 1], labels == lowest
    rest = np.isin(labels, shapes) & ~line
    y0, y1, x0, x1 = _bbox(rest)
    if (c.start > x0 or c.stop < x1 or c.stop - c.start < 0.5 * (y1 - y0)
            or r.stop - r.start > BASELINE_RISE * (y1 - y0)):
        return none
    part = line[r, c]
    along = _straight(part, max(3, (c.stop - c.start) // 2)).view(bool) & part
    below = r.start + int(np.argmax(along.any(1))) >= y1  # (the run; a comb's ticks rise beside the digit)
    low = np.flatnonzero(rest[y1 - max(1, (y1 - y0) // 10):y1].any(0)).mean()  # where the ink comes lowest
    middle = c.start + BASELINE_END * (c.stop - c.start) <= low <= c.stop - BASELINE_END * (c.stop - c.start)
    return line if below and middle and along.any(0).mean() >= FRAME_SIDES else none


def _straight(mask: np.ndarray, run: int, tilt: float = 0.0) -> np.ndarray:
    """Where `mask`, a drift up or down allowed (a thin line at a tilt: a pixel, or what a line `tilt`
    off level drifts over half the run), runs along the rows for at least `run` pixels: uint8, 1 there."""
    drift = max(1, math.ceil(run * tilt / 2))
    thick = ndimage.maximum_filter1d(mask.view(np.uint8), 2 * drift + 1, axis=0)
    return ndimage.maximum_filter1d(ndimage.minimum_filter1d(thick, run, axis=1), run, axis=1)


def _ruled_lines(mask: np.ndarray) -> np.ndarray:
    """The lines of ruled or squared paper in an ink mask, else none: each made of straight runs
    (RULED_RUN of the side, give or take a pixel) joined across RULED_SPAN of the image, that reach
    past the other ink by RULED_MARGIN of the side at both ends; a stroke lying on a line or crossing
    it stays. Where there are fewer than RULED_LINES one way, only those apart from the other ink: a
    notebook's margin line, alone where the faint ruled lines break up under pencil (a helper's
    pencil on ruled pages: 33 → 78% read right), a fold, a board's edge — and with no ruling at all,
    NEIGHBOUR_GAP of the digit's height from it or more, as a neighbour's part would be (a red-team's
    4s with their stems drawn apart, 7s with their bars: 45 and 24 of 60 lost them, read as 1 or
    refused; an open 4 stretched to fill its box is one). Lines darker than the ink
    floor were the "digit" (a helper's ruled page: every digit refused; its red margin line, left in,
    joined a 3 and made it "not a digit"); a tightly cropped E, ≡ or # has fewer such lines, or lines
    that stop at its other strokes, and a 4's long stem touches the rest of the 4. Most images have no
    band of rows or columns inked all across: `_crossed` tells, quicker."""
    (rows, across_rows), (cols, across_cols) = _lines_along(mask), _lines_along(mask.T)
    if across_rows == across_cols == 0:
        return np.zeros_like(mask)
    cols = cols.T
    rows = _thin_part(rows, mask & ~cols)
    cols = _thin_part(cols.T, (mask & ~rows).T).T
    labels, shapes = _shapes(mask & ~rows & ~cols)
    rest = _kept(labels, shapes)  # (unspecked)
    near = _grow(rest, 2)
    if max(across_rows, across_cols) < RULED_LINES and shapes.size:  # (no ruling: away from the digit)
        digit = labels == shapes[np.argmax(np.bincount(labels.ravel())[shapes])]
        y0, y1, _, _ = _bbox(digit)
        near |= _grow(digit, round(NEIGHBOUR_GAP * (y1 - y0)))
    lines = np.zeros_like(mask)
    for found, count, extent, side in ((rows, across_rows, rest.any(0), mask.shape[1]),
                                       (cols, across_cols, rest.any(1), mask.shape[0])):
        if count < RULED_LINES:  # lone lines, only where apart from the other ink
            labels, _ = ndimage.label(found, structure=np.ones((3, 3)))
            found = found & ~np.isin(labels, labels[found & near])
        reach = np.flatnonzero(extent)
        if found.any() and reach.size and reach[0] >= RULED_MARGIN * side and reach[-1] < (1 - RULED_MARGIN) * side:
            lines |= found
    return lines


def _crossed(mask: np.ndarray) -> bool:
    """Whether some band of rows, as tall as a line PRINTED_TILT off level spans, has ink in RULED_SPAN
    of the columns (a quick look, before `_lines_along`: a page without a line across it has none)."""
    return _inked_across(mask, RULED_SPAN)[0].size > 0


def _inked_across(mask: np.ndarray, share: float) -> tuple[np.ndarray, int]:
    """The first rows of the bands of rows, each as tall as a line PRINTED_TILT off level spans along
    `share` of the columns, that have ink in that share of them (in order), and the bands' height."""
    h, w = mask.shape
    band = 2 * (math.ceil(PRINTED_TILT * share * w) + 3)  # overlapping by half: such a line's rows are in one
    inked = [np.arange(start, h, band)[np.count_nonzero(_bands(mask, start, band), axis=1) / w >= share]
             for start in range(0, min(h, band), band // 2)]
    return np.sort(np.concatenate(inked)), band


def _bands(mask: np.ndarray, start: int, band: int) -> np.ndarray:
    """np.logical_or.reduceat(mask, range(start, h, band), axis=0): each band of rows from `start` on
    as one row, inked where any of its rows is; as a reshape where the rows are contiguous, 1.1–3×
    faster."""
    h, w = mask.shape
    if not mask.flags.c_contiguous:  # (a transposed view: reduceat is the quicker there)
        return np.logical_or.reduceat(mask, np.arange(start, h, band), axis=0)
    n, end = (h - start) // band, start + (h - start) // band * band
    whole = mask[start:end].reshape(n, band, w).any(1)
    return whole if end == h else np.concatenate([whole, mask[end:].any(0, keepdims=True)])


def _lines_along(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The ink of `_ruled_lines`' lines along the rows, and about how many lines there are. A line is
    taken only where no ink runs across it further than RULED_THICK of the other side: a stroke that
    crosses lines joins them into one shape (a large digit on a ruled page: 5% of such digits read
    right), and one running along a line makes it thick there (a small 7 on squared paper)."""
    h, w = mask.shape
    run = max(3, int(RULED_RUN * w))
    labels, _ = ndimage.label(_straight(mask, run), structure=np.ones((3, 3)))
    lines, count = np.zeros_like(mask), 0.0
    for i, (r, c) in enumerate(ndimage.find_objects(labels)):
        if c.stop - c.start >= RULED_SPAN * w:
            part = labels[r, c] == i + 1
            runs = _run_lengths(part)
            thin = part & (runs <= RULED_THICK * h)
            lines[r, c] |= thin
            if thin.any():  # lines joined into one shape count as many as their thin pixels make
                count += thin.sum() / (np.median(runs[thin]) * (c.stop - c.start))
    return lines & mask, round(count)


def _thin_part(lines: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The lines less what lies in a run of ink across them (down the columns) over twice their typical
    width, and one: a stroke lying on a line or crossing it."""
    runs = _run_lengths(ink)
    across = runs[lines]
    across = across[across > 0]
    return lines & (runs <= (2 * float(np.median(across)) + 1 if across.size else 0.0))


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """For each True pixel, the length of the run of True pixels down its column that it is in."""
    cols = np.ascontiguousarray(mask.T)
    starts = cols.copy()
    starts[:, 1:] &= ~cols[:, :-1]
    run = np.cumsum(starts.ravel()).reshape(cols.shape) * cols  # each pixel's run, numbered; 0: no ink
    lengths = np.bincount(run.ravel())
    lengths[0] = 0
    return lengths[run].T


def unspecked(mask: np.ndarray) -> np.ndarray:
    """The mask without components smaller than SPECK_FRACTION of its ink."""
    return _kept(*_shapes(mask))


def _kept(labels: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """The mask of the labelled shapes named (labels: all of them, or a part)."""
    keep = np.zeros(max(labels.max(), shapes.max(initial=0)) + 1, bool)
    keep[shapes] = True
    return keep[labels]


def _shapes(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mask's components (8-connected labels) and the labels of those that are no specks: at least
    SPECK_FRACTION of its ink."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return labels, np.flatnonzero(sizes >= SPECK_FRACTION * sizes.sum()) + 1


def _too_little(mask: np.ndarray, least: float) -> bool:
    return mask.sum() < max(2, least * mask.size)


def percentile(values: np.ndarray, q: float) -> float:
    """np.percentile(values, q) (to float32 rounding) from a partial sort at two places: np.percentile's
    own overhead was ~0.1 ms a call, a tenth of a small drawn digit's preprocessing."""
    v = np.ravel(values)
    at = q / 100 * (v.size - 1)
    lo = int(at)
    hi = min(lo + 1, v.size - 1)
    part = np.partition(v, (lo, hi))
    a, b = float(part[lo]), float(part[hi])
    return a + (b - a) * (at - lo)


def background(ink: np.ndarray) -> np.ndarray:
    """The paper's own level under each pixel: the quadratic `paper_surface`, raised where a grey
    opening shows a wide area darker than it — a shadow's edge, a fold, a dark corner, which no smooth
    surface follows — by at most SHADOW_DEPTH, so that a thick stroke keeps most of its contrast.

    The opening removes everything narrower than SHADOW_WINDOW of the image side: strokes, not light.
    Paper photos (benchmarks/bench_handwriting.py): 91.2% → 96.4% read right, 6.2% → 1.2% refused;
    scikit-learn's thick upscaled digits 94.8% → 93.8%. (`clean` skips it for `flat_paper`.)
    """
    surface = paper_surface(ink)
    side = max(3, round(max(ink.shape) * SHADOW_WINDOW))
    wide = ndimage.grey_opening(ink, size=(side, side))
    return np.maximum(surface, np.minimum(wide, surface + SHADOW_DEPTH))


def flat_paper(ink: np.ndarray) -> bool:
    """True for a drawing, a screenshot or a cleaned scan: at least PAPER_SHARE of the pixels, and nearly
    the whole border, sit exactly at the faintest level. There is no light to level there, and a wide
    stroke is ink, not a shadow: `background` skips its fit and its opening (~30% of the preprocessing
    of a small drawn digit). A photo's paper is never that exact, and a shadow reaching the border
    fails the border test."""
    floor = ink.min()
    edge = border(ink)
    return (np.count_nonzero(ink == floor) >= PAPER_SHARE * ink.size
            and np.count_nonzero(edge == floor) >= FLAT_BORDER * edge.size)


def paper_surface(ink: np.ndarray) -> np.ndarray:
    """The paper's own level under uneven light or a soft shadow: a quadratic surface fitted to the
    faintest PAPER_SHARE of the pixels, which is paper wherever ink covers less than that share.

    Subtracting it keeps Otsu's threshold on the ink, not on the lighting (paper photos with a light
    gradient: 72% → 91% read right, benchmarks/bench_handwriting.py); on an evenly lit image it is flat.
    """
    h, w = ink.shape
    step = max(1, max(h, w) // 64)  # ~4,000 samples are plenty for six coefficients
    sample = ink[::step, ::step]
    paper = sample <= np.quantile(sample, PAPER_SHARE)
    iy, ix = np.nonzero(paper)
    ys, xs = np.arange(0, h, step) / h - 0.5, np.arange(0, w, step) / w - 0.5
    terms = _quadratic_terms(ys[iy], xs[ix]).astype(np.float64)
    # Least squares on the 6×6 normal equations: the SVD of the whole (n, 6) sample took 6–8 ms with a
    # multithreaded BLAS, this ~0.1 ms; lstsq (not solve) still fits a degenerate sample, one row of paper.
    c0, c1, c2, c3, c4, c5 = np.linalg.lstsq(terms.T @ terms, terms.T @ sample[paper], rcond=None)[0]
    # Evaluated a row and a column at a time, not as an (h, w, 6) array: 10× faster on a 1000×750 image.
    y, x = np.arange(h) / h - 0.5, np.arange(w) / w - 0.5
    return ((c0 + c2 * y + c5 * y * y)[:, None] + (c1 + c4 * y)[:, None] * x + c3 * (x * x)).astype(np.float32)


def _quadratic_terms(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(..., 6): 1, x, y, x², xy, y² at each (broadcast) point."""
    return np.stack(np.broadcast_arrays(np.ones_like(x * y), x, y, x * x, x * y, y * y), -1)


def _grow(mask: np.ndarray, steps: int) -> np.ndarray:
    """ndimage.binary_dilation(mask, iterations=steps), 4-neighbours, as shifted ORs: several times faster."""
    for _ in range(steps):
        grown = mask.copy()
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        mask = grown
    return mask


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the rows and columns holding True pixels."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the mean distance-to-background along the stroke's middle.

    The last mask's answer is kept: a drawing read shrunk (`_thick_ink`) is measured there and again
    when it is fitted (`_even_strokes`), and the distance transform was a fifth of a folder's time."""
    global _last_width
    shape, bits, width = _last_width  # (one read: another thread may replace it meanwhile)
    key = np.packbits(mask).tobytes()
    if shape == mask.shape and bits == key:
        return width
    padded = np.pad(mask, 1)  # outside the crop is background, not more ink
    dist = ndimage.distance_transform_edt(padded)
    ridge = (dist >= ndimage.maximum_filter(dist, size=3)) & padded
    width = float(2 * dist[ridge].mean()) if ridge.any() else 1.0
    _last_width = (mask.shape, key, width)
    return width


_last_width: tuple[tuple[int, ...], bytes, float] = ((), b"", 1.0)  # stroke_width's last mask and answer


def fit_to_field(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Crop to the ink, even out the stroke, longer side to BOX px, centre of mass at the field centre."""
    y0, y1, x0, x1 = _bbox(mask)
    crop, cmask = ink[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    crop = _even_strokes(crop, cmask, BOX / max(crop.shape))
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


def _even_strokes(crop: np.ndarray, mask: np.ndarray, scale: float) -> np.ndarray:
    """The crop with strokes that shrinking by `scale` would leave thinner than TARGET_STROKE grown (a
    thin pen on a big image would vanish), or thicker than THICK_STROKE thinned. A crop that is not
    shrunk keeps its strokes as drawn, and skips measuring them (a distance transform)."""
    if scale >= 1:
        return crop
    width = stroke_width(mask) * scale
    if width < TARGET_STROKE:
        r = int(round((TARGET_STROKE - width) / scale / 2))
        return _disk_filter(np.pad(crop, r), r, dilate=True) if r >= 1 else crop
    if width > THICK_STROKE:
        r = int(round((width - THICK_STROKE) / scale / 2))
        return _disk_filter(crop, r, dilate=False) if r >= 1 else crop
    return crop


def disk(r: int) -> np.ndarray:
    """A round footprint of radius r pixels, for growing or shrinking strokes."""
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r


def opened(mask: np.ndarray, r: int) -> np.ndarray:
    """ndimage.binary_opening(mask, disk(r)): the same pixels, by two distance transforms, at a cost
    that does not grow with r (a scan whose black edge was read as ink had 100-px "strokes", and the
    opening took up to 65 s of one 100–400-px image)."""
    eroded = ndimage.distance_transform_edt(np.pad(mask, 1)) > r  # (outside is background, as there)
    if not eroded.any():
        return np.zeros_like(mask)
    return (ndimage.distance_transform_edt(~eroded) <= r)[1:-1, 1:-1]


def _disk_filter(a: np.ndarray, r: int, dilate: bool) -> np.ndarray:
    """ndimage.grey_dilation (or grey_erosion) of `a` by disk(r), the same numbers at O(r) rather than
    O(r²) a pixel: the disk is a stack of rows, each a 1-D running max (min) along x, shifted in y."""
    line, pick = (ndimage.maximum_filter1d, np.maximum) if dilate else (ndimage.minimum_filter1d, np.minimum)
    out, half, rows = None, None, None
    for dy in range(r + 1):
        h = math.isqrt(r * r - dy * dy)  # the disk's half-width dy rows from its centre
        if h != half:  # "reflect" at the edges in both directions, as ndimage does
            rows = np.pad(line(a, 2 * h + 1, axis=1, mode="reflect"), ((r, r), (0, 0)), mode="symmetric")
            half = h
        for top in {r - dy, r + dy}:  # the rows dy above and dy below
            part = rows[top:top + a.shape[0]]
            out = part.copy() if out is None else pick(out, part, out=out)
    return out


def preprocess(image: str | os.PathLike | bytes | Image.Image | np.ndarray) -> np.ndarray:
    """One digit, any image -> (28, 28) float32 MNIST-like (white ink on black, [0, 1])."""
    ink, mask = _find_ink(image, one_digit=True)
    cut_off = _cut_off(mask)
    if cut_off.any():
        ink[cut_off], mask = 0, mask & ~cut_off
    return fit_to_field(ink, mask)


def _cut_off(mask: np.ndarray) -> np.ndarray:
    """Ink beside the digit that the image's edges explain, else none. The digit is the largest shape
    that is not at the edges (`_at_the_edges`); where it is clear of them, these are cut: the shapes
    hugging the edges that lie NEIGHBOUR_GAP of its height or more from its box, not around it (the
    desk in wedges at the corners of a whiteboard photographed askew: a helper's boards 57.5% read
    right → 97.5%; a 7's bar drawn apart stays, close above it, and so does a boxy 0 cropped tight
    around a mark), blobs at the edges with no stroke drawn into them (a fingertip holding the sheet:
    82 → 96%), and the shapes touching its left or right side that lie beyond its box that way by
    NEIGHBOUR_GAP (a neighbouring digit's part in a crop: a helper's 3 with a sliver of a 5 read as 2;
    a "!"'s dot below its stroke stays). Where the digit itself reaches an edge, nothing is cut (a
    tightly cropped 7's bar runs along the top)."""
    none = np.zeros_like(mask)
    if max(mask.shape) < RULED_SIDE or not (mask[:, [0, -1]].any() or mask[[0, -1]].any()):
        return none  # (most images: no ink at their edges)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n < 2:
        return none
    (h, w), boxes = mask.shape, ndimage.find_objects(labels)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    hugging, blobs = _at_the_edges(mask, labels, sizes)
    if (hugging | blobs)[1:].all():
        return none  # (nothing apart from the edges to be the digit)
    main = int(np.argmax(np.where(hugging | blobs, 0, sizes)[1:]))  # (a wedge or a thumb can outweigh a 1)
    r, c = boxes[main]
    if r.start == 0 or c.start == 0 or r.stop == h or c.stop == w:
        return none
    gap = NEIGHBOUR_GAP * (r.stop - r.start)
    far = [i + 1 for i, (_, cc) in enumerate(boxes)
           if (cc.start == 0 and c.start - cc.stop >= gap) or (cc.stop == w and cc.start - c.stop >= gap)]
    g, middle = math.ceil(gap), ((r.start + r.stop) // 2, (c.start + c.stop) // 2)
    near = np.unique(labels[max(0, r.start - g):r.stop + g, max(0, c.start - g):c.stop + g])
    desk = [i for i in np.setdiff1d(np.flatnonzero(hugging), near)  # (not a tight 0 around a mark)
            if not ndimage.binary_fill_holes(labels == i)[middle]]
    pen = max(1, round(stroke_width(labels[r, c] == main + 1)))

    def bare(i: int) -> bool:  # no stroke drawn into the blob (a hand's shadow across a letter)
        blob = labels[boxes[i - 1]] == i
        return np.count_nonzero(blob & ~opened(blob, pen)) < sizes[main + 1] / 2
    cut = far + desk + [i for i in np.flatnonzero(blobs) if bare(i)]
    return np.isin(labels, cut) if cut else none


def _at_the_edges(mask: np.ndarray, labels: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of the labelled shapes, (those hugging the image's edges, blobs touching them), as boolean arrays
    by label. Hugging: touching the edges along EDGE_ALONG of the shorter side, with nearly all their ink
    within EDGE_BAND of them, as the desk beyond a board does. A blob is as thick as it is long (its ink
    at most BLOB × its thickness squared: a half-disc 0.4, a thumb ~1.5, a stroke 3 and more)."""
    (h, w), n = mask.shape, len(sizes) - 1
    band_h, band_w = math.ceil(EDGE_BAND * h), math.ceil(EDGE_BAND * w)
    in_band = sizes - np.bincount(labels[band_h:h - band_h, band_w:w - band_w].ravel(), minlength=n + 1)
    on_edge = np.bincount(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]), minlength=n + 1)
    on_edge[0] = 0
    hugging = (on_edge >= EDGE_ALONG * min(h, w)) & (in_band >= 0.9 * sizes)
    inside = ndimage.distance_transform_edt(np.pad(mask, 1, mode="edge"))[1:-1, 1:-1]  # (past the edge: more ink)
    thickness = 2 * np.asarray(ndimage.maximum(inside, labels, np.arange(n + 1)))
    return hugging, (on_edge > 0) & (sizes <= BLOB * thickness ** 2)


def _as_image(image) -> Image.Image:
    return _from_array(image) if isinstance(image, np.ndarray) else open_image(image)


def _from_array(image: np.ndarray) -> Image.Image:
    arr = image
    if arr.ndim == 3 and arr.shape[0] in (1, 2, 3, 4) and arr.shape[-1] not in (1, 2, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels first, as torch keeps images: (1, 28, 28), (3, H, W)
    if arr.ndim not in (2, 3) or 0 in arr.shape or (arr.ndim == 3 and arr.shape[-1] > 4):
        raise ImageError(f"array of shape {image.shape} is not an image")
    eight = (unit_range(arr) * 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] in (2, 4):  # with alpha: read as such (`_ink_map`)
        return Image.fromarray(np.ascontiguousarray(eight), mode="LA" if arr.shape[-1] == 2 else "RGBA")
    return Image.fromarray(eight if arr.ndim == 2 else eight.mean(-1).round().astype(np.uint8), mode="L")


def unit_range(values: np.ndarray, whole: bool | None = None) -> np.ndarray:
    """An image's values as float32 in 0–1, by the range they were kept in: 0–1 (up to OVERSHOOT over
    it, as smooth resampling leaves, clipped), 0–255, 0–16 (whole numbers, not bytes: scikit-learn's
    load_digits), −1–1 (USPS and many normalised sets), or whole numbers over 255 in 0 to 2^k − 1
    (10- to 32-bit scans). Any other range, or a value that is no finite number, is one ImageError
    line. `whole`: whether the values are whole numbers, when the caller knows (else looked at)."""
    a = np.array(values, dtype=np.float32)  # a copy, changed in place below
    if not np.isfinite(a).all():
        raise ImageError("an image's values must be finite numbers (this one holds NaN or infinity)")
    lo, hi = float(a.min(initial=0)), float(a.max(initial=0))
    if lo >= 0 and (hi <= 1 + OVERSHOOT or values.dtype == np.bool_):
        top = 1.0
    elif lo >= 0 and hi <= 255 and (values.dtype == np.uint8 or hi > 16):
        top = 255.0
    elif lo >= 0 and hi < 2 ** 32 and (whole if whole is not None else np.array_equal(a, np.round(a))):
        top = 16.0 if hi <= 16 else float(2 ** math.ceil(math.log2(hi + 1)) - 1)
    elif -1 - OVERSHOOT <= lo < 0 and hi <= 1 + OVERSHOOT:
        np.clip(a, -1, 1, out=a)
        a += 1
        top = 2.0
    else:
        raise ImageError(f"an image's values must be in 0–1, 0–255, 0–16 or −1–1 (these run from {lo:g} to "
                         f"{hi:g}); scale them to one of those")
    np.clip(a, 0, top, out=a)
    a /= top
    return a


# ---------------------------------------------------------------- a large image at a working resolution

def _find_ink(image, one_digit: bool) -> tuple[np.ndarray, np.ndarray]:
    """clean(ink_map(image)), at a working resolution where the image is large (module docstring).

    What must be WORK_SIDE pixels is the longer side of the ink's box for one digit, the shorter (the
    digits' height) for a row of them. One digit drawn with a broad pen may be read shrunk (`_thick_ink`);
    a row is not: the gaps between close digits close (a red-team's rows: 84.3 → 81.8% read whole).
    """
    extent = max if one_digit else min
    pic = _Picture(image)
    factor = _scan_factor(max(pic.size))
    if factor == 1 and one_digit and (thick := _thick_ink(pic)) is not None:
        return thick
    small, factor = pic.read(factor)
    on_sheet = _read_sheet(small)
    if on_sheet is None:
        (ink, how), on, oy, ox = _ink_map(small, cell=pic.cell), None, 0, 0
        # (a two-level image is under SCAN_SIDE: read whole, factor 1, nothing to look at closer)
        ink, mask = clean(ink, flat=True) if pic.flat else _clean_or_closer(ink, factor)
    else:  # only the sheet is read, as if it were all there was; (oy, ox): where it sits in `small`
        ink, mask, on, oy, ox = on_sheet
        how = "dark"
    if factor > 1:
        y0, y1, x0, x1 = _bbox(mask)
        finer = max(1, extent(y1 - y0, x1 - x0) * factor // WORK_SIDE)
        if finer < factor:  # small ink in a big picture: read that part again, with paper around it
            m = 2 + max(y1 - y0, x1 - x0) // 4
            y0, y1, x0, x1 = max(0, y0 - m), min(ink.shape[0], y1 + m), max(0, x0 - m), min(ink.shape[1], x1 + m)
            box = ((x0 + ox) * factor, (y0 + oy) * factor, (x1 + ox) * factor, (y1 + oy) * factor)
            small, _ = pic.read(finer, box)
            ink = _ink_map(small, how)[0]
            if on is not None:
                ink = _desk_as_paper(ink, np.asarray(Image.fromarray(on[y0:y1, x0:x1]).resize(small.size)))
            ink, mask = clean(ink)
    return pic.upright(ink), pic.upright(mask)


def _thick_ink(pic: _Picture) -> tuple[np.ndarray, np.ndarray] | None:
    """`_find_ink` of one digit drawn or cleanly scanned (paper at one exact level: `flat_paper`) up to
    SCAN_SIDE, read shrunk to LOOK_SIDE or more, where that loses nothing: its strokes are LOOK_STROKE
    wide there, its ink no shorter than the BOX it is fitted to, and no faint ink lies a stroke's width
    or more away from them (a hairline part of a broad-pen digit, washed out by the shrinking). A
    300-px drawing holds twenty times the pixels its 20-px digit needs, and reading it whole took most
    of a folder's time. Else None (thin strokes, small ink, photos: their light and texture are levelled
    at full size): the image is read whole."""
    shrink = max(pic.size) / LOOK_SIDE
    if shrink < LOOK_SHRINK:
        return None
    if shrink >= 2:
        small = pic.read(int(shrink))[0]
    else:  # (a box filter, as `reduce`'s: 144–191-px drawings were a quarter of a folder's time, read whole)
        whole = pic.read(1)[0]
        small = whole.resize((round(whole.width / LOOK_SHRINK), round(whole.height / LOOK_SHRINK)),
                             Image.Resampling.BOX)
    look, _ = _ink_map(small)
    if not flat_paper(look):  # (not `pic.flat`: a 1-bit scan's black edge or frame is read whole)
        return None
    try:
        ink, mask = clean(look)
    except BlankImageError:
        return None  # (perhaps a fine pen, which the full size shows)
    y0, y1, x0, x1 = _bbox(mask)
    width = stroke_width(mask[y0:y1, x0:x1])
    if max(y1 - y0, x1 - x0) < BOX or width < LOOK_STROKE:
        return None
    faint = look > look.min() + LOOK_FAINT * (look.max() - look.min())
    if np.count_nonzero(faint & ~_grow(mask, math.ceil(width))) > BOX // 4:  # (a soft edge is nearer)
        return None
    return pic.upright(ink), pic.upright(mask)


def _clean_or_closer(ink: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """clean(ink) of a look shrunk `factor` times; where that finds too little ink for the whole photo,
    ink at least MIN_DIGIT_SIDE pixels long in the photo is kept for the closer look, not called blank
    (a digit written an inch high on a page photographed whole: 60 px of a 2000×1500 photo was "blank")."""
    try:
        return clean(ink)
    except BlankImageError:
        if factor == 1:
            raise
        ink, mask = clean(ink, least=0.0)
        y0, y1, x0, x1 = _bbox(mask)
        if max(y1 - y0, x1 - x0) * factor < MIN_DIGIT_SIDE:
            raise
        return ink, mask


def _read_sheet(small: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None:
    """`clean` of the sheet alone, the desk set to paper, where `small` shows a `sheet` on a desk: (ink,
    mask, the sheet's mask, and its box's top and left in `small`); None where there is no sheet, no
    ink on it, or ink running off it (a shadow's edge, not a desk's: the whole photo is read).
    BlankImageError where a sheet that looked blank at `sheet`'s coarse look has no ink at this one
    either (a stroke drawn into its edge is no hole in it, but is in its convex hull)."""
    found = _sheet(small)
    if found is None:
        return None
    on, looked_blank = found
    y0, y1, x0, x1 = _bbox(on)
    on = on[y0:y1, x0:x1]
    try:
        ink, mask = clean(_desk_as_paper(_ink_map(small.crop((x0, y0, x1, y1)), "dark")[0], on))
    except BlankImageError:
        if looked_blank:
            raise BlankImageError("blank image: a sheet of paper with no ink on it") from None
        return None
    return None if (mask & ndimage.maximum_filter(~on, 3)).any() else (ink, mask, on, y0, x0)


def sheet(img: Image.Image) -> np.ndarray | None:
    """Where a photo shows a sheet of paper lying on a darker desk, the sheet (a mask), else None.

    Without it the desk, darker than the paper, was read as ink (a 7 with desk below it read as 2),
    or, filling most of the border, made the sheet the ink and the ink the paper ("not a digit"). The
    sheet is the largest region brighter than Otsu's threshold: at least SHEET_AREA of the photo, with
    no more than SHEET_INK of it ink, nearly a rectangle once that is filled in (in perspective too),
    with a wide dark surround where it does not reach the photo's edge. A drawing's exactly flat
    background (a canvas, MNIST) is never a desk; a light digit on dark fills its rectangle less, and
    paper split by ruled lines or a stroke has no wide dark surround. A sheet with no ink on it counts
    only where it is plainly a blank sheet (`_blank_sheet`), and then its convex hull is the sheet.
    """
    found = _sheet(img)
    return None if found is None else found[0]


def _sheet(img: Image.Image) -> tuple[np.ndarray, bool] | None:
    """`sheet`, and whether it looked blank (no ink on it at the coarse look)."""
    if _has_alpha(img) or max(img.size) <= SHEET_SIDE:  # a photo of a desk is larger (and no generated
        return None                                     # non-digit, drawn at 72 px, is read otherwise)
    k = -(-max(img.size) // SHEET_SIDE)
    gray = np.asarray(img.convert("L").reduce(k), dtype=np.float32) / 255.0
    rim = border(gray)
    if np.count_nonzero(rim == rim.min()) >= FLAT_BORDER * rim.size or np.ptp(gray) < MIN_CONTRAST:
        return None
    t = otsu_threshold(gray)
    if np.count_nonzero(rim <= t) < DESK_BORDER * rim.size:
        return None  # paper to the edges nearly all round: no desk to leave out (most photos stop here)
    dark = gray <= t
    labels, n = ndimage.label(~dark)
    if not n:
        return None
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    paper = labels == int(np.argmax(sizes))
    filled = _filled(paper)
    area, ink = int(filled.sum()), int(filled.sum() - paper.sum())
    if area < SHEET_AREA * gray.size or ink > SHEET_INK * area:
        return None
    fill, aspect, convex, corners = _least_rectangle(filled)
    if fill < SHEET_RECTANGLE and not (corners <= 4 and convex >= SHEET_CONVEX):
        return None  # (a sheet photographed in perspective fills its rectangle less, but has four corners)
    side = 2 * max(1, round(DESK_WIDTH * max(gray.shape))) + 1
    desk = ndimage.maximum_filter(ndimage.minimum_filter(dark & ~filled, side), side)
    edge = ndimage.maximum_filter(filled, side) & ~filled  # just beyond the sheet, within the photo
    if not edge.any() or np.count_nonzero(edge & desk) < SHEET_DESK * np.count_nonzero(edge):
        return None
    if not ink:
        if not _blank_sheet(gray, filled, aspect, convex, side):
            return None
        filled = _hull(filled)
    mask = np.asarray(Image.fromarray(filled).resize(img.size))  # (nearest)
    return ndimage.minimum_filter(mask, 2 * k + 1), not ink  # less the edge the coarse look blurred: desk, not ink


def _blank_sheet(gray: np.ndarray, region: np.ndarray, aspect: float, convex: float, side: int) -> bool:
    """Whether a light region with no ink on it is plainly a blank sheet on a desk, not plain paper lit
    unevenly (the bright middle of a vignette, 29 of the 500 paper photos of `evalsets`) nor a light bar
    on dark (a chalk 1): desk all round, no longer than SHEET_ASPECT × its width, no notch in its edge
    (ink drawn into the edge), and all of it clearly lighter than the desk around it."""
    around = ~ndimage.maximum_filter(region, side)
    if aspect > SHEET_ASPECT or convex < SHEET_CONVEX or border(region).any() or not around.any():
        return False
    return float(np.percentile(gray[region], 10) - np.percentile(gray[around], 90)) >= BLANK_SHEET_CONTRAST


def _hull(region: np.ndarray) -> np.ndarray:
    """The region's convex hull, as a mask."""
    from scipy.spatial import ConvexHull
    points = np.argwhere(region)[:, ::-1]  # (x, y)
    corners = points[ConvexHull(points).vertices]
    img = Image.new("1", region.shape[::-1], 0)
    ImageDraw.Draw(img).polygon([tuple(map(int, c)) for c in corners], fill=1, outline=1)
    return np.asarray(img)


def _filled(region: np.ndarray) -> np.ndarray:
    """The region with its holes (what it encloses, away from the image's edge) filled: what
    binary_fill_holes gives, by one labelling (several times faster)."""
    rest, _ = ndimage.label(~region)
    outside = np.unique(border(rest))
    return ~np.isin(rest, outside[outside > 0])


def _least_rectangle(region: np.ndarray) -> tuple[float, float, float, int]:
    """How the region fills its least bounding rectangle, at any angle (1 for a rectangle), that
    rectangle's longer side over its shorter, how it fills its convex hull, and how many corners that
    hull has (`_corners`)."""
    from scipy.spatial import ConvexHull
    points = np.argwhere(region & ~ndimage.binary_erosion(region)).astype(np.float64)
    try:
        hull = ConvexHull(points)
    except Exception:  # a line or a point
        return 0.0, math.inf, 0.0, 0
    corners = points[hull.vertices]
    sides = np.roll(corners, -1, 0) - corners
    angles = np.arctan2(sides[:, 0], sides[:, 1])  # the least rectangle has a side along a hull side
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    u, v = corners[:, 1] * c + corners[:, 0] * s, corners[:, 0] * c - corners[:, 1] * s
    a, b = np.ptp(u, 1) + 1, np.ptp(v, 1) + 1  # + 1: whole pixels
    least = int(np.argmin(a * b))
    area = float(region.sum())
    hull_area = hull.volume + hull.area / 2 + 1  # (2-D: volume is the area, area the perimeter) in whole pixels
    corners_kept = _corners(corners, SHEET_CORNER * np.ptp(points, 0).max())
    return (area / (a[least] * b[least]), float(max(a[least], b[least]) / min(a[least], b[least])), area / hull_area,
            corners_kept)


def _corners(polygon: np.ndarray, tolerance: float) -> int:
    """How many corners a closed polygon keeps when simplified (Douglas–Peucker) to within `tolerance`
    of it: 4 for a sheet of paper at any angle and in any perspective, 8 or more for an ellipse."""
    def kept(chain: np.ndarray) -> int:  # corners of an open chain, its last point not counted
        if len(chain) < 3:
            return 1
        (y0, x0), (y1, x1) = chain[0], chain[-1]
        off = np.abs((x1 - x0) * (chain[1:-1, 0] - y0) - (y1 - y0) * (chain[1:-1, 1] - x0)) / (math.hypot(y1 - y0, x1 - x0) or 1.0)
        k = int(np.argmax(off)) + 1
        return 1 if off[k - 1] <= tolerance else kept(chain[:k + 1]) + kept(chain[k:])
    far = np.linalg.norm(polygon[:, None] - polygon[None], axis=2)
    i, j = sorted(np.unravel_index(int(np.argmax(far)), far.shape))
    return kept(polygon[i:j + 1]) + kept(np.concatenate([polygon[j:], polygon[:i + 1]]))


def _desk_as_paper(ink: np.ndarray, on: np.ndarray) -> np.ndarray:
    """The ink map with what is off the sheet (`on` False) set to the sheet's own paper level."""
    ink = ink.copy()
    ink[~on] = np.median(ink[on])
    return ink


def _scan_factor(side: int) -> int:
    """The least factor taking `side` to SCAN_SIDE or less that a JPEG decoder mostly does itself:
    1, 2, 4, 8, then multiples of 8."""
    f = -(-side // SCAN_SIDE)
    return 1 << (f - 1).bit_length() if f <= 8 else 8 * -(-f // 8)


class _Picture:
    """An image to be read at reduced sizes, in raw (not yet EXIF-turned) pixel coordinates.

    A JPEG is decoded anew for each size by its own decoder, which at 1/2, 1/4 and 1/8 scale skips
    most of the work; any other image is decoded once, at full size, and shrunk a strip at a time.
    """

    def __init__(self, image):
        if isinstance(image, np.ndarray):
            self.img, self.name = _from_array(image), None
        elif isinstance(image, Image.Image):
            self.img, self.name = image, None
            _check_size(image, self.name)
        else:
            self.img, self.name = _open(image)
        with _reading(self.name):
            if self.img.mode == "LAB":  # (Pillow converts it to nothing else)
                self.img = self.img.getchannel("L")
            if self.img.mode in ("F", "I") or self.img.mode.startswith("I;"):
                self.img = _eight_bit(self.img)
            small = max(self.img.size) < FIELD * MAX_BLOCK
            # No light to level (`clean`'s `flat`) in a small image of two grey levels (a 1-bit scan, a
            # thresholded form cell), though its digit may fill it to its edges, which `flat_paper`
            # takes for a shadow there: levelled, a thick stroke was levelled with it. (A grey one may
            # hold a shadow: a 20-px cell with one over a corner, 300 → 270 of 300 read right unlevelled.)
            self.flat = small and _two_level(self.img)
            if small:
                self.img = _unblocked(self.img)
            self.cell = max(self.img.size) < FIELD  # (a cell cut to its digit: `light_paper` by its corners)
            if self.cell:
                self.img = _enlarged(self.img)
        self.source, self.size, self.orientation = image, self.img.size, 1
        # Only a large JPEG: a small one is decoded exactly as before, in colour, then made grey.
        self.draftable = (self.img.format in ("JPEG", "MPO") and max(self.size) > SCAN_SIDE
                          and not isinstance(image, Image.Image))
        self.decoded: tuple[int, Image.Image] | None = None  # (scale, image) of the last decoding

    def read(self, factor: int, box: tuple[int, int, int, int] | None = None) -> tuple[Image.Image, int]:
        """The box (full-size coordinates) shrunk by `factor` in mode "L" ("RGBA" where it has
        transparency), and the factor used: for a JPEG, the decoder's own 1/2, 1/4 or 1/8 times a whole
        number, which can fall short of `factor` (at most by half)."""
        if self.decoded is None or self.decoded[0] > factor:  # none yet, or too coarse for this factor
            self._decode(factor if self.decoded else factor // 2)
        scale, img = self.decoded
        x0, y0, x1, y1 = box or (0, 0, *self.size)
        box = (x0 // scale, y0 // scale, min(img.size[0], -(-x1 // scale)), min(img.size[1], -(-y1 // scale)))
        rest = max(1, factor // scale)
        return _shrink(img, box, rest), scale * rest

    def _decode(self, factor: int) -> None:
        """Decode the image (a JPEG at the coarsest of 1/8, 1/4, 1/2 that `factor` allows) and keep it.

        The first look asks for half its factor: the closer look at ink that fills a quarter of the
        image or more then reuses that decoding, and the decoder's fixed cost is paid once.
        """
        scale = min(8, 1 << (max(1, factor).bit_length() - 1)) if self.draftable else 1
        img = self.img if self.decoded is None else _open(self.source)[0]
        with _reading(self.name):
            # Grey straight from the decoder (its luma is what convert("L") computes), and smaller.
            drafted = scale > 1 and img.draft("L", (self.size[0] // scale, self.size[1] // scale))
            img.load()
            self.orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
        self.decoded = (round(self.size[0] / drafted[1][2]) if drafted else 1, img)

    def upright(self, a: np.ndarray) -> np.ndarray:
        """An array made from the raw pixels, turned as EXIF orientation says (as open_image does)."""
        turn = _TRANSPOSE.get(self.orientation)
        return a if turn is None else np.array(Image.fromarray(a).transpose(turn))


def _eight_bit(img: Image.Image) -> Image.Image:
    """A float or 16/32-bit grey image (scientific TIFFs, 10- to 16-bit scans) as 8-bit grey, by the range
    it was made in (`unit_range`): a float TIFF in 0–1 and a 10-bit scan were "blank" (Pillow's own
    conversion clips at 0 and 255)."""
    a = unit_range(np.asarray(img), whole=img.mode != "F")
    a *= 255
    return Image.fromarray(np.rint(a, out=a).astype(np.uint8), mode="L")


def _two_level(img: Image.Image) -> bool:
    """At most two grey levels and no transparency: 1-bit, or thresholded to black and white."""
    if img.mode == "1":
        return True
    if _has_alpha(img):
        return False  # (read by its alpha, `_ink_map`)
    if img.mode != "L":
        return img.getcolors(2) is not None  # (it gives up at a third colour: ~0.01 ms)
    a = np.asarray(img).ravel()  # (getcolors counts every grey level first: 0.1 ms at 200×200, this 0.03)
    return np.count_nonzero(a == a.min()) + np.count_nonzero(a == a.max()) >= a.size


def _unblocked(img: Image.Image) -> Image.Image:
    """A tiny scan enlarged by repeating each pixel k × k times (nearest neighbour: `np.kron`, or a
    viewer's "pixelated" zoom), as the tiny scan itself, to be enlarged smoothly (`_enlarged`): 40 of
    300 scikit-learn digits enlarged ×4 so were refused or misread that read right as 8×8. Else img."""
    w, h = img.size
    if min(w, h) < 2:
        return img
    a = np.asarray(img)
    # Of two rows in a row, one is not at a multiple of any k ≥ 2: where neither of the middle two repeats
    # the row before it, and so the columns, there are no blocks (a quick look: most images end here).
    my, mx = h // 2, w // 2
    if not ((a[my] == a[my - 1]).all() or (h > 2 and (a[my + 1] == a[my]).all())) or not (
            (a[:, mx] == a[:, mx - 1]).all() or (w > 2 and (a[:, mx + 1] == a[:, mx]).all())):
        return img
    # Blocks of k: each row not at a multiple of k repeats the row before it, and so each column. Which
    # rows (columns) repeat is found once; each k is then a look at those h (w) answers, not the image.
    rows = np.concatenate([[False], (a[1:] == a[:-1]).reshape(h - 1, -1).all(1)])
    cols = np.concatenate([[False], (a[:, 1:] == a[:, :-1]).reshape(h, w - 1, -1).all((0, 2))])
    if not (rows[1] and cols[1]):
        return img  # (most images: no block of two or more)
    for k in range(MAX_BLOCK, max(2, -(-max(w, h) // (FIELD - 1))) - 1, -1):  # the largest block first
        if w % k == 0 and h % k == 0 and rows.reshape(-1, k)[:, 1:].all() and cols.reshape(-1, k)[:, 1:].all():
            return img.resize((w // k, h // k), Image.Resampling.NEAREST)  # (keeps the mode, palette)
    return img


def _enlarged(img: Image.Image) -> Image.Image:
    """A scan smaller than MNIST's field (scikit-learn's 8×8 digits, 16×16 sets) enlarged smoothly to
    at least TINY_WORK px, so that its ink is found between its pixels, not on their coarse grid:
    scikit-learn's 1,797 digits as 8×8 arrays 93.7 → 97.3% read right by the bundled model, 1,000 MNIST
    test digits shrunk to 14×14 98.8 → 99.3%, stretched to fill 16×16 93.8 → 95.1%."""
    k = -(-TINY_WORK // max(img.size))
    img = img.convert("RGBA" if _has_alpha(img) else "L") if img.mode not in ("L", "RGB", "RGBA") else img
    return img.resize((img.size[0] * k, img.size[1] * k), Image.Resampling.BICUBIC)


def _shrink(img: Image.Image, box: tuple[int, int, int, int], factor: int) -> Image.Image:
    """The box of img in "L" (or "RGBA"), each factor × factor block averaged into one pixel.

    A strip at a time: converting a 40-megapixel image whole would take up to 160 MB more.
    """
    mode = "RGBA" if _has_alpha(img) else "L"
    x0, y0, x1, y1 = box
    out = Image.new(mode, (-(-(x1 - x0) // factor), -(-(y1 - y0) // factor)))
    rows = factor * max(1, STRIP_PIXELS // (x1 - x0) // factor)
    for y in range(y0, y1, rows):
        strip = img.crop((x0, y, x1, min(y1, y + rows)))
        strip = strip if strip.mode == mode else strip.convert(mode)
        out.paste(strip.reduce(factor) if factor > 1 else strip, (0, (y - y0) // factor))
    return out


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
    for b in _flat_joined(merged, height):
        width = b.x1 - b.x0
        if width > TOUCHING_RATIO * height:
            out += _cut(mask, b, max(2, int(round(width / (DIGIT_ASPECT * height)))))
        else:
            out.append(b)
    return out


def side_by_side(field: np.ndarray) -> bool:
    """Whether a 28×28 field holds several digits in a row, squeezed into one digit's field: pieces apart
    side by side (an empty column between them) across a width at least its height, two of them at
    least TALL_PIECE of the ink's height each (dots and specks, or a 5's bar drawn apart, are no digits).
    So looks 95.7% of 300 rows of 2–5 digits read as one, 1 of MNIST's 10,000 test digits (18 when any
    piece counted), 1 of 1,000 form cells (5), none of our 600 non-digits (21), pen digits, photos,
    scikit-learn's, pen letters or doodles (benchmarks/bench_number.py --rows)."""
    ink = field > SIDE_BY_SIDE_INK
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if not cols.size or cols[-1] - cols[0] < rows[-1] - rows[0]:
        return False
    pieces, _ = ndimage.label(ink.any(0))  # runs of inked columns
    height = rows[-1] - rows[0] + 1
    return sum(np.count_nonzero(ink[:, c].any(1)) >= TALL_PIECE * height  # (the rows each piece inks)
               for (c,) in ndimage.find_objects(pieces)) >= 2


def _flat_joined(boxes: list[DigitBox], height: float) -> list[DigitBox]:
    """Left-to-right boxes with each flat one (under FLAT_PIECE of the digits' height: a 5's top bar
    drawn apart, beside its body rather than over it) joined to the nearer neighbour within
    NEAR_PIECE of that height (a helper's "305" was read "305?")."""
    out = list(boxes)
    for i in [i for i, b in enumerate(boxes) if b.y1 - b.y0 < FLAT_PIECE * height][::-1]:
        b, gaps = out[i], {}
        if i > 0:
            gaps[i - 1] = b.x0 - out[i - 1].x1
        if i + 1 < len(out):
            gaps[i + 1] = out[i + 1].x0 - b.x1
        if gaps and min(gaps.values()) <= NEAR_PIECE * height:
            j = min(gaps, key=gaps.get)
            m = out[j]
            out[min(i, j)] = DigitBox(min(m.x0, b.x0), max(m.x1, b.x1), min(m.y0, b.y0), max(m.y1, b.y1))
            del out[max(i, j)]
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
    return split_row(image)[0]


def split_row(image: str | os.PathLike | bytes | Image.Image | np.ndarray) -> tuple[list[np.ndarray], float]:
    """`split_digits`, and the narrowest gap between neighbouring digits in the digits' (median) height:
    0 where two were cut apart, inf for one digit."""
    ink, mask = _find_ink(image, one_digit=False)
    digits, boxes = [], segment(mask)
    for b in boxes:
        sub = np.zeros_like(mask)
        sub[b.y0:b.y1, b.x0:b.x1] = mask[b.y0:b.y1, b.x0:b.x1]
        if sub.any():
            digits.append(fit_to_field(ink * _grow(sub, 2), sub))
    if not digits:
        raise BlankImageError("blank image: no digits found")
    height = float(np.median([b.y1 - b.y0 for b in boxes]))
    gaps = [max(0, b.x0 - a.x1) / height for a, b in zip(boxes, boxes[1:])]
    return digits, min(gaps, default=math.inf)


def naive_resize(image: str | os.PathLike | bytes | Image.Image | np.ndarray) -> np.ndarray:
    """What most MNIST demos do: grayscale, resize to 28×28, invert if light. For comparison only."""
    img = _as_image(image).convert("L").resize((FIELD, FIELD), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return 1.0 - arr if arr.mean() > 0.5 else arr
