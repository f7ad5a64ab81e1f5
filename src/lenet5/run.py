"""The run folder: the one place that knows its layout, what state it is in, and how to read it.

    from lenet5.run import RunFolder
    run = RunFolder("runs/classic-mnist-s0")
    run.status()                 # "new" | "partial" | "complete"
    rows = run.metrics()         # one dict per finished epoch
    model, cfg = run.model("best")
    test = run.data("test")      # the data set it was trained on, from the folder it was read from

Layout:

| path | what |
|---|---|
| config.json | `RunConfig.to_dict()`: reads back with `config.from_dict(json.load(...))` |
| run.json | how the run was made: command, device, threads, versions, created, data source |
| checkpoints/last.pt | the commit: weights, optimiser, RNG and every finished epoch's metrics |
| checkpoints/best.pt | the state after the epoch with the best test accuracy |
| metrics.csv | a readable copy of last.pt's metrics |
| figures/, report.md, report.html, export/ | what `visualize`, `report` and `export` write (`report_layout`: report.zh.md, figures.zh/ for Chinese) |

One commit point per epoch. After each epoch best.pt is written (when the epoch is the best so
far), then last.pt, then metrics.csv, each atomically. last.pt is the commit: an epoch whose
last.pt was not renamed into place is not finished, and resuming redoes it on the same trajectory
(rewriting best.pt with the same result). Readers take the metrics from last.pt, and resuming
rewrites a metrics.csv left behind, so a kill between two writes is never seen. Temporary files
of a killed writer are removed when the next training process opens the folder.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from pathlib import Path
from typing import Any, Iterator

from . import config as config_mod
from .errors import UserError
from .files import read_json, write_csv_atomic, write_text_atomic

METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")
WALL_CLOCK_FIELDS = ("seconds",)  # the only columns that differ between two runs of one config
CHECKPOINTS = ("last", "best")
# Keys that config.json held beside the config before run.json existed: read, never written.
LEGACY_META_KEYS = ("device", "threads", "versions", "created", "command")


class RunFolder:
    """A run folder on disk. Creating the object touches nothing."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ------------------------------------------------------------ layout
    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def meta_file(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.csv"

    def figures_dir(self, lang: str = "en") -> Path:
        return report_layout(self.path, lang)[2]

    @property
    def export_dir(self) -> Path:
        return self.path / "export"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, which: str = "last") -> Path:
        if which not in CHECKPOINTS:
            raise UserError(f"unknown checkpoint {which!r}; known: {', '.join(CHECKPOINTS)}")
        return self.checkpoints_dir / f"{which}.pt"

    @staticmethod
    def holding(checkpoint: Path) -> "RunFolder | None":
        """The run folder a checkpoint file lies in, or None (a .pt file anywhere else)."""
        folder = RunFolder(checkpoint.parent.parent)
        return folder if checkpoint.parent == folder.checkpoints_dir else None

    # ------------------------------------------------------------ reading
    def require(self) -> "RunFolder":
        """This folder, if it holds at least one finished epoch; else a UserError saying what to do."""
        if self.path.exists() and not self.path.is_dir():  # a file, or a device: /dev/null was "no such run folder"
            raise UserError(f"{self.path} is a file, not a run folder (give the folder a training run wrote)")
        if not self.path.is_dir():
            raise UserError(f"no such run folder: {self.path} (train one with `lenet5 train --out {self.path}`)")
        if not self.config_file.is_file() and not self.checkpoint("last").parent.is_dir():
            raise UserError(f"{self.path} is not a run folder (no config.json, no checkpoints/ in it); give the "
                            f"folder `lenet5 train --out` wrote")
        if not self.checkpoint("last").is_file():
            raise UserError(f"{self.path} has no finished epoch yet (no {self.checkpoint('last')}); "
                            f"wait for its first epoch if it is training, or resume it with "
                            f"`lenet5 train --out {self.path} --resume`")
        return self

    def last_state(self) -> dict[str, Any]:
        """The committed checkpoint (weights, optimiser, RNG, metrics)."""
        from .checkpoint import load  # torch: only when a checkpoint is read
        return load(self.require().checkpoint("last"))

    def metrics(self) -> list[dict[str, Any]]:
        """One dict per finished epoch, as committed (metrics.csv may lag behind a kill)."""
        rows = list(self.last_state()["metrics"])
        if not rows:
            raise UserError(f"{self.path} has no epochs yet: train (or resume) the run first")
        return rows

    def config(self) -> config_mod.RunConfig:
        if not self.config_file.is_file():
            raise UserError(f"{self.path}: no config.json; not a lenet5 run folder")
        d = read_json_object(self.config_file)
        return config_mod.from_dict({k: v for k, v in d.items() if k not in LEGACY_META_KEYS})

    def meta(self) -> dict[str, Any]:
        """How the run was made (run.json; older folders kept it in config.json)."""
        if self.meta_file.is_file():
            return read_json_object(self.meta_file)
        if self.config_file.is_file():
            d = read_json_object(self.config_file)
            return {k: d[k] for k in LEGACY_META_KEYS if k in d}
        return {}

    def data_dir(self, override: str | os.PathLike | None = None) -> str | os.PathLike | None:
        """Where this run's data set is: `override`, else the folder recorded at training (if it
        still exists), else None (the usual search: $LENET5_DATA_DIR, then ./data)."""
        if override is not None:
            return override
        recorded = self.meta().get("data", {}).get("dir")
        return recorded if recorded and Path(recorded).is_dir() else None

    def data(self, split: str = "test", data_dir: str | os.PathLike | None = None):
        from . import data as data_mod
        return data_mod.load(self.config().data.dataset, split, self.data_dir(data_dir))

    def model(self, which: str = "last"):
        """(the evaluated model in eval mode, its RunConfig)."""
        from .checkpoint import load_model
        model, ckpt = load_model(self.require().checkpoint(which))
        return model, config_mod.from_dict(ckpt["config"])

    def status(self) -> str:
        """'new' (nothing trained), 'partial' (some epochs) or 'complete' (all of its epochs)."""
        if not self.checkpoint("last").is_file():
            return "new"
        done = len(self.last_state()["metrics"])
        return "complete" if done >= self.config().train.epochs else "partial"

    def resumable(self) -> bool:
        """Whether `lenet5 train --out FOLDER --resume` has something to continue: a finished epoch,
        or the config.json a run writes before its first epoch."""
        return self.checkpoint("last").is_file() or self.config_file.is_file()

    # ------------------------------------------------------------ writing (the training loop's)
    def start(self, cfg: config_mod.RunConfig | None, resume: bool) -> tuple[config_mod.RunConfig, dict | None]:
        """(the config to train with, the committed state to continue from or None).

        A new run takes `cfg`. Resuming takes the folder's own config (`cfg`, if given, must equal
        it) and its last commit; a folder whose first epoch never finished starts again from its
        config.json. Raises UserError for a wrong start or resume."""
        has_run = self.checkpoint("last").is_file()
        if not resume:
            if has_run:
                raise UserError(f"{self.path} already holds a run; continue it (resume) or choose another output folder")
            return cfg, None
        if not self.resumable():
            raise UserError(f"nothing to resume in {self.path}: no {self.checkpoint('last')} (start it without resuming)")
        state = self.last_state() if has_run else None
        saved = config_mod.from_dict(state["config"]) if state else self.config()
        if cfg is not None and cfg != saved:
            diff = [f"{s}.{k}" for s in config_mod.SECTIONS for k, v in getattr(cfg, s).__dict__.items()
                    if getattr(getattr(saved, s), k) != v]
            raise UserError(f"{self.path} was started with other settings ({', '.join(diff) or 'preset'}); "
                            f"resume without changing them, or start a new run in another folder")
        return saved, state

    @contextlib.contextmanager
    def writing(self) -> Iterator["RunFolder"]:
        """Hold the folder for one training process; remove what killed writers left behind."""
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path} exists and is not a folder; choose another output folder")
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            with _exclusive_lock(self.path / ".lock"):
                for stale in self.path.rglob(".*.tmp"):
                    stale.unlink(missing_ok=True)
                yield self
        except BaseException:
            if created and [p.name for p in self.path.iterdir()] == [".lock"]:  # failed before writing anything
                (self.path / ".lock").unlink()
                self.path.rmdir()
            raise

    def create(self, cfg: config_mod.RunConfig, meta: dict[str, Any]) -> None:
        write_text_atomic(self.meta_file, json.dumps(meta, indent=2) + "\n")
        write_text_atomic(self.config_file, json.dumps(cfg.to_dict(), indent=2) + "\n")

    def commit(self, state: dict[str, Any], best: bool) -> None:
        """Finish an epoch: best.pt (if it is the best), then last.pt (the commit), then metrics.csv."""
        from .checkpoint import save
        if best:
            save(state, self.checkpoint("best"))
        save(state, self.checkpoint("last"))
        self.write_metrics(state["metrics"])

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """metrics.csv from the committed rows, unless it already says the same."""
        try:
            same = self.read_metrics_csv() == _rounded(rows)
        except (ValueError, KeyError, TypeError):  # a damaged copy: the checkpoint holds the truth
            same = False
        if not same:
            write_csv_atomic(self.metrics_file, METRIC_FIELDS, rows)

    def read_metrics_csv(self) -> list[dict[str, Any]] | None:
        """metrics.csv as written (6 decimals), None if absent: for tables and the resume repair."""
        if not self.metrics_file.is_file():
            return None
        with open(self.metrics_file, newline="") as fh:
            return [{k: (int(v) if k == "epoch" else float(v)) for k, v in r.items()} for r in csv.DictReader(fh)]


def report_layout(folder: Path, lang: str = "en") -> tuple[Path, Path, Path]:
    """(report.md, report.html, figures folder) in `folder`: English under the plain names, another
    language beside them (report.zh.md, report.zh.html, figures.zh/), so neither overwrites the other."""
    suffix = "" if lang == "en" else f".{lang}"
    return folder / f"report{suffix}.md", folder / f"report{suffix}.html", folder / f"figures{suffix}"


def _rounded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (r[k] if k == "epoch" else float(f"{r[k]:.6f}")) for k in METRIC_FIELDS} for r in rows]


def read_json_object(path: Path) -> dict[str, Any]:
    d = read_json(path, "a run folder's JSON file")
    if not isinstance(d, dict):
        raise UserError(f"{path}: expected a JSON object")
    return d


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """An advisory lock the OS drops when its process dies, however it dies."""
    try:
        import fcntl
    except ImportError:  # Windows: no second-trainer guard
        yield
        return
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another lenet5 process is training in {path.parent}; wait for it or stop it") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
