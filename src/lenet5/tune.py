"""Hyperparameter search with Optuna: TPE proposes, validation accuracy prunes, the test set judges once.

    from lenet5.tune import tune
    result = tune("modern", n_trials=30, out="runs/tune-modern", data_dir="../shared/data")
    result["config"]      # the best RunConfig, also written as OUT/best.json for `lenet5 train --config`
    result["test_acc"]    # the one test-set number: best.json trained, then tested

Every trial trains on the train set less `validation` held-out images (the same ones always:
`train.split_validation`) and is scored on them after each epoch, never on the test set; a trial
whose score falls behind the others' at the same epoch is pruned there. The best trial's settings
become OUT/best.json (the preset's settings with the tuned ones on top, on the whole train set);
that config is trained once more and its test accuracy read at the end: the only time the search
looks at the test set. Trials are run folders OUT/trials/NNNN. Storage and worker processes, on one
machine or many: `lenet5.sweep`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from . import config as config_mod
from . import sweep
from .errors import TrainingDiverged, UserError
from .files import read_json, write_text_atomic
from .run import RunFolder
from .train import train

DEFAULT_VALIDATION = 10_000
SETUP_ATTR = "lenet5:tune"  # what the study searches; a command with another setup is refused
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)  # trials that count towards --n-trials
# "section.setting" -> {"low", "high"[, "log"]} for a number, or {"choices": [...]}. The ranges sit
# around each preset's hand-picked values; a setting's type in config.py decides int or float.
_ADAM_ISH = {"train.lr": {"low": 3e-4, "high": 3e-2, "log": True},
             "train.batch_size": {"choices": [64, 128, 256, 512]},
             "train.weight_decay": {"low": 1e-4, "high": 0.2, "log": True},
             "train.label_smoothing": {"low": 0.0, "high": 0.2}}
SPACES: dict[str, dict[str, dict[str, Any]]] = {
    # The report's model as it is: only how it is fed and stepped.
    "classic": {"train.lr": {"low": 1e-4, "high": 3e-2, "log": True},
                "train.batch_size": {"choices": [32, 64, 128, 256, 512]}},
    "modern": {"train.lr": {"low": 3e-4, "high": 1e-2, "log": True},
               "train.batch_size": {"choices": [32, 64, 128, 256]},
               "model.dropout": {"low": 0.0, "high": 0.4},
               "train.weight_decay": {"low": 1e-6, "high": 1e-3, "log": True},
               "train.label_smoothing": {"low": 0.0, "high": 0.15},
               "train.ema": {"choices": [0.0, 0.99, 0.999]}},
    "best": _ADAM_ISH,
    "robust": _ADAM_ISH,
}
PRUNERS = ("median", "hyperband", "none")
DEFAULT_PRUNER = "median"  # measured against hyperband: BENCHMARKS.md, "Tuning"


def load_space(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """A search space from a JSON file, in the form of SPACES' values."""
    space = read_json(path, "a search space")
    if not isinstance(space, dict) or not space or not all(isinstance(v, dict) for v in space.values()):
        raise UserError(f'{path}: a search space is an object like {{"train.lr": {{"low": 1e-4, "high": 1e-2, '
                        f'"log": true}}, "train.batch_size": {{"choices": [64, 128]}}}}')
    return space


def check_space(preset: str, space: dict[str, dict[str, Any]]) -> None:
    """Refuse, before any trial runs, a space that names an unknown setting or holds a value the preset refuses."""
    for key, spec in space.items():
        section, _, name = key.partition(".")
        if section not in config_mod.SECTIONS or not hasattr(config_mod.SECTIONS[section](), name):
            raise UserError(f"search space: unknown setting {key!r}; use section.setting, e.g. train.lr")
        keys = set(spec)
        if not (keys == {"choices"} or {"low", "high"} <= keys <= {"low", "high", "log"}):
            raise UserError(f"search space: {key} needs either low and high (and optionally log) or choices")
        kind = type(getattr(config_mod.SECTIONS[section](), name))
        if "choices" in spec:
            values = spec["choices"]
            if not (isinstance(values, list) and values
                    and all(v is None or isinstance(v, (bool, int, float, str)) for v in values)):
                raise UserError(f"search space: {key}'s choices must be a list of numbers, strings or booleans")
        else:
            if kind not in (int, float):
                raise UserError(f"search space: {key} is not a number; give it choices")
            if not (isinstance(spec.get("low"), (int, float)) and isinstance(spec.get("high"), (int, float))
                    and spec["low"] < spec["high"]) or (spec.get("log") and spec["low"] <= 0):
                raise UserError(f"search space: {key} needs low < high (and low > 0 with log)")
            values = [spec["low"], spec["high"]]
        for v in values:  # the preset's own checks, at both ends of the range
            config_mod.resolve(preset, {section: {name: kind(v) if kind in (int, float) and v is not None else v}})


def suggest(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The trial's settings, as overrides: {"train": {"lr": ...}, ...}."""
    overrides: dict[str, dict[str, Any]] = {}
    for key, spec in space.items():
        section, _, name = key.partition(".")
        kind = type(getattr(config_mod.SECTIONS[section](), name))
        if "choices" in spec:
            value = trial.suggest_categorical(key, spec["choices"])
        elif kind is int:
            value = trial.suggest_int(key, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
        else:
            value = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))
        overrides.setdefault(section, {})[name] = value
    return overrides


def trial_config(setup: dict[str, Any], overrides: dict[str, dict[str, Any]]) -> config_mod.RunConfig:
    search = {"train": {"epochs": setup["epochs"]},
              "data": {"train_subset": setup["subset"], "validation": setup["validation"]}}
    return config_mod.resolve(setup["preset"], config_mod.merge(overrides, search))


def best_config(setup: dict[str, Any], params: dict[str, Any]) -> config_mod.RunConfig:
    """The preset with the tuned settings (and --epochs) on top, on the whole train set: best.json."""
    overrides: dict[str, dict[str, Any]] = {"train": {"epochs": setup["epochs"]}}
    for key, value in params.items():
        section, _, name = key.partition(".")
        overrides.setdefault(section, {})[name] = value
    cfg = config_mod.resolve(setup["preset"], overrides)
    return dataclasses.replace(cfg, preset=f"{setup['preset']}-tuned")


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    if name == "median":  # after 5 finished trials, stop one below their median at the same epoch
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UserError(f"unknown pruner {name!r}; known: {', '.join(PRUNERS)}")


def tune(preset: str = "modern", n_trials: int = 30, out: str | os.PathLike | None = None,
         data_dir: str | os.PathLike | None = None, *, timeout: float | None = None, epochs: int | None = None,
         subset: int | None = None, validation: int = DEFAULT_VALIDATION,
         space: str | os.PathLike | dict | None = None, pruner: str = DEFAULT_PRUNER, jobs: int = 1,
         storage: str | None = None, study: str | None = None, final: bool = True, device: str = "auto",
         seed: int | None = None, log: Callable[[str], None] | None = print, progress: bool = False) -> dict[str, Any]:
    """Search until the study holds `n_trials` finished (complete or pruned) trials or `timeout` seconds
    pass, with `jobs` processes here and any other workers of the study; then write best.json, the
    trials' table and Optuna's plots, and (`final`) train best.json and test it once.

    `storage`: a postgresql:// URL (default: the journal file in `out`); `study`: its name (default:
    `out`'s folder name); `space`: a search space (a dict like SPACES' values, or a JSON file of one);
    `seed`: the sampler's, for a search that repeats (one worker only: several would propose alike).
    """
    log = log or (lambda s: None)
    if n_trials < 1 or jobs < 1:
        raise UserError("--n-trials and --jobs must be >= 1")
    if timeout is not None and timeout <= 0:
        raise UserError(f"--timeout must be > 0 seconds, got {timeout}")
    if seed is not None and jobs > 1:
        raise UserError("--seed repeats a search run by one worker; with --jobs > 1 its workers would propose alike")
    if not validation:
        raise UserError("tuning needs validation images to score the trials on (--validation, e.g. 10000)")
    if preset not in config_mod.PRESETS:
        raise UserError(f"unknown preset {preset!r}; known: {', '.join(config_mod.PRESETS)}")
    space = load_space(space) if isinstance(space, (str, os.PathLike)) else (space or SPACES[preset])
    check_space(preset, space)
    setup = json.loads(json.dumps({"preset": preset, "epochs": epochs, "subset": subset, "validation": validation,
                                   "space": space, "pruner": pruner}))  # as the study stores it
    make_pruner(pruner, 1)
    trial_config(setup, {})  # the fixed settings, checked now rather than in every trial
    out = Path(out) if out is not None else Path("runs") / f"tune-{preset}"
    ref = sweep.StudyRef(storage, out, study or out.resolve().name)
    store = ref.open()
    s = ref.create(store)
    with ref.exclusive(store):
        held = s.user_attrs.get(SETUP_ATTR)
        if held is None:
            s.set_user_attr(SETUP_ATTR, setup)
        elif held != setup:
            changed = ", ".join(k for k in setup if held.get(k) != setup[k])
            raise UserError(f"study {ref.name!r} in {ref.where()} searches with other settings ({changed}); "
                            f"choose another --out or --study")
        sweep.requeue_interrupted(s)
    done = sum(t.state in COUNTED for t in s.get_trials(deepcopy=False))
    log(f"study {ref.name!r} in {ref.where()}: {done} of {n_trials} trials finished; searching "
        f"{', '.join(space)} with {jobs} worker(s) here")
    deadline = time.time() + timeout if timeout else None
    watch = sweep.Progress(s, n_trials, lambda t: t.state in COUNTED, _describe, log, progress, "trial",
                           postfix=_best_so_far)
    try:
        sweep.run_workers(_work, (ref, setup, n_trials, deadline, device, seed, data_dir), jobs, watch,
                          stopped=lambda workers: _stopped(ref, store, s, workers))
    finally:
        watch.close()
    return _finish(s, setup, out, final, device, data_dir, log)


def _describe(t: FrozenTrial) -> str:
    epochs = len(t.intermediate_values)
    if t.state == TrialState.COMPLETE:
        return f"trial {t.number}: validation accuracy {t.value:.4f} after {epochs} epochs"
    if t.state == TrialState.PRUNED:
        last = t.intermediate_values[max(t.intermediate_values)] if epochs else math.nan
        return f"trial {t.number}: pruned after {epochs} epoch(s) at {last:.4f}"
    return f"trial {t.number}: failed ({t.user_attrs.get('error', 'interrupted')})"


def _best_so_far(trials: list[FrozenTrial]) -> str:
    values = [t.value for t in trials if t.state == TrialState.COMPLETE]
    return f"best {max(values):.4f}" if values else ""


def _stopped(ref: sweep.StudyRef, store, study: optuna.Study, workers: set[str]) -> None:
    """The interrupted trials of our stopped workers are queued again now (the next command takes them)."""
    sweep.retire(study, workers)
    with ref.exclusive(store):
        sweep.requeue_interrupted(study)


def _work(ref: sweep.StudyRef, setup: dict[str, Any], n_trials: int, deadline: float | None, device: str,
          seed: int | None, data_dir) -> None:
    """A worker: trials until the study holds n_trials finished or running ones, or the deadline passes.
    It asks for each trial itself, as `ablate` does, rather than through `optimize`: asking and claiming
    then run with interrupts held (a trial stopped between them was no one's, RUNNING for GRACE_S), and
    the running trials count, so two workers do not both start the last trial (3 asked, 4 were run)."""
    store = ref.open()
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)  # several workers: no duplicates
    epochs = trial_config(setup, {}).train.epochs
    study = ref.create(store, sampler=sampler, pruner=make_pruner(setup["pruner"], epochs))
    while deadline is None or time.time() < deadline:
        with sweep.interrupts_held():
            with ref.exclusive(store):
                sweep.fail_stale(study)
                sweep.requeue_interrupted(study)  # a trial interrupted anywhere is queued again, once
                taken = sum(t.state in (*COUNTED, TrialState.RUNNING) for t in study.get_trials(deepcopy=False))
                if taken >= n_trials:
                    return
                with sweep.quiet():
                    trial = study.ask()
            sweep.claim(store, trial)
        _run_trial(study, store, trial, ref, setup, device, data_dir)


def _run_trial(study: optuna.Study, store, trial: optuna.Trial, ref: sweep.StudyRef, setup: dict[str, Any],
               device: str, data_dir) -> None:
    """Train one claimed trial and tell the study how it ended, as `optimize` would."""
    try:
        with sweep.running(study, store, trial):
            try:
                value = _objective(trial, ref, setup, device, data_dir)
            except optuna.TrialPruned:
                study.tell(trial, state=TrialState.PRUNED)  # its last reported accuracy is its value
                return
    except TrainingDiverged:  # failed with its own error by `running`: not queued again; the next trial is asked for
        return
    study.tell(trial, value)


def _objective(trial: optuna.Trial, ref: sweep.StudyRef, setup: dict[str, Any], device: str, data_dir) -> float:
    cfg = trial_config(setup, suggest(trial, setup["space"]))
    if "folder" not in trial.user_attrs:  # a retried trial inherits it, and resumes that run
        trial.set_user_attr("folder", f"{trial.number:04d}")
    run = ref.folder / "trials" / trial.user_attrs["folder"]

    def report(epoch: int, row: dict[str, Any]) -> None:
        trial.report(row["test_acc"], epoch)  # the validation accuracy: train(evaluate_on="validation")
        if trial.should_prune():
            raise optuna.TrialPruned(f"validation accuracy {row['test_acc']:.4f} after epoch {epoch + 1}")
    return train(cfg, run, resume=RunFolder(run).status() != "new", device=device,
                 data_dir=data_dir, log=None, evaluate_on="validation", on_epoch=report)[-1]["test_acc"]


def _finish(study: optuna.Study, setup: dict[str, Any], out: Path, final: bool, device: str, data_dir,
            log: Callable[[str], None]) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    counts = {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}
    write_text_atomic(out / "trials.csv", trials_csv(trials))
    if not complete:
        raise UserError(f"no trial finished yet ({counts['pruned']} pruned, {counts['fail']} failed); "
                        f"run the command again with more --n-trials or --timeout")
    best = max(complete, key=lambda t: t.value)
    cfg = best_config(setup, best.params)
    write_text_atomic(out / "best.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    figures = draw(study, out)
    test_acc = None
    if final:
        run = out / f"best-{best.number:04d}"
        log(f"best: trial {best.number} (validation {best.value:.4f}); training best.json on the whole train "
            f"set into {run} for the one test-set measurement")
        rows = train(cfg, run, resume=RunFolder(run).status() != "new", device=device,
                     data_dir=data_dir, log=None)
        test_acc = rows[-1]["test_acc"]
    result = {"study": study.study_name, "counts": counts, "best_trial": best.number, "best_value": best.value,
              "best_params": best.params, "config": cfg, "test_acc": test_acc, "figures": figures,
              "table": markdown_table(complete)}
    write_text_atomic(out / "tune.md", report_markdown(result, setup))
    return result


def trials_csv(trials: list[FrozenTrial]) -> str:
    params = sorted({k for t in trials for k in t.params})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["trial", "state", "validation_acc", "epochs", "seconds", *params])
    for t in trials:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else ""
        w.writerow([t.number, t.state.name.lower(), "" if t.value is None else f"{t.value:.6f}",
                    len(t.intermediate_values), f"{seconds:.1f}" if seconds != "" else "",
                    *(t.params.get(k, "") for k in params)])
    return buf.getvalue()


def markdown_table(complete: list[FrozenTrial], top: int = 10) -> str:
    params = sorted({k for t in complete for k in t.params})
    lines = ["| trial | validation acc % | " + " | ".join(params) + " |",
             "|---:|---:|" + "---:|" * len(params)]
    for t in sorted(complete, key=lambda t: -t.value)[:top]:
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in (t.params.get(k, "") for k in params)]
        lines.append(f"| {t.number} | {100 * t.value:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_markdown(result: dict[str, Any], setup: dict[str, Any]) -> str:
    c = result["counts"]
    test = ("not measured (final=False)" if result["test_acc"] is None else f"**{100 * result['test_acc']:.2f}%** "
            f"(best.json trained on the whole train set, then tested once)")
    figs = "\n".join(f"![{name}]({path.name})" for name, path in result["figures"].items() if path)
    return (f"# Tuning `{setup['preset']}`\n\nStudy `{result['study']}`: {c['complete']} trials complete, "
            f"{c['pruned']} pruned ({setup['pruner']} pruner), {c['fail']} failed, {c['running']} running. Every trial "
            f"is scored on {setup['validation']:,} held-out training images, never the test set"
            + (f", training on {setup['subset']:,} images per epoch" if setup["subset"] else "") + ".\n\n"
            f"Best: trial {result['best_trial']}, validation accuracy {100 * result['best_value']:.2f}%. "
            f"Test accuracy: {test}. Its config: `best.json` (`lenet5 train --config best.json`).\n\n"
            f"## The best trials\n\n{result['table']}\n\nEvery trial: `trials.csv`.\n\n{figs}\n")


def draw(study: optuna.Study, out: Path) -> dict[str, Path | None]:
    """Optuna's own plots: history, parameter importances, parallel coordinates, the curves pruning saw."""
    from optuna.visualization import matplotlib as ovm

    from .viz import pyplot, save_figure
    pyplot()  # the file-only backend
    plots = {"history": ovm.plot_optimization_history, "importances": ovm.plot_param_importances,
             "parallel": ovm.plot_parallel_coordinate, "curves": ovm.plot_intermediate_values}
    paths: dict[str, Path | None] = {}
    for name, plot in plots.items():
        with sweep.quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "too few trials", squeezed layouts: the figure still says it
            try:
                ax = plot(study)
            except (ValueError, RuntimeError, ZeroDivisionError):  # too few finished trials for this one
                paths[name] = None
                continue
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            if name == "parallel":  # one axis per setting: give each room
                fig.set_size_inches(max(8.0, 1.8 * (len(study.best_trial.params) + 1)), 6)
            if name == "curves" and ax.get_legend() is not None and len(study.trials) > 12:
                ax.get_legend().remove()  # a row per trial would be taller than the plot
            paths[name] = save_figure(fig, out / f"{name}.png")
    return paths
