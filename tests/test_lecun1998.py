"""LeNet-5 as LeCun et al. 1998 published it: its layers, its loss, its schedule, and that it trains."""

import math

import pytest
import torch

from conftest import run_cli
from lenet5.checkpoint import build_model
from lenet5.config import resolve
from lenet5.errors import UserError
from lenet5.losses import MAP_J, criterion
from lenet5.models import (C3_TABLE, PAPER_LAYERS, PAPER_PARAMETERS, PaperInput, create_model, digit_prototypes,
                           scaled_tanh, summary)
from lenet5.run import RunFolder
from lenet5.train import LECUN1998_LAST_RATE, LECUN1998_RATES, lecun1998_factor


def test_every_layer_has_the_papers_trainable_parameter_count():
    model = create_model("lecun1998")
    per_layer = {PAPER_LAYERS[name]: params for name, _, _, params in summary(model) if name in PAPER_LAYERS}
    assert per_layer == PAPER_PARAMETERS == {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164}
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 60_000
    assert "prototypes" not in dict(model.named_parameters()) and "rbf.prototypes" in model.state_dict()


def test_layer_shapes_follow_the_paper():
    shapes = {name: shape for name, _, shape, _ in summary(create_model("lecun1998"))}
    assert shapes["input"] == (1, 32, 32) and shapes["conv1"] == (6, 28, 28) and shapes["pool1"] == (6, 14, 14)
    assert shapes["conv2"] == (16, 10, 10) and shapes["pool2"] == (16, 5, 5) and shapes["conv3"] == (120, 1, 1)
    assert shapes["fc"] == (84,) and shapes["rbf"] == (10,)


def test_c3_map_reads_only_the_s2_maps_of_table_one():
    torch.manual_seed(0)
    c3 = create_model("lecun1998").conv2
    assert [len(t) for t in C3_TABLE] == [3] * 6 + [4] * 9 + [6]
    assert C3_TABLE[0] == (0, 1, 2) and C3_TABLE[6] == (0, 1, 2, 3) and C3_TABLE[12] == (0, 1, 3, 4)
    x = torch.randn(1, 6, 14, 14)
    base = c3(x)
    for i in range(6):
        bumped = x.clone()
        bumped[0, i] += 1.0
        changed = {j for j in range(16) if not torch.allclose(c3(bumped)[0, j], base[0, j])}
        assert changed == {j for j, inputs in enumerate(C3_TABLE) if i in inputs}, i


def test_the_input_is_32x32_at_the_papers_levels():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10, 10] = 1.0
    out = PaperInput()(x)
    assert out.shape == (1, 1, 32, 32)
    assert out[0, 0, 12, 12].item() == pytest.approx(1.175) and out[0, 0, 0, 0].item() == pytest.approx(-0.1)
    assert out.unique().tolist() == pytest.approx([-0.1, 1.175])


def test_the_squashing_function_is_scaled_tanh():
    assert scaled_tanh(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=1e-4)
    assert scaled_tanh(torch.tensor(100.0)).item() == pytest.approx(1.7159)


def test_prototypes_are_distinct_plus_minus_one_bitmaps_and_the_nearest_wins():
    p = digit_prototypes()
    assert p.shape == (10, 84) and set(p.unique().tolist()) == {-1.0, 1.0}
    distances = torch.cdist(p, p, p=0)  # pixels that differ
    assert distances[~torch.eye(10, dtype=bool)].min() >= 8  # no two digits' codes are close
    model = create_model("lecun1998")
    logits = model.rbf(p)  # an F6 output exactly on prototype k
    assert torch.equal(logits.argmax(1), torch.arange(10)) and torch.allclose(logits.diagonal(), torch.zeros(10))
    assert torch.allclose(-logits, torch.cdist(p, p) ** 2, atol=1e-3)


def test_map_loss_is_the_papers_equation_nine():
    torch.manual_seed(0)
    y_dist = torch.rand(5, 10) * 50  # RBF distances y_i
    labels = torch.randint(10, (5,))
    expected = (y_dist[torch.arange(5), labels] + torch.log(math.exp(-MAP_J) + torch.exp(-y_dist).sum(1))).mean()
    assert criterion("map")(-y_dist, labels).item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_schedule_is_the_papers_rate_per_pass():
    paper = [0.0005] * 2 + [0.0002] * 3 + [0.0001] * 3 + [0.00005] * 4 + [0.00001] * 8
    assert [0.0005 * lecun1998_factor(e) for e in range(20)] == pytest.approx(paper)
    assert sum(n for n, _ in LECUN1998_RATES) == 12 and LECUN1998_LAST_RATE == 0.00001


def test_the_preset_is_the_paper_and_rejects_options_it_does_not_have():
    cfg = resolve("lecun1998")
    assert (cfg.model.name, cfg.train.loss, cfg.train.schedule, cfg.train.epochs) == ("lecun1998", "map", "lecun1998", 20)
    assert type(build_model(cfg)).__name__ == "LeCun1998"
    assert set(resolve("lecun1998-distorted").data.distort) == {"shear", "aspect", "jitter"}
    with pytest.raises(UserError, match="bad options for model 'lecun1998'"):
        build_model(resolve("lecun1998", {"model": {"activation": "relu"}}))
    with pytest.raises(UserError, match="leave data.normalize off"):
        build_model(resolve("lecun1998", {"data": {"normalize": True}}))
    with pytest.raises(UserError, match="unknown loss 'hinge'"):
        resolve("classic", {"train": {"loss": "hinge"}})
    with pytest.raises(UserError, match="label smoothing applies to the cross-entropy loss only"):
        resolve("lecun1998", {"train": {"label_smoothing": 0.1}})


def test_a_short_lecun1998_run_learns_with_the_papers_rates_and_reports_against_the_paper(tmp_path):
    out = tmp_path / "paper"
    r = run_cli("train", "--preset", "lecun1998", "--epochs", "3", "--subset", "3000", "--out", out, "--quiet",
                timeout=600)
    assert r.returncode == 0, r.stderr
    rows = RunFolder(out).read_metrics_csv()
    assert rows[-1]["test_acc"] > 0.7  # chance is 0.1
    # the lr column is the rate after each epoch: epochs 0-1 ran at 0.0005, epoch 2 at 0.0002
    assert [r["lr"] for r in rows] == pytest.approx([0.0005, 0.0002, 0.0002])
    text = (out / "report.md").read_text()
    assert "This run vs LeCun et al. 1998" in text and "The paper's test error is 0.95% (no distortions)" in text
    assert "60,000 trainable parameters" in text and "the paper's MAP loss" in text
