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
