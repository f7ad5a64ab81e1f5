import json
import os
import subprocess
import sys

import pytest
from optuna.trial import TrialState

from conftest import DATA_DIR, run_cli, study_trials, wait_for_trials
from lenet5.config import load_file
from lenet5.errors import UserError
from lenet5.run import RunFolder
from lenet5.sweep import StudyRef
from lenet5.tune import SPACES, check_space, tune

# A learning rate that learns nothing beside one that learns: some trials must fall behind the median.
SPACE = {"train.lr": {"choices": [1e-6, 0.003]}, "model.dropout": {"low": 0.0, "high": 0.3}}
SEARCH = ["--preset", "modern", "--epochs", "3", "--subset", "1024", "--validation", "2000", "--seed", "0"]


def test_tune_prunes_on_validation_scores_and_its_best_json_trains(postgres_url, tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    out = tmp_path / "tune"
    r = run_cli("tune", *SEARCH, "--n-trials", "9", "--space", space, "--storage", postgres_url, "--out", out,
                timeout=900)
    assert r.returncode == 0, r.stderr
    trials = study_trials(postgres_url, out, "tune")
    states = [t.state for t in trials]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert states.count(TrialState.COMPLETE) + len(pruned) == 9 and pruned
    assert all(len(t.intermediate_values) < 3 for t in pruned)  # stopped before the last epoch
    for t in trials:  # scored on the held-out training images only: no trial loaded the test set
        run = RunFolder(out / "trials" / t.user_attrs["folder"])
        assert run.meta()["evaluated_on"] == "validation" and run.config().data.validation == 2000
    best = max((t for t in trials if t.value is not None), key=lambda t: t.value)
    cfg = load_file(out / "best.json")
    assert (cfg.train.lr, cfg.model.dropout) == (best.params["train.lr"], best.params["model.dropout"])
    assert cfg.train.epochs == 3
    assert cfg.data.validation == 0 and cfg.data.train_subset is None  # the whole train set
    final = (out / f"best-{best.number:04d}" / "metrics.csv").read_text().splitlines()
    assert len(final) == 4 and f"test accuracy {float(final[-1].split(',')[4]):.4f}" in r.stdout
    assert len((out / "trials.csv").read_text().splitlines()) == 1 + len(trials)
    for name in ("history", "importances", "parallel", "curves"):
        assert (out / f"{name}.png").stat().st_size > 10_000
    trained = run_cli("train", "--config", out / "best.json", "--epochs", "1", "--subset", "512", "--out",
                      tmp_path / "again", "--no-report")
    assert trained.returncode == 0, trained.stderr
    assert json.loads((tmp_path / "again" / "config.json").read_text())["preset"] == "modern-tuned"


def test_sigterm_stops_tune_and_queues_the_interrupted_trials_again(tmp_path):
    out = tmp_path / "tune"
    p = subprocess.Popen([sys.executable, "-m", "lenet5", "tune", "--preset", "modern", "--epochs", "3", "--subset",
                          "4096", "--validation", "2000", "--n-trials", "4", "--jobs", "2", "--out", str(out)],
                         env={**os.environ, "LENET5_DATA_DIR": str(DATA_DIR)}, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_trials(lambda ts: sum(t.state == TrialState.RUNNING and "folder" in t.user_attrs for t in ts) == 2,
                    None, out, "tune")  # both training
    p.terminate()
    _, err = p.communicate(timeout=30)
    assert p.returncode == 143 and "interrupted" in err and "run the same command again" in err
    trials = study_trials(None, out, "tune")
    failed = [t for t in trials if t.state == TrialState.FAIL]
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert len(failed) == 2 and TrialState.RUNNING not in {t.state for t in trials}, ([t.state for t in trials], err)
    # each is queued once more with its own settings, and will resume its own run folder
    assert sorted(t.params["train.lr"] for t in waiting) == sorted(t.params["train.lr"] for t in failed)
    assert sorted(t.user_attrs["folder"] for t in waiting) == sorted(t.user_attrs["folder"] for t in failed)


def test_two_workers_run_exactly_the_number_of_trials_asked_for(tmp_path):
    # Each worker used to start its next trial before the other's finish was counted: 3 asked, 4 run.
    out = tmp_path / "tune"
    r = run_cli("tune", "--preset", "modern", "--epochs", "1", "--subset", "512", "--validation", "2000",
                "--n-trials", "3", "--jobs", "2", "--out", out, "--no-final", timeout=600)
    assert r.returncode == 0, r.stderr
    states = [t.state for t in study_trials(None, out, "tune")]
    assert len(states) == 3 and set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}, states


@pytest.mark.parametrize("space, message", [
    ({"train.learning_rate": {"low": 0.001, "high": 0.01}}, "unknown setting 'train.learning_rate'"),
    ({"train.lr": {"low": 0.01, "high": 0.001}}, "needs low < high"),
    ({"train.lr": {"low": 0.0, "high": 0.01, "log": True}}, "low > 0 with log"),
    ({"train.schedule": {"low": 0, "high": 1}}, "not a number; give it choices"),
    ({"train.schedule": {"choices": ["cosine", "step"]}}, "unknown schedule 'step'"),
    ({"train.lr": {"low": 0.001}}, "needs either low and high"),
])
def test_a_bad_search_space_is_refused_before_any_trial(space, message):
    with pytest.raises(UserError, match=message):
        check_space("modern", space)


def test_every_presets_own_space_is_valid():
    for preset, space in SPACES.items():
        check_space(preset, space)


def test_a_study_holding_another_search_is_refused(tmp_path, data_dir):
    args = dict(out=tmp_path, data_dir=data_dir, epochs=1, subset=256, validation=1000, final=False, log=None)
    tune("modern", n_trials=1, space={"train.lr": {"choices": [0.003]}}, **args)
    with pytest.raises(UserError, match=r"searches with other settings \(space\)"):
        tune("modern", n_trials=1, space={"train.lr": {"choices": [0.001]}}, **args)


def test_storage_and_seed_mistakes_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="--storage takes a postgresql:// URL"):
        StudyRef("mysql://db/x", tmp_path, "x").open()
    with pytest.raises(UserError, match="--seed repeats a search run by one worker"):
        tune("modern", seed=1, jobs=2, out=tmp_path)
    r = run_cli("tune", "--storage", "postgresql://nobody@127.0.0.1:1/none", "--out", tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("lenet5: error: cannot use the database at "
                                                     "postgresql://nobody@127.0.0.1:1/none: ")
