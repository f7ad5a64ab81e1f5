import struct

import pytest
import torch

from conftest import run_cli
from lenet5 import viz
from lenet5.checkpoint import load_model
from lenet5.errors import UserError
from lenet5.models import create_model

FIGURES = ("curves", "feature_maps", "channels", "confusion", "mistakes")


def png_size(path):
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", raw[16:24])


def test_classic_feature_maps_have_the_reports_shapes():
    torch.manual_seed(0)
    maps, logits = viz.feature_maps(create_model("lenet5"), torch.rand(5, 1, 28, 28))
    assert maps["pool1"].shape == (5, 6, 14, 14) and maps["pool2"].shape == (5, 16, 5, 5)
    assert logits.shape == (5, 10)


def test_feature_maps_come_from_the_models_own_layers_for_every_preset(trained_run):
    model, _ = load_model(trained_run)  # relu + max-pool, standardised input
    x = torch.rand(2, 1, 28, 28)
    maps, _ = viz.feature_maps(model, x)
    assert model.normalize and model.input_std.item() != 1.0
    standardised = (x - model.input_mean) / model.input_std
    expected = model.pool1(model.act1(model.bn1(model.conv1(standardised))))
    assert torch.allclose(maps["pool1"], expected)


def test_visualize_draws_every_figure_as_a_sizeable_png(trained_run, data_dir, tmp_path):
    paths = viz.visualize(trained_run, data_dir, tmp_path / "figs", n_images=4)
    assert set(paths) == set(FIGURES)
    for name, path in paths.items():
        w, h = png_size(path)
        assert w >= 600 and h >= 300, (name, w, h)
        assert path.stat().st_size > 20_000, name  # not blank: real pixels compress worse than this
    assert not list((tmp_path / "figs").glob(".*"))


def test_visualize_cli_with_explicit_indices_and_bad_index(trained_run, tmp_path):
    r = run_cli("visualize", trained_run, "--index", "3", "17", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert all((tmp_path / f"{n}.png").is_file() for n in FIGURES)
    bad = run_cli("visualize", trained_run, "--index", "10000", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "out of range" in bad.stderr and "Traceback" not in bad.stderr


def test_a_run_folder_without_checkpoint_or_epochs_gives_a_clear_error(tmp_path, data_dir):
    (tmp_path / "config.json").write_text("{}")  # a run started, killed before its first epoch was committed
    (tmp_path / "metrics.csv").write_text("epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds\n")
    with pytest.raises(UserError, match="no finished epoch yet"):
        viz.visualize(tmp_path, data_dir)
    (tmp_path / "metrics.csv").write_text("epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds\n0,1,0.5,1,0.5,0.01,1\n")
    with pytest.raises(UserError, match="no finished epoch yet"):
        viz.visualize(tmp_path, data_dir)
    r = run_cli("visualize", tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def _draw_capturing_text(monkeypatch, draw):
    """Run `draw`, returning the text of every figure it saved and the warnings raised meanwhile."""
    import warnings
    import matplotlib.text
    texts, real_save = [], viz.save_figure
    monkeypatch.setattr(viz, "save_figure", lambda fig, path: (
        texts.extend(t.get_text() for t in fig.findobj(matplotlib.text.Text)), real_save(fig, path))[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw()
    return " ".join(texts), [str(w.message) for w in caught]


def test_chinese_figures_show_every_character_in_a_cjk_font(trained_run, data_dir, tmp_path, monkeypatch):
    if viz.cjk_font() is None:
        pytest.skip("no CJK font on this machine (CI installs fonts-noto-cjk)")
    text, warned = _draw_capturing_text(monkeypatch, lambda: viz.visualize(trained_run, data_dir, tmp_path, lang="zh"))
    assert "准确率" in text and "损失" in text and "轮次" in text and "混淆矩阵" in text and "特征图" in text
    assert not [w for w in warned if "missing from font" in w], warned  # no boxes in place of characters
    # the check can fail: the same labels in matplotlib's default font are missing glyphs
    import matplotlib.pyplot as plt
    fig = plt.figure()
    fig.suptitle("准确率")
    _, control = _draw_capturing_text(monkeypatch, lambda: viz.save_figure(fig, tmp_path / "control.png"))
    assert any("missing from font" in w for w in control)


def test_without_a_cjk_font_figures_fall_back_to_english_with_one_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(viz, "cjk_font", lambda: None)
    rows = [{"epoch": e, "train_loss": 1.0 / (e + 1), "test_loss": 1.2 / (e + 1), "train_acc": 0.9, "test_acc": 0.9}
            for e in range(4)]
    text, warned = _draw_capturing_text(monkeypatch, lambda: viz.plot_curves(rows, tmp_path / "c.png", lang="zh"))
    assert "accuracy (%)" in text and "准确率" not in text
    assert len(warned) == 1 and "no Chinese (CJK) font" in warned[0] and "\n" not in warned[0]
    with pytest.raises(UserError, match="unknown language 'fr'"):
        viz.plot_curves(rows, tmp_path / "c.png", lang="fr")
