import itertools

import pytest
import torch

from lenet5.errors import UserError
from lenet5.models import count_parameters, create_model, folded_for_inference, list_models, summary
from lenet5.reference import ReportNet


def test_classic_lenet5_has_the_reports_61706_parameters():
    assert count_parameters(create_model("lenet5")) == 61706


def test_same_seed_gives_the_reports_initial_weights_and_outputs():
    torch.manual_seed(3)
    ours = create_model("lenet5")
    torch.manual_seed(3)
    theirs = ReportNet()
    for name, p in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], p), name
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(ours(x), theirs(x))


def test_unknown_model_name_fails_with_the_known_ones():
    with pytest.raises(UserError, match="known: lecun1998, lenet5"):
        create_model("alexnet")
    with pytest.raises(UserError, match="unknown activation 'gelu'"):
        create_model("lenet5", activation="gelu")
    assert list_models() == ["lecun1998", "lenet5"]


@pytest.mark.parametrize("activation, pooling, dropout, batch_norm, normalize",
                         list(itertools.product(["sigmoid", "tanh", "relu"], ["avg", "max"], [0.0, 0.5],
                                                [False, True], [False, True])))
def test_every_option_combination_maps_images_to_ten_logits(activation, pooling, dropout, batch_norm, normalize):
    m = create_model("lenet5", activation=activation, pooling=pooling, dropout=dropout,
                     batch_norm=batch_norm, normalize=normalize)
    out = m(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    assert count_parameters(m) < 100_000


def test_printing_the_model_shows_layers_output_shapes_and_parameter_counts():
    text = repr(create_model("lenet5"))
    assert "conv1" in text and "6×28×28" in text and "16×5×5" in text and "61,706" in text
    rows = summary(create_model("lenet5"))
    assert [r[0] for r in rows if r[3]] == ["conv1", "conv2", "fc1", "fc2", "clf"]
    assert [r[3] for r in rows if r[3]] == [156, 2416, 48120, 10164, 850]


def test_summary_leaves_batch_norm_statistics_untouched():
    m = create_model("lenet5", batch_norm=True).train()
    before = m.bn1.running_mean.clone()
    summary(m)
    assert torch.equal(before, m.bn1.running_mean) and m.training


def test_folding_batch_norm_for_inference_keeps_the_function():
    torch.manual_seed(0)
    model = create_model("lenet5", activation="relu", pooling="max", batch_norm=True, normalize=True).train()
    model(torch.randn(64, 1, 28, 28))  # running statistics that are not the identity
    model.eval()
    folded = folded_for_inference(model)
    x = torch.randn(32, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), atol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
