"""The evaluation sets that are not MNIST (lenet5.evalsets): deterministic, balanced, raw images of
realistic size and polarity, readable by a trained model, and non-digits that really hold ink."""

import sys

import numpy as np
import pytest

import lenet5
from lenet5 import evalsets
from lenet5.preprocess import BlankImageError, preprocess


def _same(a, b):
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


def _paper_is_light(im) -> bool:
    g = im.mean(-1) if im.ndim == 3 else im
    return float(np.median(np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]]))) > 127


@pytest.fixture(scope="module")
def non_digits(data_dir):
    return evalsets.non_digits(160, seed=0, data_dir=data_dir)


@pytest.mark.parametrize("build", [
    lambda seed, d: evalsets.pen_digits(30, seed),
    lambda seed, d: evalsets.paper_photos(6, seed, d),
    lambda seed, d: evalsets.non_digits(16, seed, d),
    lambda seed, d: evalsets.sklearn_digits(seed),
    lambda seed, d: evalsets.doodles(11, seed),
    lambda seed, d: evalsets.pen_letters(9, seed),
], ids=["pen", "paper", "non-digits", "sklearn", "doodles", "pen-letters"])
def test_a_set_is_the_same_for_a_seed_and_differs_for_another(build, data_dir):
    (a, ya), (b, yb), (c, _) = build(0, data_dir), build(0, data_dir), build(1, data_dir)
    assert _same(a, b) and np.array_equal(ya, yb)
    assert not _same(a, c)


def test_digit_labels_are_balanced_and_in_range(data_dir):
    _, pen = evalsets.pen_digits(100, 0)
    _, photo = evalsets.paper_photos(20, 0, data_dir)
    _, sk = evalsets.sklearn_digits()
    assert np.bincount(pen, minlength=10).tolist() == [10] * 10
    assert np.bincount(photo, minlength=10).tolist() == [2] * 10
    assert len(sk) == 1797 and sk.min() == 0 and sk.max() == 9
    assert np.bincount(sk).min() >= 170


def test_non_digit_categories_are_the_eight_in_equal_numbers(non_digits):
    _, cats = non_digits
    assert set(cats) == set(evalsets.CATEGORIES) and len(evalsets.CATEGORIES) == 8
    assert all(np.sum(cats == c) == 20 for c in evalsets.CATEGORIES)


def test_every_doodle_kind_comes_in_equal_numbers_and_holds_ink():
    images, kinds = evalsets.doodles(44)
    assert [np.sum(kinds == k) for k in evalsets.DOODLES] == [4] * len(evalsets.DOODLES)
    assert all(preprocess(im).max() > 0.5 for im in images)


def test_pen_letters_come_from_fonts_the_model_never_trains_on_in_equal_numbers_and_hold_ink():
    from lenet5 import negatives
    images, fonts = evalsets.pen_letters(30)
    assert not set(evalsets.PEN_LETTER_FONTS) & set(negatives.PEN_ALPHABETS)
    assert [np.sum(fonts == f) for f in evalsets.PEN_LETTER_FONTS] == [10] * len(evalsets.PEN_LETTER_FONTS)
    assert all(preprocess(im).max() > 0.5 for im in images)


def test_images_are_raw_like_a_users_not_mnist_normalised(data_dir, non_digits):
    pen, _ = evalsets.pen_digits(60, 0)
    photos, _ = evalsets.paper_photos(10, 0, data_dir)
    sk, _ = evalsets.sklearn_digits()
    for images in (pen, photos, sk, non_digits[0], evalsets.doodles(22)[0], evalsets.pen_letters(9)[0]):
        assert all(im.dtype == np.uint8 and im.shape[:2] != (28, 28) for im in images)
    assert all(im.ndim == 3 and im.shape[2] == 3 and 150 <= min(im.shape[:2]) and max(im.shape[:2]) <= 2000
               for im in photos)
    assert all(32 <= im.shape[0] <= 96 for im in sk)
    assert all(30 <= max(im.shape) <= 300 for im in pen)
    for images in (pen, sk):  # both polarities: dark ink on light paper and light on dark
        light = [_paper_is_light(im) for im in images]
        assert 0.1 < np.mean(light) < 0.9


def test_letters_and_symbols_leave_out_what_reads_as_a_digit_or_a_lone_stroke():
    assert not set("OoQDIlijSsZzBbGgq0123456789") & set(evalsets.LETTERS)
    assert not set("/|\\-.,()[]0123456789") & set(evalsets.SYMBOLS)


def test_every_non_digit_category_renders_ink(non_digits):
    images, cats = non_digits
    for c in evalsets.CATEGORIES:
        inked = []
        for im in (im for im, k in zip(images, cats) if k == c):
            try:
                inked.append(preprocess(im).max() > 0.5)
            except BlankImageError:  # only noise may look blank (salt and pepper is all specks)
                inked.append(False)
        assert np.mean(inked) >= (0.5 if c == "noise" else 1.0), c


def test_lone_lines_lie_at_least_45_degrees_from_vertical(non_digits):
    images, cats = non_digits
    for im in (im for im, k in zip(images, cats) if k == "lines"):
        ink = 255 - im if _paper_is_light(im) else im
        ys, xs = np.nonzero(ink > ink.max() * 0.6)
        cov = np.cov(np.stack([xs, ys]).astype(float))
        vals, vecs = np.linalg.eigh(cov)
        vx, vy = vecs[:, -1]  # the line's direction: the principal axis of its ink
        assert abs(vx) >= abs(vy) * 0.85, "a near-vertical line is a 1, not a non-digit"


def test_registry_names_each_set_and_its_kind():
    assert set(evalsets.SETS) == {"sklearn-digits", "pen-digits", "form-digits", "paper-photos", "non-digits", "doodles",
                                  "pen-letters"}
    assert {s.kind for s in evalsets.SETS.values()} == {"digits", "non-digits"}


def test_missing_scikit_learn_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import then fails
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        evalsets.sklearn_digits()


def test_a_trained_model_reads_sklearn_and_pen_digits_well_above_chance(trained_run):
    p = lenet5.load(trained_run)
    for images, labels in (evalsets.sklearn_digits(), evalsets.pen_digits(300, 0)):
        pred = np.array([-1 if r.label is None else r.label for r in p.predict(images)])
        assert np.mean(pred == labels) > 0.6
