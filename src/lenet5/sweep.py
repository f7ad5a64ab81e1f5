"""Optuna studies shared by worker processes, on one machine or many: what `tune` and `ablate` run on.

    ref = StudyRef(None, Path("runs/ablation"), "ablation")     # a journal file in the folder: no server
    ref = StudyRef("postgresql://me@db/lenet5", Path("runs/ablation"), "ablation")   # many machines
    storage = ref.open()
    study = ref.create(storage)
    run_workers(work, (ref, ...), jobs=2, watch=Progress(study, ...), stopped=lambda workers: ...)

Without a URL the study lives in Optuna's JournalStorage on a file in the output folder, which
several processes on one machine may share (Optuna advises against SQLite for that); with a
postgresql:// URL, in RDBStorage, which processes on any number of machines share. Either way a
running trial beats a heartbeat, and a trial whose beat stops for GRACE_S (its worker was killed)
is failed by the next worker that looks; the command then queues it again, once (under `exclusive`).
A trial's "worker" attribute (`worker_id`) names the process running it; its "error" attribute, a
failure of its own, which is not retried in a loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from multiprocessing import get_context
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Callable, Iterator

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat  # the interface RDBStorage implements; Optuna names no public one
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from .errors import TrainingDiverged, UserError, install_hint

JOURNAL = "optuna.journal"      # the study file in the output folder (Optuna's own lock sits beside it)
LOCK = ".lenet5-study.lock"     # ours, for the few read-then-write steps (see `exclusive`)
HEARTBEAT_S = 5                 # a running trial's worker says it is alive this often...
GRACE_S = 20                    # ...and is taken for dead after this long without a word
POLL_S = 1.0                    # how often a waiting worker or the watching process looks at the study
STOP_S = 1.5                    # interrupted workers get this long to fail their trial, then are killed
HEARTBEAT_ATTR = "lenet5:heartbeat"
EXIT_INTERRUPTED = 130

optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own lines say what happened, without tracebacks


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Without Optuna's notes that heartbeats are experimental and meant for `optimize` (we use them as meant)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with")
        yield


class _HeartbeatJournal(JournalStorage, BaseHeartbeat):
    """JournalStorage with Optuna's heartbeat interface, which only RDBStorage implements: the beat is a
    trial system attribute, so `optimize` and `fail_stale_trials` work unchanged.

    One machine's clock judges every beat, which is all a journal file on one machine needs.
    """

    def __init__(self, backend: JournalFileBackend):
        super().__init__(backend)

    def record_heartbeat(self, trial_id: int) -> None:
        with contextlib.suppress(UpdateFinishedTrialError):  # failed as stale meanwhile: its tell will say so
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        return [t._trial_id for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
                if now - t.system_attrs.get(HEARTBEAT_ATTR, t.datetime_start.timestamp()) > GRACE_S]

    def get_heartbeat_interval(self) -> int:
        return HEARTBEAT_S

    def get_heartbeat_stale_trial_callback(self) -> None:
        return None  # `requeue_interrupted` queues failed trials again, under the lock: once


@dataclasses.dataclass(frozen=True)
class StudyRef:
    """Where a study lives: `url` (None: the journal file in `folder`), its name; `folder` also holds the runs."""
    url: str | None
    folder: Path
    name: str

    def where(self) -> str:
        if self.url is None:
            return str(self.folder / JOURNAL)
        from sqlalchemy.engine import make_url
        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # not a URL at all: say nothing of what may be a password
            return "the --storage URL"

    def open(self) -> optuna.storages.BaseStorage:
        if self.url is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            return _HeartbeatJournal(JournalFileBackend(str(self.folder / JOURNAL)))
        if not self.url.startswith(("postgresql://", "postgresql+")):
            raise UserError(f"--storage takes a postgresql:// URL, got {self.where()!r}; leave it out to keep the "
                            f"study in a file in --out (one machine)")
        import sqlalchemy
        url = self.url.replace("postgresql://", "postgresql+psycopg://", 1)  # psycopg 3, whichever SQLAlchemy
        try:
            engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
            # Optuna creates its tables on first use; machines starting at once must not race to do so.
            with engine.begin() as conn, quiet():
                conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(hashtext('lenet5:schema'))"))
                return RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                  engine_kwargs={"pool_pre_ping": True})
        except ImportError as e:
            raise UserError(f"PostgreSQL storage needs a driver ({e.name} is missing): {install_hint('postgres')}") \
                from None
        except sqlalchemy.exc.OperationalError as e:
            reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
            raise UserError(f"cannot use the database at {self.where()}: {reason}") from None

    def create(self, storage, **kwargs: Any) -> optuna.Study:
        """The study, created by whichever process comes first (Optuna makes that atomic)."""
        return optuna.create_study(study_name=self.name, storage=storage, load_if_exists=True,
                                   direction="maximize", **kwargs)

    @contextlib.contextmanager
    def exclusive(self, storage) -> Iterator[None]:
        """One process at a time, on every machine sharing the study: for the steps that read the trials and
        then add one (queueing runs, taking the next). A killed holder's lock goes with its process."""
        if isinstance(storage, RDBStorage):
            from sqlalchemy import text
            with storage.engine.begin() as conn:  # released when this transaction ends
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"lenet5:{self.name}"})
                yield
        else:
            with open(self.folder / LOCK, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                yield


def worker_id() -> str:
    """The "worker" attribute of the trials this process runs: where, and which process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def retire(study: optuna.Study, workers: set[str]) -> None:
    """Fail the trials still running in these stopped workers (killed before they could), as their
    heartbeat would later: at once, so that `requeue_interrupted` or the next command takes them."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("worker") in workers:
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)


def requeue_interrupted(study: optuna.Study) -> None:
    """Queue again each failed trial that has no error of its own (interrupted, or its worker died) and
    was not queued again yet: its parameters and attributes, as Optuna's retry callback copies them.
    Under `exclusive`, so that each is queued once."""
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    with quiet():
        for t in trials:
            if t.state == TrialState.FAIL and "error" not in t.user_attrs and t.number not in retried:
                RetryHeartbeatStaleTrialCallback()(study, t)


def fail_stale(study: optuna.Study) -> None:
    """Fail the running trials whose worker stopped beating (Optuna does this itself inside `optimize`),
    and those whose worker died before its first beat: Optuna never counts a trial without a heartbeat
    as stale, so such a trial would stay RUNNING and every other worker would wait for it forever."""
    with quiet():
        optuna.storages.fail_stale_trials(study)
    now = datetime.datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if "worker" not in t.user_attrs and t.datetime_start and (now - t.datetime_start).total_seconds() > GRACE_S:
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)


def claim(storage, trial: optuna.Trial) -> None:
    """Mark a trial just asked for as this process's: its first heartbeat, then its "worker" attribute
    (in this order: see fail_stale), so that a stopped worker's trial is failed at once by `retire`.
    Between `ask` and here hold interrupts (`interrupts_held`): a trial stopped there was no one's, and
    stayed RUNNING until fail_stale's GRACE_S (seen in CI: SIGTERM to a worker just after its ask)."""
    storage.record_heartbeat(trial._trial_id)
    trial.set_user_attr("worker", worker_id())


@contextlib.contextmanager
def interrupts_held(keep: bool = True) -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends, then act as they would have (`keep`), or are
    dropped: for steps that must not be cut in two. Handlers run only in the main thread; elsewhere
    this holds nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
        for s in dict.fromkeys(held) if keep else ():
            signal.raise_signal(s)  # the handler we put back runs now, in this thread


@contextlib.contextmanager
def heartbeat(storage, trial: optuna.Trial) -> Iterator[None]:
    """Beat for a `claim`ed trial while the block runs: what `optimize` does, for trials run by ask and tell."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            storage.record_heartbeat(trial._trial_id)  # Optuna's storages address trials by this id
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def running(study: optuna.Study, storage, trial: optuna.Trial) -> Iterator[None]:
    """A `claim`ed trial's work, under its `heartbeat`: interrupted, the trial fails with no error of its
    own (so it is queued again); failing, it fails with that error (not queued again). The block tells
    the study how the trial ended otherwise."""
    with heartbeat(storage, trial):
        try:
            yield
        except KeyboardInterrupt:  # (skip_if_finished: the stopping process may have failed it already)
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)  # queued again by the next worker or command
            raise
        except Exception as e:
            trial.set_user_attr("error", str(e))
            study.tell(trial, state=TrialState.FAIL)
            raise


class Progress:
    """Watches a study from the process that started the workers: a tqdm bar over the finished trials, and
    `describe(trial)` said once for each trial that finishes. Call it to look again."""

    def __init__(self, study: optuna.Study, total: int, counts: Callable[[FrozenTrial], bool],
                 describe: Callable[[FrozenTrial], str | None], log: Callable[[str], None] | None,
                 bar: bool, unit: str, postfix: Callable[[list[FrozenTrial]], str] = lambda trials: ""):
        from tqdm import tqdm
        self.study, self.counts, self.describe, self.postfix = study, counts, describe, postfix
        self.bar = tqdm(total=total, unit=unit, disable=not bar, dynamic_ncols=True)
        self.seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
        self.bar.update(sum(map(counts, study.get_trials(deepcopy=False))))
        if log is None:
            self.say = lambda s: None
        else:
            self.say = (lambda s: self.bar.write(s, file=sys.stdout)) if bar else log

    def __call__(self) -> None:
        trials = self.study.get_trials(deepcopy=False)
        for t in trials:
            if t.state.is_finished() and t.number not in self.seen:
                self.seen.add(t.number)
                line = self.describe(t)
                if line:
                    self.say(line)
        self.bar.n = min(self.bar.total, sum(map(self.counts, trials)))
        self.bar.set_postfix_str(self.postfix(trials), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def run_workers(work: Callable[..., None], args: tuple, jobs: int, watch: Callable[[], None],
                stopped: Callable[[set[str]], None]) -> None:
    """`work(*args)` here (jobs=1: no spawning, so it also runs in a notebook), or in `jobs` spawned
    processes, each with cores/jobs threads, while `watch()` is called every POLL_S; then, however they
    ended, `stopped(their worker_ids)`.

    A worker's error stops the others and is raised here. Interrupted (Ctrl-C, or SIGTERM, which the CLI
    turns into KeyboardInterrupt), the workers get SIGTERM: each fails its running trial and exits; one
    still alive after STOP_S is killed, and `stopped` is where its trial is failed (`retire`).
    Scripts calling this with jobs > 1 need the usual `if __name__ == "__main__":` guard.
    """
    if jobs == 1:
        try:
            _watched(work, args, watch)
        finally:
            stopped({worker_id()})
        return
    procs: list = []
    try:
        _spawned(work, args, jobs, watch, procs)
    finally:
        stopped({f"{socket.gethostname()}:{p.pid}" for p in procs})


def _watched(work: Callable[..., None], args: tuple, watch: Callable[[], None]) -> None:
    """`work(*args)` in this thread while another calls `watch()` every POLL_S."""
    stop = threading.Event()

    def watching() -> None:
        while not stop.wait(POLL_S):
            watch()
    watcher = threading.Thread(target=watching, daemon=True)
    watcher.start()
    try:
        work(*args)
    finally:
        stop.set()
        watcher.join()
    watch()


def _spawned(work: Callable[..., None], args: tuple, jobs: int, watch: Callable[[], None], procs: list) -> None:
    """`work(*args)` in `jobs` spawned processes (appended to `procs`) while this one calls `watch()`."""
    ctx = get_context("spawn")  # safe with torch's threads
    reader, writer = ctx.Pipe(duplex=False)
    threads = max(1, (os.cpu_count() or 1) // jobs)  # oversubscribing the cores costs several-fold
    procs += [ctx.Process(target=_worker, args=(work, args, threads, writer)) for _ in range(jobs)]
    error = None
    try:
        for p in procs:
            p.start()
        while error is None and any(p.is_alive() for p in procs):
            ready = wait([reader, *(p.sentinel for p in procs if p.is_alive())], timeout=POLL_S)
            if reader in ready:
                error = reader.recv()
            watch()
    except BaseException:
        with interrupts_held(keep=False):  # a second Ctrl-C must not cut short the workers' failing of their trials
            _stop(procs)
        raise
    _stop(procs)
    if error is None and reader.poll():
        error = reader.recv()
    if error is not None:
        raise error
    watch()


def _stop(procs: list) -> None:
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()


def _interrupt(signum, frame):
    # Once: a second signal must not cut the trial's own failing short. A handler that does nothing, not
    # SIG_IGN: Ctrl-C reaches the workers with the main process's SIGTERM close behind, and a pending
    # signal turned to SIG_IGN printed "OSError: Signal 15 ignored due to race condition" and a traceback.
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)
    raise KeyboardInterrupt


def _ignore(signum, frame):
    pass


def _worker(work: Callable[..., None], args: tuple, threads: int, errors) -> None:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        import torch
        from tqdm import tqdm
        # Not tqdm's default multiprocessing lock: a worker leaves by os._exit, and its semaphores were
        # reported "leaked" by the resource tracker after the command had said it was interrupted.
        tqdm.set_lock(threading.RLock())
        torch.set_num_threads(threads)
        work(*args)
    except KeyboardInterrupt:
        # Its trial is failed in the study already; tearing down the interpreter (torch's threads
        # and all) would take longer than STOP_S.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    except BaseException as e:
        if not isinstance(e, (UserError, TrainingDiverged, SystemExit)):
            traceback.print_exc()  # a bug keeps its traceback
        try:
            errors.send(e)
        except (pickle.PicklingError, TypeError, AttributeError):
            errors.send(RuntimeError(f"a worker failed: {e!r}"))
        sys.exit(1)
