"""An earlier commit of lenet5 beside this one, for side-by-side benchmarks.

    with baseline_checkout("a81d5b3", tmp) as old_src:   # old_src: PYTHONPATH for the old code
        model = train_quick_model(old_src, tmp / "run", "modern", data_dir)
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "a81d5b3"  # the last commit before issues 10 and 11 (bundled model, batched folders, lanes)


@contextmanager
def baseline_checkout(commit: str, tmp: Path):
    """The commit's source in a temporary `git worktree`; yields its src folder."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tmp / "old"), commit],
                   check=True, capture_output=True)
    try:
        yield tmp / "old" / "src"
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "old")],
                       capture_output=True)


def train_quick_model(src: Path, out: Path, preset: str, data_dir: str | None) -> Path:
    """A 1-epoch run on 10,000 images made by the code in `src` (old code cannot read today's configs)."""
    subprocess.run([sys.executable, "-m", "lenet5", "train", "--preset", preset, "--epochs", "1",
                    "--subset", "10000", "--out", str(out), "--no-report", "--quiet"]
                   + (["--data-dir", data_dir] if data_dir else []),
                   env={**os.environ, "PYTHONPATH": str(src)}, check=True, capture_output=True)
    return out
