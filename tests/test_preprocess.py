"""Each preprocessing step on its own, and the whole pipeline against MNIST's own construction."""

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from lenet5 import data
from lenet5.preprocess import (BOX, BlankImageError, ImageError, clean, ink_map, naive_resize, open_image,
                               otsu_threshold, preprocess, segment, split_digits, stroke_width)


def canvas(h=200, w=160, paper=235, ink=30):
    """A dark vertical bar ("1") on light paper, off-centre."""
    a = np.full((h, w), paper, np.uint8)
    a[40:170, 100:112] = ink
    return a


def test_dark_ink_on_light_paper_is_inverted_and_light_on_dark_is_kept():
    dark_on_light = ink_map(Image.fromarray(canvas()))
    light_on_dark = ink_map(Image.fromarray(255 - canvas()))
    for m in (dark_on_light, light_on_dark):
        assert m[100, 105] > 0.8 and m[10, 10] < 0.2


def test_transparent_background_counts_as_paper():
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[20:80, 45:55] = (255, 255, 255, 255)  # white ink on a transparent sheet
    m = ink_map(Image.fromarray(rgba, "RGBA"))
    assert m[50, 50] == 1 and m[5, 5] == 0


def test_otsu_separates_two_populations():
    values = np.concatenate([np.full(1000, 0.1), np.full(300, 0.9)])
    assert 0.1 <= otsu_threshold(values) < 0.9


def test_clean_removes_paper_texture_and_specks():
    rng = np.random.default_rng(0)
    a = canvas().astype(float) + rng.normal(0, 6, (200, 160))
    a[5:8, 5:8] = 40  # a speck of dirt
    ink, mask = clean(ink_map(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))))
    assert mask[100, 105] and not mask[6, 6] and not mask[150, 20]
    assert ink[150, 20] == 0


def test_stroke_width_is_measured_in_pixels():
    m = np.zeros((100, 100), bool)
    m[10:90, 40:50] = True
    assert stroke_width(m) == pytest.approx(10, abs=2)


def test_output_is_fitted_into_20px_and_centred_by_mass_like_mnist():
    x = preprocess(canvas())
    assert x.shape == (28, 28) and x.dtype == np.float32 and x.max() == pytest.approx(1)
    rows = np.nonzero(x.max(1) > 0.05)[0]
    assert rows[-1] - rows[0] + 1 in (BOX, BOX + 1)  # longer side 20 px (+1 for anti-aliased edges)
    cy, cx = ndimage.center_of_mass(x)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def test_real_mnist_digits_survive_preprocessing_almost_unchanged(data_dir):
    x, _ = data.load_arrays("mnist", "test", data_dir)
    for d in x[:20]:
        out = preprocess(d.astype(np.float32) / 255)  # a 28×28 array: full pipeline, still MNIST-like
        a, b = out > 0.3, d > 77
        assert (a & b).sum() / (a | b).sum() > 0.5


def test_a_thin_pen_on_a_large_image_is_thickened_to_mnist_strokes():
    a = np.full((400, 400), 250, np.uint8)
    a[50:350, 198:201] = 0  # 3-px line on 400 px: would be 0.2 px at 20 px
    x = preprocess(a)
    assert (x > 0.5).sum(1).max() >= 2


@pytest.mark.parametrize("fmt, mode", [("PNG", "L"), ("JPEG", "RGB"), ("BMP", "RGB"), ("GIF", "P"),
                                       ("TIFF", "L"), ("WEBP", "RGB"), ("PNG", "RGBA")])
def test_every_common_format_and_mode_opens(fmt, mode):
    buf = io.BytesIO()
    Image.fromarray(canvas()).convert(mode).save(buf, format=fmt)
    x = preprocess(buf.getvalue())
    assert x.shape == (28, 28) and x.max() > 0.9


def test_a_blank_image_is_reported_as_blank_not_classified():
    for blank in (np.full((100, 100), 240, np.uint8), np.random.default_rng(0).normal(240, 3, (100, 100))):
        with pytest.raises(BlankImageError, match="blank image"):
            preprocess(np.clip(blank, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("payload, message", [
    (b"", "empty"),
    (b"this is not an image", "not an image"),
    (None, "truncated or corrupt"),
])
def test_bad_bytes_give_a_clear_image_error(payload, message):
    if payload is None:
        buf = io.BytesIO()
        noisy = np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)
        Image.fromarray(noisy).save(buf, format="PNG")
        payload = buf.getvalue()[: len(buf.getvalue()) // 2]
    with pytest.raises(ImageError, match=message):
        open_image(payload)


def test_a_decompression_bomb_is_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buf, format="PNG")  # tiny file, 900 megapixels
    with pytest.raises(ImageError, match="too large"):
        open_image(buf.getvalue())


def test_a_zero_sized_array_is_refused():
    with pytest.raises(ImageError, match="not an image"):
        preprocess(np.zeros((0, 0), np.uint8))


def test_digits_in_a_row_are_split_left_to_right_with_broken_strokes_merged():
    a = np.full((120, 400), 245, np.uint8)
    a[20:100, 40:50] = 0            # "1"
    a[20:28, 150:200] = 0           # a "7": its bar ...
    a[32:100, 190:198] = 0          # ... and a separate stem, broken from it
    a[20:100, 300:312] = 0          # "1"
    boxes = segment(clean(ink_map(Image.fromarray(a)))[1])
    assert [(b.x0 // 10, b.x1 // 10) for b in boxes] == [(4, 5), (15, 20), (30, 31)]
    assert len(split_digits(a)) == 3


def test_touching_digits_are_cut_apart():
    a = np.full((120, 300), 245, np.uint8)
    for x0 in (40, 110, 180):       # three "0"-like rings joined by a line through them
        a[20:100, x0:x0 + 60] = 0
        a[30:90, x0 + 10:x0 + 50] = 245
    a[58:62, 40:240] = 0
    assert len(split_digits(a)) == 3


def test_naive_resize_is_what_the_comparison_says():
    assert naive_resize(canvas()).shape == (28, 28)
