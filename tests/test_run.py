"""The run folder: it reads back what it wrote, remembers its data, and survives a kill at any write."""

import functools
import json
import os
import shutil
import subprocess

import pytest
import torch

from conftest import run_cli
from lenet5 import config, data, files
from lenet5.checkpoint import load
from lenet5.config import resolve
from lenet5.errors import UserError
from lenet5.evaluate import evaluate_run
from lenet5.run import WALL_CLOCK_FIELDS, RunFolder
from lenet5.train import train

# Three short epochs whose test accuracy does not rise every epoch, so best.pt is not always written.
REAL_REPLACE = os.replace
SHORT = resolve("classic", {"data": {"train_subset": 1024}, "train": {"epochs": 3, "batch_size": 128}})


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the code under test catches a BaseException it does not know."""


def without_wall_clock(rows):
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK_FIELDS} for r in rows]


def assert_same_result(run, reference):
    """Byte for byte except wall-clock values: config.json, metrics.csv without `seconds`, checkpoints."""
    a, b = RunFolder(run), RunFolder(reference)
    assert a.config_file.read_bytes() == b.config_file.read_bytes()
    assert without_wall_clock(a.read_metrics_csv()) == without_wall_clock(b.read_metrics_csv())
    for which in ("last", "best"):
        x, y = load(a.checkpoint(which)), load(b.checkpoint(which))
        assert x["epoch"] == y["epoch"] and without_wall_clock(x["metrics"]) == without_wall_clock(y["metrics"])
        for part in ("model", "optimizer"):
            xs, ys = x[part], y[part]
            flat = lambda d: {k: v for k, v in torch.utils._pytree.tree_flatten_with_path(d)[0]}  # noqa: E731
            assert flat(xs).keys() == flat(ys).keys()
            for k, v in flat(xs).items():
                assert (torch.equal(v, flat(ys)[k]) if isinstance(v, torch.Tensor) else v == flat(ys)[k]), (which, part, k)
    assert not list(run.rglob(".*.tmp")), "a temporary file survived"


@pytest.fixture(scope="module")
def cached_data():
    """The IDX files parsed once for the many short runs below, and 1,000 test images instead of
    10,000: what is checked here is the order of writes, not accuracy."""
    @functools.lru_cache(maxsize=None)
    def load(dataset="mnist", split="train", data_dir=None, *args):
        s = real_load(dataset, split, data_dir, *args)
        return s if split == "train" else data.Split(s.images[:1000], s.labels[:1000], s.classes)
    real_load = data.load
    return load


@pytest.fixture
def fast_load(monkeypatch, cached_data):
    monkeypatch.setattr(data, "load", cached_data)


def renames_in_a_whole_run(path, data_dir):
    calls = []
    real = os.replace

    def counting(src, dst):
        calls.append(str(dst))
        return real(src, dst)

    os.replace = counting
    try:
        train(SHORT, path, data_dir=data_dir, device="cpu", log=None)
    finally:
        os.replace = real
    return calls


def kill_at(k, when, stale_copy=True):
    """An os.replace that dies at its k-th call, before or after renaming, leaving the temporary file
    of the rename it interrupts as a killed process would."""
    real, count = os.replace, [0]

    def replace(src, dst):
        count[0] += 1
        if count[0] == k and when == "before":
            if stale_copy:
                shutil.copy(src, os.path.join(os.path.dirname(src), f".{os.path.basename(dst)}.999999.tmp"))
            raise Killed
        real(src, dst)
        if count[0] == k and when == "after":
            raise Killed
    return replace


def test_a_kill_at_any_write_resumes_to_exactly_the_uninterrupted_result(tmp_path, data_dir, fast_load, monkeypatch):
    renames = renames_in_a_whole_run(tmp_path / "whole", data_dir)
    files_written = {os.path.basename(p) for p in renames}
    assert {"config.json", "run.json", "last.pt", "best.pt", "metrics.csv"} == files_written
    assert renames.count(str(tmp_path / "whole" / "checkpoints" / "best.pt")) < SHORT.train.epochs  # not every epoch
    for k in range(1, len(renames) + 1):
        for when in ("before", "after"):
            run = tmp_path / f"cut-{k}-{when}"
            monkeypatch.setattr(files.os, "replace", kill_at(k, when))
            with pytest.raises(Killed):
                train(SHORT, run, data_dir=data_dir, device="cpu", log=None)
            monkeypatch.setattr(files.os, "replace", REAL_REPLACE)
            if (run / "config.json").is_file():
                train(None, run, resume=True, device="cpu", log=None)  # the data folder: the one recorded
            else:  # killed before the folder held its config: there is nothing to resume, start again
                with pytest.raises(UserError, match="nothing to resume"):
                    train(None, run, resume=True, device="cpu", log=None)
                train(SHORT, run, data_dir=data_dir, device="cpu", log=None)
            assert_same_result(run, tmp_path / "whole")
            assert RunFolder(run).status() == "complete"


def test_readers_take_the_committed_metrics_when_metrics_csv_lags_behind(tmp_path, data_dir, fast_load, monkeypatch):
    renames = renames_in_a_whole_run(tmp_path / "whole", data_dir)
    last_commit = max(i for i, p in enumerate(renames, 1) if p.endswith("last.pt"))
    monkeypatch.setattr(files.os, "replace", kill_at(last_commit, "after"))
    with pytest.raises(Killed):
        train(SHORT, tmp_path / "cut", data_dir=data_dir, device="cpu", log=None)
    monkeypatch.setattr(files.os, "replace", REAL_REPLACE)
    run = RunFolder(tmp_path / "cut")
    assert len(run.read_metrics_csv()) == SHORT.train.epochs - 1  # the kill's window
    assert len(run.metrics()) == SHORT.train.epochs and run.status() == "complete"
    assert evaluate_run(run.path, data_dir)["accuracy"] == pytest.approx(run.metrics()[-1]["test_acc"], abs=1e-6)


def test_config_json_reads_back_through_the_same_code(tmp_path, data_dir, fast_load):
    train(SHORT, tmp_path / "r", data_dir=data_dir, device="cpu", log=None)
    assert config.from_dict(json.loads((tmp_path / "r" / "config.json").read_text())) == SHORT
    assert RunFolder(tmp_path / "r").config() == SHORT


def test_later_commands_use_the_data_folder_the_run_was_trained_on(tmp_path, data_dir):
    own = tmp_path / "my-data" / "mnist"
    own.mkdir(parents=True)
    for p in (data_dir / "mnist").iterdir():
        os.symlink(p, own / p.name)
    offline = {"LENET5_DATA_DIR": str(tmp_path / "empty"), "LENET5_MIRRORS": "http://127.0.0.1:9/"}
    r = run_cli("train", "--subset", "512", "--epochs", "1", "--out", tmp_path / "run", "--data-dir", tmp_path / "my-data",
                "--quiet", "--no-report", env_extra=offline)
    assert r.returncode == 0, r.stderr
    for command in (["evaluate", tmp_path / "run"], ["report", tmp_path / "run"],
                    ["export", tmp_path / "run", "--format", "pt"]):
        r = run_cli(*command, env_extra=offline, cwd=tmp_path)
        assert r.returncode == 0, (command, r.stderr)


def test_a_folder_whose_first_epoch_never_finished_resumes_from_its_config(tmp_path, data_dir, fast_load, monkeypatch):
    renames = renames_in_a_whole_run(tmp_path / "whole", data_dir)
    first_checkpoint = renames.index(str(tmp_path / "whole" / "checkpoints" / "best.pt")) + 1
    monkeypatch.setattr(files.os, "replace", kill_at(first_checkpoint, "before", stale_copy=False))
    with pytest.raises(Killed):
        train(SHORT, tmp_path / "cut", data_dir=data_dir, device="cpu", log=None)
    monkeypatch.setattr(files.os, "replace", REAL_REPLACE)
    assert RunFolder(tmp_path / "cut").status() == "new"
    train(None, tmp_path / "cut", resume=True, device="cpu", log=None)
    assert_same_result(tmp_path / "cut", tmp_path / "whole")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 700 KB tmpfs (root only, as in CI): room for one checkpoint of the report's model, not two."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(mount)]).returncode:
        pytest.skip("needs root to mount a tmpfs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)])


def test_a_full_disk_is_one_line_and_the_run_resumes_once_there_is_room(tiny_disk, tmp_path):
    args = ["--subset", "1024", "--epochs", "3", "--batch-size", "128", "--quiet", "--no-report"]
    r = run_cli("train", *args, "--out", tiny_disk / "run")
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left" in lines[0] and "--resume" in lines[0] and "Traceback" not in r.stderr
    assert not list(tiny_disk.rglob(".*.tmp")) and not (tiny_disk / "run" / "checkpoints" / "last.pt").exists()
    subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_disk)], check=True)
    assert run_cli("train", "--out", tiny_disk / "run", "--resume", "--quiet", "--no-report").returncode == 0
    assert run_cli("train", *args, "--out", tmp_path / "whole").returncode == 0
    assert_same_result(tiny_disk / "run", tmp_path / "whole")


def test_a_second_trainer_on_the_same_folder_is_refused(tmp_path, data_dir):
    run = RunFolder(tmp_path / "r")
    with run.writing():
        with pytest.raises(UserError, match="another lenet5 process is training"):
            train(SHORT, run.path, data_dir=data_dir, device="cpu", log=None)


def test_a_write_that_fails_leaves_neither_the_file_nor_the_folders_it_made(tmp_path):
    """(An export interrupted before it wrote `--out new-folder/model.onnx` left new-folder/ behind.)"""
    (tmp_path / "kept").mkdir()
    for target in (tmp_path / "new" / "sub" / "m.onnx", tmp_path / "kept" / "m.onnx"):
        with pytest.raises(KeyboardInterrupt), files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept"]  # the folder that was there stays
    files.write_text_atomic(tmp_path / "new" / "m.json", "{}")
    assert (tmp_path / "new" / "m.json").read_text() == "{}"
