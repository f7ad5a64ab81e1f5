"""Ablations: each of the report's future-work changes alone, their combination, and beyond, over seeds.

    from lenet5.ablate import ablate
    rows = ablate(["classic", "relu"], seeds=3, out="runs/ablation", data_dir="../shared/data", jobs=2)
    # -> one summary dict per variant; also writes ablation.md, ablation.csv, ablation.png in `out`

Each (variant, seed) run is one trial of an Optuna study (`lenet5.sweep`), queued once; workers take
the next queued run until none is left, and the summary is read from the study. The same command
started again, elsewhere or at the same time, with the same `out` (the study is a journal file
there) or the same `storage` URL and study name, shares the runs: finished runs are never redone,
an interrupted one is queued again. Every run is an ordinary run folder `OUT/<variant>-s<seed>` on
the machine that ran it, resumed from there if that machine takes it again.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from optuna.trial import TrialState

from . import config as config_mod
from . import sweep
from .errors import UserError
from .reference import LAB_REPORT_FINAL_ACC
from .files import write_csv_atomic, write_text_atomic
from .run import RunFolder
from .train import CHANCE_FACTOR, train
from .variants import VARIANTS

PANEL_TITLES = {"classic": "one change on the report's recipe",
                "combined": "combined: modern, modern less one change, best"}
TARGETS = (LAB_REPORT_FINAL_ACC, 0.99)  # the report's final accuracy, and 99%
SUMMARY_FIELDS = ("variant", "runs", "final_acc_mean", "final_acc_std", "best_acc_mean", "best_acc_std",
                  "stalled", "epochs_to_9885", "seconds_to_9885", "reached_9885", "epochs_to_99",
                  "seconds_to_99", "reached_99", "seconds_per_epoch")


def variant_config(name: str, seed: int, epochs: int | None = None, subset: int | None = None) -> config_mod.RunConfig:
    if name not in VARIANTS:
        raise UserError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    preset, overrides = VARIANTS[name]
    extra = {"train": {"seed": seed, "epochs": epochs}, "data": {"train_subset": subset}}
    return config_mod.resolve(preset, config_mod.merge(overrides, extra))


def _status(cfg: config_mod.RunConfig, folder: Path) -> str:
    """done | resume | new; refuses a folder that holds another configuration."""
    run = RunFolder(folder)
    status = run.status()
    if status != "new" and run.config() != cfg:
        raise UserError(f"{folder} holds a run with other settings; remove it or choose another --out")
    return {"new": "new", "partial": "resume", "complete": "done"}[status]


def ablate(variants: list[str] | None = None, seeds: int = 3, out: str | os.PathLike = "runs/ablation",
           data_dir: str | os.PathLike | None = None, jobs: int = 1, epochs: int | None = None,
           classic_seeds: int | None = None, subset: int | None = None,
           log: Callable[[str], None] | None = print, storage: str | None = None, study: str | None = None,
           progress: bool = False) -> list[dict[str, Any]]:
    """Queue every variant × seed not yet run, work through the queue with `jobs` processes alongside any
    other workers of the study, then write the summary files (md, csv, png) from the study.

    `storage`: a postgresql:// URL (default: the journal file in `out`); `study`: its name (default:
    `out`'s folder name). `progress`: a tqdm bar.
    """
    log = log or (lambda s: None)
    variants = variants or list(VARIANTS)
    if seeds < 1 or jobs < 1:
        raise UserError("--seeds and --jobs must be >= 1")
    out = Path(out)
    plan = {f"{v}-s{s}": variant_config(v, s, epochs, subset)
            for v in variants for s in range((classic_seeds or seeds) if v == "classic" else seeds)}
    for name, cfg in plan.items():
        _status(cfg, out / name)  # a folder of other settings is refused before anything starts
    ref = sweep.StudyRef(storage, out, study or out.resolve().name)
    store = ref.open()
    s = ref.create(store)
    with ref.exclusive(store):
        finished = _queue(s, {n: c.to_dict() for n, c in plan.items()}, retry_errors=True)
    log(f"{len(plan)} runs: {finished} already finished, {len(plan) - finished} to run, {jobs} at a time here")
    started = time.perf_counter()

    def ours_done(t) -> bool:
        return t.user_attrs.get("run") in plan and t.state == TrialState.COMPLETE

    def describe(t) -> str | None:
        if not ours_done(t):
            return None
        variant, seed = t.user_attrs["run"].rsplit("-s", 1)
        return (f"{variant} seed {seed}: final test accuracy {t.value:.4f} "
                f"({time.perf_counter() - started:.0f} s into the ablation)")

    watch = sweep.Progress(s, len(plan), ours_done, describe, log, progress, "run")
    try:
        sweep.run_workers(_work, (ref, data_dir), jobs, watch, stopped=lambda workers: sweep.retire(s, workers))
    finally:
        watch.close()
    runs = _runs_from_study(s, plan)
    summary = [summarize(v, rs) for v, rs in runs.items()]
    write_outputs(out, summary, runs)
    return summary


def _queue(study, plan: dict[str, dict[str, Any]], retry_errors: bool) -> int:
    """Queue each run of `plan` (name -> config dict) that no trial has finished, is running or will run;
    return how many are finished. Under `exclusive`, so that each is queued once."""
    trials: dict[str, list] = {}
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("run") in plan:
            trials.setdefault(t.user_attrs["run"], []).append(t)
    finished = 0
    for name, cfg in plan.items():
        ts = trials.get(name, [])
        if ts and config_mod.from_dict(ts[0].user_attrs["config"]) != config_mod.from_dict(cfg):
            raise UserError(f"{name} in study {study.study_name!r} was run with other settings; "
                            f"choose another --out or --study")
        states = {t.state for t in ts}
        finished += TrialState.COMPLETE in states
        if states & {TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING}:
            continue
        if ts and "error" in ts[-1].user_attrs and not retry_errors:
            continue  # failed on its own (not interrupted): once per command, not in a loop
        study.enqueue_trial({}, user_attrs={"run": name, "config": cfg})
    return finished


def _work(ref: sweep.StudyRef, data_dir) -> None:
    """A worker: take the next queued run until none is queued or running anywhere."""
    store = ref.open()
    study = ref.create(store)
    while True:
        with sweep.interrupts_held():  # stopped between ask and claim, the trial would be no one's: see claim
            with ref.exclusive(store):
                sweep.fail_stale(study)
                trials = study.get_trials(deepcopy=False)
                _queue(study, {t.user_attrs["run"]: t.user_attrs["config"] for t in trials if "run" in t.user_attrs},
                       retry_errors=False)
                states = {t.state for t in study.get_trials(deepcopy=False)}
                with sweep.quiet():  # only holders of the lock ask, so a queued run is there to take
                    trial = study.ask() if TrialState.WAITING in states else None
            if trial is not None:
                sweep.claim(store, trial)  # its "worker" attribute also says where its run folder is
        if trial is None:
            if TrialState.RUNNING not in states:
                return
            time.sleep(sweep.POLL_S)  # another worker's run: it finishes, or its heartbeat stops
            continue
        _run(study, store, trial, ref.folder, data_dir)


def _run(study, store, trial, out: Path, data_dir) -> None:
    name, cfg = trial.user_attrs["run"], config_mod.from_dict(trial.user_attrs["config"])
    with sweep.running(study, store, trial):
        status = _status(cfg, out / name)
        if status == "done":  # trained, then killed before it was told
            rows = RunFolder(out / name).metrics()
        else:
            rows = train(cfg, out / name, resume=status == "resume", data_dir=data_dir, device="cpu", log=None)
    trial.set_user_attr("metrics", rows)
    study.tell(trial, rows[-1]["test_acc"])


def _runs_from_study(study, plan: dict[str, config_mod.RunConfig]) -> dict[str, list[list[dict[str, Any]]]]:
    """Each variant's runs' metrics rows, in seed order, as the study holds them."""
    done, failed = {}, {}
    for t in study.get_trials(deepcopy=False):
        name = t.user_attrs.get("run")
        if name in plan and t.state == TrialState.COMPLETE:
            done[name] = t.user_attrs["metrics"]
        elif name in plan and "error" in t.user_attrs:
            failed[name] = f"{name} failed in {t.user_attrs.get('worker', '?')}: {t.user_attrs['error']}"
    missing = [failed.get(n, f"{n} did not finish") for n in plan if n not in done]
    if missing:
        raise UserError("; ".join(missing) + " (run the same command again to retry)")
    runs: dict[str, list[list[dict[str, Any]]]] = {}
    for name in plan:
        runs.setdefault(name.rsplit("-s", 1)[0], []).append(done[name])
    return runs


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return (statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0) if xs else (math.nan, math.nan)


def stalled(rows: list[dict[str, Any]], num_classes: int = 10) -> bool:
    """Never left the chance plateau: the final test accuracy is still under twice the guess rate."""
    return rows[-1]["test_acc"] < CHANCE_FACTOR / num_classes


def time_to(rows: list[dict[str, Any]], target: float) -> tuple[int, float] | None:
    """(epochs, seconds) until test accuracy first reached `target`, or None."""
    seconds = 0.0
    for r in rows:
        seconds += r["seconds"]
        if r["test_acc"] >= target:
            return r["epoch"] + 1, seconds
    return None


def summarize(variant: str, runs: list[list[dict[str, Any]]]) -> dict[str, Any]:
    finals = [rs[-1]["test_acc"] for rs in runs]
    bests = [max(r["test_acc"] for r in rs) for rs in runs]
    row = {"variant": variant, "runs": len(runs), "stalled": sum(stalled(rs) for rs in runs),
           "seconds_per_epoch": statistics.fmean(r["seconds"] for rs in runs for r in rs)}
    row["final_acc_mean"], row["final_acc_std"] = _mean_std(finals)
    row["best_acc_mean"], row["best_acc_std"] = _mean_std(bests)
    for target, key in zip(TARGETS, ("9885", "99")):
        hits = [t for t in (time_to(rs, target) for rs in runs) if t is not None]
        row[f"reached_{key}"] = len(hits)
        row[f"epochs_to_{key}"] = statistics.fmean(h[0] for h in hits) if hits else math.nan
        row[f"seconds_to_{key}"] = statistics.fmean(h[1] for h in hits) if hits else math.nan
    return row


def _fmt_pct(mean: float, std: float) -> str:
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def _fmt_reach(row: dict[str, Any], key: str) -> str:
    if not row[f"reached_{key}"]:
        return f"never (0/{row['runs']})"
    return (f"{row[f'epochs_to_{key}']:.1f} ep / {row[f'seconds_to_{key}']:.0f} s "
            f"({row[f'reached_{key}']}/{row['runs']})")


def markdown_table(summary: list[dict[str, Any]]) -> str:
    lines = ["| variant | runs | final acc % (mean ± std) | best acc % | stalled at chance | to 98.85% | to 99% | s/epoch |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in summary:
        lines.append(f"| {r['variant']} | {r['runs']} | {_fmt_pct(r['final_acc_mean'], r['final_acc_std'])} | "
                     f"{_fmt_pct(r['best_acc_mean'], r['best_acc_std'])} | {r['stalled']}/{r['runs']} | "
                     f"{_fmt_reach(r, '9885')} | {_fmt_reach(r, '99')} | {r['seconds_per_epoch']:.1f} |")
    return "\n".join(lines)


def write_outputs(out: Path, summary: list[dict[str, Any]], runs: dict[str, list[list[dict[str, Any]]]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out / "ablation.csv", SUMMARY_FIELDS, summary)
    per_run = ["| run | final acc % | best acc % | epochs |", "|---|---:|---:|---:|"]
    for v, rs in runs.items():
        for s, rows in enumerate(rs):
            per_run.append(f"| {v}-s{s} | {100 * rows[-1]['test_acc']:.2f} | "
                           f"{100 * max(r['test_acc'] for r in rows):.2f} | {len(rows)} |")
    plot_ablation(runs, out / "ablation.png")
    text = ("# Ablation\n\nEvery number below is read from the runs' `metrics.csv`. \"to 98.85%\": epochs and "
            "training seconds (including the per-epoch test pass) until the test accuracy first reached the "
            "lab report's final 98.85%, averaged over the runs that reached it. \"stalled\": runs whose final "
            "accuracy is still at chance.\n\n" + markdown_table(summary) + "\n\n![test accuracy per variant]"
            "(ablation.png)\n\n## Every run\n\n" + "\n".join(per_run) + "\n")
    write_text_atomic(out / "ablation.md", text)


def plot_ablation(runs: dict[str, list[list[dict[str, Any]]]], path: Path) -> Path:
    """Test accuracy per epoch: the mean of each variant's non-stalled runs, with a min–max band.

    Left, one change on the report's recipe; right, `modern`, `modern` less one change, and `best`
    (their curves sit within half a point of each other and need their own scale).
    """
    import numpy as np

    from .viz import pyplot, save_figure
    plt = pyplot()
    panels: dict[str, list[str]] = {k: [] for k in PANEL_TITLES}
    for v in runs:
        panels["classic" if VARIANTS.get(v, ("classic",))[0] == "classic" else "combined"].append(v)
    shown = [(k, vs) for k, vs in panels.items() if vs]
    fig, axes = plt.subplots(1, len(shown), figsize=(9 * len(shown), 6), squeeze=False)
    for ax, (panel, names) in zip(axes[0], shown):
        low = 100.0
        for v in names:
            rs = runs[v]
            ok = [rs_ for rs_ in rs if not stalled(rs_)]
            if not ok:
                continue
            n = min(len(r) for r in ok)
            acc = 100 * np.array([[r["test_acc"] for r in rows[:n]] for rows in ok])
            epochs = np.arange(1, n + 1)
            note = f" ({len(rs) - len(ok)} stalled run(s) left out)" if len(ok) < len(rs) else ""
            base = v == names[0]  # classic / modern: what the panel's other curves change, drawn on top
            line, = ax.plot(epochs, acc.mean(0), lw=3.0 if base else 1.6, zorder=3 if base else 2,
                            label=f"{v}: {acc[:, -1].mean():.2f}%{note}")
            ax.fill_between(epochs, acc.min(0), acc.max(0), color=line.get_color(), alpha=0.15)
            low = min(low, float(acc.mean(0)[min(2, n - 1)]))
        ax.axhline(100 * LAB_REPORT_FINAL_ACC, color="k", ls="--", lw=1, label="lab report final (98.85%)")
        ax.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(max(90.0, low - 0.5), 99.9), title=PANEL_TITLES[panel])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Test accuracy per epoch: mean over seeds, band = min–max")
    return save_figure(fig, path)
