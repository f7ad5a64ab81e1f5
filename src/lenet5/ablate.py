"""Ablations: each of the report's future-work changes alone, their combination, and beyond, over seeds.

    from lenet5.ablate import ablate
    rows = ablate(["classic", "relu"], seeds=3, out="runs/ablation", data_dir="../shared/data", jobs=2)
    # -> one summary dict per variant; also writes ablation.md, ablation.csv, ablation.png in `out`

Every run is an ordinary run folder `OUT/<variant>-s<seed>`: an interrupted ablation resumes the
unfinished ones and skips the finished ones.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

from . import config as config_mod
from .errors import UserError
from .reference import LAB_REPORT_FINAL_ACC
from .files import write_csv_atomic, write_text_atomic
from .run import RunFolder
from .train import CHANCE_FACTOR, train

ROBUST = config_mod.PRESETS["robust"]["data"]["distort"]
# name -> (preset, overrides on it). Single changes sit on top of `classic`, so each row answers
# "what does this one change buy the report's recipe?".
VARIANTS: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "classic": ("classic", {}),
    "relu": ("classic", {"model": {"activation": "relu"}}),
    "maxpool": ("classic", {"model": {"pooling": "max"}}),
    "lrdecay": ("classic", {"train": {"schedule": "cosine"}}),  # cosine to zero over the run, per step
    "dropout": ("classic", {"model": {"dropout": 0.2}}),
    # Beyond the report, still one change on `classic`.
    "batchnorm": ("classic", {"model": {"batch_norm": True}}),
    "normalize": ("classic", {"data": {"normalize": True}}),
    "augment": ("classic", {"data": {"augment": True}}),
    "ema": ("classic", {"train": {"ema": 0.999}}),  # evaluate an average of the weights (decay per step)
    "modern": ("modern", {}),
    # `modern` with one of its changes taken back: what each is worth in combination.
    "modern-no-relu": ("modern", {"model": {"activation": "sigmoid"}}),
    "modern-no-maxpool": ("modern", {"model": {"pooling": "avg"}}),
    "modern-no-lrdecay": ("modern", {"train": {"schedule": "constant"}}),
    "modern-no-dropout": ("modern", {"model": {"dropout": 0.0}}),
    "modern-no-normalize": ("modern", {"data": {"normalize": False}}),
    "modern-no-ema": ("modern", {"train": {"ema": 0.0}}),
    "best": ("best", {}),
    # `robust` (the bundled model's recipe) with one distortion taken out, and at LeNet-5's own width:
    # what each is worth on handwriting that is not MNIST's (benchmarks/bench_handwriting.py).
    "robust": ("robust", {}),
    "robust-narrow": ("robust", {"model": {"channels": (6, 16)}}),
    **{f"robust-no-{name}": ("robust", {"data": {"distort": tuple(d for d in ROBUST if d != name)}})
       for name in ("rotate", "shear", "aspect", "elastic", "thickness", "blur", "levels", "jitter")},
    # LeNet-5 as LeCun et al. 1998 published it, next to the report's simplification (README).
    "lecun1998": ("lecun1998", {}),
    "lecun1998-distorted": ("lecun1998-distorted", {}),
}
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


def _run_one(cfg: config_mod.RunConfig, folder: str, resume: bool, data_dir, threads: int) -> str:
    import torch
    torch.set_num_threads(threads)  # jobs share the cores; oversubscribing them costs several-fold
    train(cfg, folder, resume=resume, data_dir=data_dir, device="cpu", log=None)
    return folder


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
           log: Callable[[str], None] | None = print) -> list[dict[str, Any]]:
    """Run every variant × seed (skipping finished runs), then write the summary files."""
    log = log or (lambda s: None)
    variants = variants or list(VARIANTS)
    if seeds < 1 or jobs < 1:
        raise UserError("--seeds and --jobs must be >= 1")
    out = Path(out)
    plan = []
    for v in variants:
        for s in range((classic_seeds or seeds) if v == "classic" else seeds):
            cfg = variant_config(v, s, epochs, subset)
            folder = out / f"{v}-s{s}"
            plan.append((v, s, cfg, folder, _status(cfg, folder)))
    todo = [p for p in plan if p[4] != "done"]
    log(f"{len(plan)} runs: {len(plan) - len(todo)} already finished, {len(todo)} to run, {jobs} at a time")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    started = time.perf_counter()

    def report(v: str, s: int, folder: Path) -> None:
        final = RunFolder(folder).metrics()[-1]
        log(f"{v} seed {s}: final test accuracy {final['test_acc']:.4f} "
            f"({time.perf_counter() - started:.0f} s into the ablation)")

    if jobs == 1:  # in this process: no spawning, so it also works from a notebook or a bare script
        for v, s, cfg, folder, status in todo:
            train(cfg, folder, resume=status == "resume", data_dir=data_dir, device="cpu", log=None)
            report(v, s, folder)
    elif todo:
        # Separate processes (spawned: safe with torch's threads); scripts calling this with jobs > 1
        # need the usual `if __name__ == "__main__":` guard.
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_run_one, cfg, str(folder), status == "resume", data_dir, threads): (v, s, folder)
                       for v, s, cfg, folder, status in todo}
            for fut in as_completed(futures):
                fut.result()
                report(*futures[fut])
    runs: dict[str, list[list[dict[str, Any]]]] = {}
    for v, s, cfg, folder, _ in plan:
        runs.setdefault(v, []).append(RunFolder(folder).metrics())
    summary = [summarize(v, rs) for v, rs in runs.items()]
    write_outputs(out, summary, runs)
    return summary


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
