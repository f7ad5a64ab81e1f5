import json

import pytest

from lenet5.config import PRESETS, RunConfig, from_dict, resolve
from lenet5.errors import UserError


def test_classic_preset_is_the_reports_recipe_exactly():
    cfg = resolve("classic")
    assert PRESETS["classic"] == {}
    assert (cfg.train.optimizer, cfg.train.lr, cfg.train.batch_size, cfg.train.epochs) == ("adam", 0.01, 512, 30)
    assert (cfg.model.activation, cfg.model.pooling, cfg.model.dropout, cfg.model.batch_norm) == ("sigmoid", "avg", 0.0, False)
    assert (cfg.train.schedule, cfg.train.weight_decay, cfg.train.label_smoothing, cfg.train.ema) == ("constant", 0.0, 0.0, 0.0)
    assert not cfg.data.normalize and not cfg.data.augment


def test_overrides_apply_on_top_of_a_preset_and_none_means_unset():
    cfg = resolve("modern", {"train": {"epochs": 2, "lr": None}})
    assert cfg.train.epochs == 2 and cfg.train.lr == resolve("modern").train.lr and cfg.model.activation == "relu"


@pytest.mark.parametrize("preset", ["classic", "modern", "best", "robust"])
def test_config_round_trips_through_json(preset):
    cfg = resolve(preset, {"train": {"seed": 7}})
    assert from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # JSON lists come back as the tuples


@pytest.mark.parametrize("preset, overrides, message", [
    ("classic", {"train": {"epoch": 3}}, "unknown train setting"),
    ("classic", {"optim": {}}, "unknown config section"),
    ("fancy", {}, "unknown preset 'fancy'"),
    ("classic", {"train": {"lr": -1.0}}, "learning rate must be > 0"),
    ("classic", {"train": {"schedule": "step"}}, "unknown schedule"),
    ("robust", {"data": {"negatives": -1}}, "negatives must be"),
    ("robust", {"data": {"validation": 70000}}, "validation must be"),
    ("robust", {"data": {"validation": 0}}, "negatives need held-out digits"),
])
def test_unknown_or_invalid_settings_fail_loudly(preset, overrides, message):
    with pytest.raises(UserError, match=message):
        resolve(preset, overrides)


def test_configs_are_frozen():
    with pytest.raises(Exception):
        RunConfig().train.lr = 1.0


def test_a_preset_file_reads_back_through_the_same_strict_checks(tmp_path):
    from lenet5.config import load_file
    cfg = resolve("modern", {"train": {"lr": 0.004}, "model": {"channels": (8, 24)}})
    path = tmp_path / "best.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert load_file(path) == cfg
    assert load_file(path, {"train": {"epochs": 2, "seed": None}}).train.epochs == 2
    path.write_text(json.dumps({**cfg.to_dict(), "train": {"lr": 0.004, "momentum": 0.9}}))
    with pytest.raises(UserError, match="unknown train setting"):
        load_file(path)
    path.write_text(json.dumps({"train": {"lr": -1}}))
    with pytest.raises(UserError, match="learning rate must be > 0"):
        load_file(path)
    path.write_text("[1, 2]")
    with pytest.raises(UserError, match="not a config file"):
        load_file(path)
