"""Shared fixtures: the real MNIST files and one real, short training run reused by many tests."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINED_EPOCHS = 3  # the bar: `modern` must pass the report's 98.85% within 3 epochs
DATA_DIR = Path(os.environ.get("LENET5_DATA_DIR") or ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "mnist").is_dir():
        pytest.fail(f"MNIST files not found under {DATA_DIR}; set LENET5_DATA_DIR")
    return DATA_DIR


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, data_dir) -> Path:
    """A real `modern` run: 3 full epochs of MNIST (~99% test accuracy), shared by later tests."""
    from lenet5.config import resolve
    from lenet5.train import train
    out = tmp_path_factory.mktemp("runs") / "modern"
    train(resolve("modern", {"train": {"epochs": TRAINED_EPOCHS}}), out, data_dir=data_dir, device="cpu", log=None)
    return out


def run_cli(*args, env_extra=None, timeout=300, **kw):
    """`python -m lenet5 ARGS` as a real subprocess."""
    import subprocess
    env = {**os.environ, "LENET5_DATA_DIR": str(DATA_DIR), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "lenet5", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, **kw)


def shadowing(folder: Path, module: str, code: str) -> dict[str, str]:
    """The PYTHONPATH under which `import module` finds, before the installed one, a package in
    `folder` that runs `code`: as if the module were missing, or did that as it is imported."""
    package = folder / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(code)
    return {"PYTHONPATH": str(folder)}


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session: Debian's binaries (`.ci/run` installs them), run by an
    unprivileged user (PostgreSQL refuses root) in a temporary folder, on a free local port."""
    import glob
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not bindirs:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    folder = Path(tempfile.mkdtemp(prefix="lenet5-postgres-"))  # not under pytest's root-only tmp folder
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody", pwd.getpwnam("nobody").pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, f"{bindirs[-1]}/{cmd[0]}", *cmd[1:]], check=True, capture_output=True,
                       cwd=folder, timeout=120)
    run("initdb", "-D", str(data), "-U", "lenet5", "--auth=trust", "-E", "UTF8")
    run("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "-o",
        f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off", "start")
    try:
        yield f"postgresql://lenet5@127.0.0.1:{port}"
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """A fresh, empty database on the session's server, for one test."""
    import re

    import psycopg
    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:50]
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


def study_trials(url, out, study):
    """The trials of a lenet5 study (PostgreSQL at `url`, or the journal file in `out`), read with Optuna."""
    import optuna
    if url:  # opened as lenet5 opens it (it makes Optuna's tables under a lock), then read with Optuna alone
        from lenet5.sweep import StudyRef
        storage = StudyRef(url, out, study).open()
    else:
        from optuna.storages.journal import JournalFileBackend
        storage = optuna.storages.JournalStorage(JournalFileBackend(str(out / "optuna.journal")))
    return optuna.load_study(study_name=study, storage=storage).get_trials()


def wait_for_trials(condition, url, out, study, timeout=180):
    """The study's trials once `condition(trials)` holds (polled), e.g. two of them running."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if url or (out / "optuna.journal").exists():
            try:
                trials = study_trials(url, out, study)
            except KeyError:  # the study is not made yet
                trials = []
            if condition(trials):
                return trials
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for study {study!r}")
