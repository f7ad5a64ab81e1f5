import copy
import csv
import json

import pytest
import torch

from lenet5 import checkpoint
from lenet5.config import resolve
from lenet5.errors import TrainingDiverged, UserError
from conftest import TRAINED_EPOCHS
from lenet5.reference import LAB_REPORT_FINAL_ACC
from lenet5.run import METRIC_FIELDS, RunFolder
from lenet5.train import ema_update, train

QUICK = {"data": {"train_subset": 6000}, "train": {"epochs": 3}}


def metrics_without_time(run):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in RunFolder(run).read_metrics_csv()]


def test_modern_passes_the_reports_final_accuracy_within_three_epochs(trained_run):
    rows = RunFolder(trained_run).read_metrics_csv()
    assert [r["epoch"] for r in rows] == list(range(TRAINED_EPOCHS))
    assert rows[-1]["test_acc"] >= LAB_REPORT_FINAL_ACC and rows[-1]["train_loss"] < rows[0]["train_loss"]


def test_the_weight_average_gives_the_initial_weights_no_share():
    torch.manual_seed(0)
    first, second = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    average = copy.deepcopy(second)
    ema_update(average, first, 0.999, step=1)  # the first step's weights, the init forgotten
    assert torch.equal(average.weight, first.weight)
    ema_update(average, second, 0.999, step=2)  # then weights 0.999 : 1 for steps 1 : 2
    expected = (0.999 * first.weight + second.weight) / 1.999
    assert torch.allclose(average.weight, expected, atol=1e-7)


def test_run_folder_holds_config_metrics_and_both_checkpoints(trained_run, data_dir):
    cfg = json.loads((trained_run / "config.json").read_text())
    assert cfg["preset"] == "modern" and cfg["train"]["seed"] == 0
    meta = json.loads((trained_run / "run.json").read_text())
    assert meta["device"] == "cpu" and {"torch", "lenet5", "python"} <= set(meta["versions"])
    assert meta["data"]["dataset"] == "mnist" and meta["data"]["dir"] == str(data_dir.resolve())
    with open(trained_run / "metrics.csv") as fh:
        assert tuple(next(csv.reader(fh))) == METRIC_FIELDS
    ckpt = checkpoint.load(trained_run)
    assert ckpt["model_name"] == "lenet5" and ckpt["epoch"] == TRAINED_EPOCHS and len(ckpt["metrics"]) == TRAINED_EPOCHS
    assert {"model", "optimizer", "scheduler", "rng", "config"} <= set(ckpt)
    assert (trained_run / "checkpoints" / "best.pt").is_file()
    assert not list(trained_run.rglob(".*.tmp"))


def test_same_seed_gives_identical_metrics(data_dir, tmp_path):
    for name in ("a", "b"):
        train(resolve("classic", QUICK), tmp_path / name, data_dir=data_dir, device="cpu", log=None)
    assert metrics_without_time(tmp_path / "a") == metrics_without_time(tmp_path / "b")
    other = resolve("classic", {**QUICK, "train": {"epochs": 3, "seed": 1}})
    train(other, tmp_path / "c", data_dir=data_dir, device="cpu", log=None)
    assert metrics_without_time(tmp_path / "a") != metrics_without_time(tmp_path / "c")


@pytest.mark.parametrize("preset", ["classic", "best"])  # best: schedule, EMA, augmentation RNG all resume too
def test_resume_continues_the_same_trajectory(data_dir, tmp_path, preset):
    cfg = resolve(preset, QUICK)
    train(cfg, tmp_path / "whole", data_dir=data_dir, device="cpu", log=None)

    def interrupt_after_first_epoch(line):
        if line.startswith("epoch:0,"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", data_dir=data_dir, device="cpu", log=interrupt_after_first_epoch)
    assert len(RunFolder(tmp_path / "cut").read_metrics_csv()) == 1
    train(None, tmp_path / "cut", resume=True, data_dir=data_dir, device="cpu", log=None)
    assert metrics_without_time(tmp_path / "cut") == metrics_without_time(tmp_path / "whole")


def test_an_existing_run_is_never_overwritten_without_resume(trained_run, data_dir):
    before = (trained_run / "metrics.csv").read_bytes()
    with pytest.raises(UserError, match="already holds a run"):
        train(resolve("modern", {"train": {"epochs": 2}}), trained_run, data_dir=data_dir, log=None)
    with pytest.raises(UserError, match="other settings.*train.epochs"):
        train(resolve("modern", {"train": {"epochs": 5}}), trained_run, resume=True, data_dir=data_dir, log=None)
    assert (trained_run / "metrics.csv").read_bytes() == before


def test_a_diverging_run_stops_with_a_clear_message_and_saves_nothing_of_it(data_dir, tmp_path):
    cfg = resolve("modern", {"data": {"train_subset": 2048}, "train": {"lr": 1e12, "schedule": "constant"}})
    with pytest.raises(TrainingDiverged, match="diverged at epoch 0.*lower learning rate"):
        train(cfg, tmp_path / "nan", data_dir=data_dir, device="cpu", log=None)
    assert not (tmp_path / "nan" / "checkpoints" / "last.pt").exists()


def test_unavailable_device_is_a_user_error(data_dir, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UserError, match="'cuda' is not available"):
        train(resolve("classic", QUICK), tmp_path / "x", data_dir=data_dir, device="cuda", log=None)
