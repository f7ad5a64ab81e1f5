"""The `robust` recipe: batched distortions, generated non-digits, and the calibrated "not a digit" threshold."""

import numpy as np
import pytest
import torch

from lenet5 import data, negatives
from lenet5.augment import DISTORTIONS, distort, refit
from lenet5.config import resolve
from lenet5.predict import BLANK, NOT_A_DIGIT, Predictor
from lenet5.reject import DIGIT_REFUSAL, calibrate
from lenet5.views import VIEWS
from lenet5.train import split_validation


@pytest.fixture(scope="module")
def digits(data_dir):
    return data.load("mnist", "test", data_dir).images[:256]


@pytest.fixture(scope="module")
def labels(data_dir):
    return data.load("mnist", "test", data_dir).labels[:256]


def test_refitting_mnist_digits_changes_them_little_because_mnist_is_already_fitted(digits):
    assert (refit(digits) - digits).abs().mean() < 0.08


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_each_distortion_changes_the_digits_and_keeps_pixels_in_range(digits, labels, name):
    out = distort(digits, [name], torch.Generator().manual_seed(0), labels)
    assert out.shape == digits.shape and out.min() >= 0 and out.max() <= 1
    assert (out - refit(digits)).abs().mean() > 0.005, f"{name} did nothing"


def test_distortions_are_the_same_for_the_same_generator_seed(digits, labels):
    a, b, c = (distort(digits, tuple(DISTORTIONS), torch.Generator().manual_seed(s), labels) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_european_forms_add_ink_to_ones_and_sevens_only(digits, labels):
    out = distort(digits, ["european"], torch.Generator().manual_seed(0), labels)
    added = (out - refit(digits)).clamp_min(0).sum((1, 2, 3)) > 3  # a flag or a cross: several pixels of ink
    assert added[(labels == 1) | (labels == 7)].float().mean() > 0.3
    assert not added[(labels != 1) & (labels != 7)].any()
    without_labels = distort(digits, ["european"], torch.Generator().manual_seed(0))
    assert (without_labels - refit(digits)).clamp_min(0).sum((1, 2, 3)).max() < 1  # skipped: nothing added


def test_filled_digits_are_stretched_to_a_square(digits):
    from lenet5 import augment
    out = refit(digits, fill=torch.ones(len(digits), dtype=torch.bool))
    ink = out[:, 0] > 0.25
    rows, cols = ink.any(2).sum(1).float(), ink.any(1).sum(1).float()
    narrow = refit(digits)[:, 0].gt(0.25).any(1).sum(1) < 8  # 1s and other narrow digits
    assert rows.median() == pytest.approx(20, abs=2) and cols.median() == pytest.approx(20, abs=2)
    assert cols[narrow].min() >= 8  # stretched, up to FILL_STRETCH times
    assert augment.FILL_STRETCH < 20


def test_distorted_digits_are_refitted_into_mnists_20_pixel_box(digits):
    out = distort(digits, ("rotate", "shear", "aspect", "elastic"), torch.Generator().manual_seed(0))
    ink = out[:, 0] > 0.25
    rows, cols = ink.any(2).sum(1), ink.any(1).sum(1)
    assert torch.maximum(rows, cols).float().median() == pytest.approx(20, abs=2)


def test_an_unknown_distortion_is_refused_by_the_config_and_the_function(digits):
    from lenet5.errors import UserError
    with pytest.raises(UserError, match="unknown distortion"):
        resolve("robust", {"data": {"distort": ["rotate", "wobble"]}})
    with pytest.raises(ValueError, match="wobble"):
        distort(digits, ["wobble"], torch.Generator())


def test_the_held_out_images_are_the_same_for_every_run_and_never_trained_on(data_dir):
    full = data.load("mnist", "train", data_dir)
    train_a, held_a = split_validation(full, 5000)
    train_b, held_b = split_validation(full, 5000)
    assert torch.equal(held_a.images, held_b.images) and len(train_a) == 55000 and len(held_a) == 5000
    trained_on = {x.numpy().tobytes() for x in train_a.images}
    assert sum(x.numpy().tobytes() in trained_on for x in held_a.images) <= 2  # MNIST repeats an image or two


def test_the_non_digit_bank_covers_every_kind_and_is_the_same_for_a_seed(data_dir, monkeypatch, tmp_path):
    monkeypatch.setattr(negatives, "PER_KIND", 6)
    monkeypatch.setattr(negatives, "FASHION_RAW", 10)
    monkeypatch.setattr(negatives, "FASHION_PREPROCESSED", 10)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    a = negatives.bank(3, data_dir)
    assert (tmp_path / "lenet5" / f"negatives-v{negatives.VERSION}-s3.pt").is_file()
    b = negatives.bank(3, data_dir, cache=False)
    assert torch.equal(a, b) and a.shape[1:] == (1, 28, 28)
    assert len(a) >= 6 * len(negatives.KINDS) * 0.8 + 20  # a few noise images may come out blank
    assert a.amax((1, 2, 3)).min() > 0.1  # every one holds ink


def test_pen_letters_taught_as_non_digits_are_none_that_a_person_reads_as_a_digit():
    from HersheyFonts import HersheyFonts
    latin = "".join(a for f, a in negatives.PEN_ALPHABETS.items() if f != "greek")
    assert not set("OoQDIlijSsZzBbGgq0123456789") & set(latin)
    assert not set("!+$&|/\\-.,()[]") & set(latin)  # a 1 with a dot, a 4, an S, an 8, lone strokes
    font = HersheyFonts()
    font.load_default_font("greek")  # the letter each Latin one stands for there
    # Θ Ο Ι Ζ Β Γ θ ο ι ζ β σ φ δ read as 0 0 1 2 8 7 0 0 1 2 8 6 0 6
    assert not set("QOIZBGqoizbsfd") & set(negatives.PEN_ALPHABETS["greek"])
    assert all(list(font.strokes_for_text(ch)) for ch in negatives.PEN_ALPHABETS["greek"])


def test_drifting_scribbles_are_never_an_upright_stroke_nor_a_closed_loop():
    """Taught as "not a digit", they must not be a 1 (fairly straight, within 30° of vertical) or a 0
    (a path back to where it began): 500 of them, measured as drawn."""
    rng = np.random.default_rng(0)
    for _ in range(500):
        pts = negatives._drift(rng)
        chord = pts[-1] - pts[0]
        assert not (abs(chord[1]) > 1.7 * abs(chord[0]) and np.hypot(*chord) > 0.6 * len(pts))
        assert np.hypot(*chord) >= 0.4 * np.ptp(pts, 0).max()


class _Fixed(torch.nn.Module):
    """A stand-in model whose 11 logits are whatever the test puts in the image's first pixel row."""

    def forward(self, x):
        return x[:, 0, 0, :11] * 20


def _predictor(threshold):
    return Predictor(_Fixed().eval(), [str(d) for d in range(10)], {"reject": {"index": 10, "threshold": threshold}})


def _image(scores):
    a = np.zeros((28, 28), np.float32)
    a[0, :11] = scores
    a[19, 19] = 1.0  # some ink, the whole 20 px across as an MNIST digit is (else it is fitted first)
    return a


def test_an_answer_is_refused_exactly_when_the_not_a_digit_probability_reaches_the_threshold():
    p = _predictor(0.5)
    digit, other = np.eye(11)[3], np.eye(11)[10]
    [a, b] = p.predict([_image(digit), _image(other)])
    assert a.label == 3 and a.reason is None and a.not_digit < 0.5
    assert b.label is None and b.reason == NOT_A_DIGIT and b.not_digit >= 0.5
    assert len(b.probabilities) == 10 and abs(sum(b.probabilities) - 1) < 1e-6
    assert b.to_dict()["label"] is None and b.to_dict()["reason"] == NOT_A_DIGIT


def test_an_image_without_ink_is_blank_not_a_digit():
    [r] = _predictor(0.5).predict([np.zeros((28, 28))])
    assert r.label is None and r.reason == BLANK and r.probabilities is None


def test_calibration_refuses_at_most_the_target_share_of_held_out_digits(trained_run, data_dir):
    """On a 10-class model the last output is digit 9: the threshold still keeps the promised share."""
    from lenet5.checkpoint import load_model
    model, _ = load_model(trained_run)
    held = data.load("mnist", "test", data_dir).images[:2000]
    r = calibrate(model, held, held[:200])
    assert r["held_out_digits_refused"] <= DIGIT_REFUSAL + 1e-9 and 0 < r["threshold"] <= 1
    assert r["index"] == 9 and r["held_out"] == {"digits": 2000, "non_digits": 200}
    assert r["views"] == list(VIEWS)  # the threshold is on the averaged probability: readers must average too


def test_the_robust_preset_stays_under_100k_parameters_with_its_not_a_digit_output():
    from lenet5.checkpoint import build_model
    from lenet5.models import count_parameters
    model = build_model(resolve("robust"))
    assert count_parameters(model) <= 100_000
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 11)
