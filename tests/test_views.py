"""Reading a digit several ways (lenet5.views) and averaging: the views are what they say, and a model
that names them is read through all of them."""

import numpy as np
import pytest
import torch

import lenet5
from lenet5.errors import UserError
from lenet5.predict import Predictor
from lenet5.views import VIEWS, averaged, expand


def _bar() -> np.ndarray:
    """An upright stroke, 3 px wide and 16 px tall, centred in the field."""
    a = np.zeros((28, 28), np.float32)
    a[6:22, 12:15] = 1.0
    return a


def _tilt_degrees(a: np.ndarray) -> float:
    """The ink's principal axis, in degrees from upright (positive: its top leans right)."""
    y, x = np.nonzero(a > 0.3)
    w = a[y, x]
    cx, cy = np.average(x, weights=w), np.average(y, weights=w)
    cov = np.cov(np.stack([x - cx, y - cy]), aweights=w)
    vx, vy = np.linalg.eigh(cov)[1][:, -1]
    if vy > 0:
        vx, vy = -vx, -vy  # point up the image (y grows downwards)
    return float(np.degrees(np.arctan2(vx, -vy)))


def test_the_as_drawn_view_is_the_image_itself_in_numpy_and_torch():
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    views = expand(x)
    assert views.shape == (len(VIEWS) * 5, 1, 28, 28)
    assert np.allclose(views[:5, 0], x, atol=1e-6)
    assert np.allclose(expand(torch.from_numpy(x)).numpy(), views, atol=1e-5)


def test_the_turned_views_lean_an_upright_stroke_ten_degrees_each_way():
    views = expand(_bar()[None])[:, 0]
    tilts = dict(zip(VIEWS, map(_tilt_degrees, views)))
    assert abs(tilts["as drawn"]) < 0.5
    assert sorted([tilts["turned -10°"], tilts["turned +10°"]]) == pytest.approx([-10, 10], abs=1.0)


def test_the_smaller_view_shrinks_the_ink_about_the_centre_and_keeps_it_in_range():
    smaller = expand(_bar()[None])[list(VIEWS).index("smaller"), 0]
    rows = np.nonzero(smaller.max(1) > 0.5)[0]
    assert rows.max() - rows.min() + 1 == pytest.approx(16 * 0.85, abs=1.0)
    assert abs(rows.mean() - 13.5) < 0.6 and 0 <= smaller.min() and smaller.max() <= 1 + 1e-6


def test_a_model_that_names_views_is_read_as_the_mean_of_their_probabilities():
    p = lenet5.load()  # the bundled model: its threshold was calibrated on these views
    assert p.views == tuple(VIEWS)
    x = np.random.default_rng(1).random((3, 28, 28), dtype=np.float32)
    each = torch.from_numpy(p.logits(expand(x))).softmax(1).reshape(len(VIEWS), 3, -1)
    assert np.allclose(p.probabilities(x), each.mean(0).numpy(), atol=1e-6)
    assert not np.allclose(p.probabilities(x), each[0].numpy(), atol=1e-3)  # not the first view alone
    assert np.allclose(averaged(p.logits, x), p.probabilities(x), atol=1e-6)


@pytest.mark.parametrize("reject, needle", [
    ({"views": ["as drawn", "upside down"]}, "upside down"),
    ({"views": ["as drawn"] * 200_000}, "names one twice"),  # a tampered file: refused before any work
    ({"views": "as drawn"}, "not a list"), ({"views": [3]}, "not a list"),
    ({"index": "10"}, "output index"), ({"threshold": 7}, "threshold"), ({"threshold": None}, "threshold")])
def test_a_damaged_not_a_digit_entry_is_refused_in_one_line(reject, needle):
    info = {"reject": {"index": 10, "threshold": 0.5, **reject}}
    with pytest.raises(UserError, match=needle) as e:
        Predictor(torch.nn.Identity(), [str(d) for d in range(10)], info)
    assert "\n" not in str(e.value) and len(str(e.value)) < 300
    for entry in ("x", ["views"], {}):
        with pytest.raises(UserError, match="damaged"):
            Predictor(torch.nn.Identity(), [str(d) for d in range(10)], {"reject": entry})


def test_a_model_whose_outputs_do_not_match_its_classes_is_refused_at_load(tmp_path):
    from lenet5.predict import bundled_model
    ckpt = torch.load(bundled_model(), weights_only=True)
    del ckpt["reject"]  # 11 outputs, 10 classes and no "not a digit" entry
    torch.save(ckpt, tmp_path / "m.pt")
    with pytest.raises(UserError, match="11 outputs for 10 classes"):
        lenet5.load(tmp_path / "m.pt")


def test_a_run_read_before_its_training_ends_says_so_not_that_it_is_damaged(tmp_path):
    # The threshold is calibrated when the last epoch ends; a run read while training said "damaged".
    from lenet5.predict import bundled_model
    ckpt = torch.load(bundled_model(), weights_only=True)
    del ckpt["reject"]
    for done in (11, 29):  # epochs done of the preset's 30
        ckpt["epoch"], ckpt["metrics"] = done, ckpt["metrics"][:done]
        torch.save(ckpt, tmp_path / "m.pt")
        with pytest.raises(UserError, match=rf"has not finished \({done} of 30 epochs done\); let it finish, or "
                                            rf"resume it \(lenet5 train --out RUN --resume\)"):
            lenet5.load(tmp_path / "m.pt")


def test_a_model_without_views_or_with_none_is_read_once():
    for reject in ({"index": 10, "threshold": 0.5}, {"index": 10, "threshold": 0.5, "views": None}, None):
        assert Predictor(torch.nn.Identity(), [str(d) for d in range(10)], {"reject": reject}).views == ()


def test_an_onnx_export_is_read_in_the_same_views_as_the_checkpoint(tmp_path):
    """The views travel in the export's metadata (the reject entry), so both backends answer alike."""
    from lenet5.checkpoint import load_model, model_info
    from lenet5.export import _write_onnx
    from lenet5.predict import bundled_model
    model, ckpt = load_model(bundled_model())
    _write_onnx(model, torch.zeros(2, 1, 28, 28), tmp_path / "m.onnx",
                {"classes": [str(d) for d in range(10)], **model_info(ckpt, model)})
    torch_p, onnx_p = lenet5.load(), lenet5.load(tmp_path / "m.onnx")
    assert onnx_p.backend == "onnx" and onnx_p.views == torch_p.views == tuple(VIEWS)
    x = np.random.default_rng(2).random((4, 28, 28), dtype=np.float32)
    assert np.allclose(onnx_p.probabilities(x), torch_p.probabilities(x), atol=1e-5)
