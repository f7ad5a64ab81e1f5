"""Writing files so that a kill or an error never leaves half of one under the real name.

    with atomic_path(run / "metrics.csv") as tmp:
        tmp.write_text(text)            # renamed onto metrics.csv only if the block succeeds
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .errors import UserError


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path`: renamed onto it when the block succeeds, removed when it fails.

    The temporary name keeps no extension of its own, so writers that guess a format from the name
    must be told the format.
    """
    path = Path(path)
    with new_folders_undone_on_failure(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: parallel writers never collide
        try:
            yield tmp
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


@contextmanager
def new_folders_undone_on_failure(folder: str | os.PathLike) -> Iterator[None]:
    """`folder` and those of its parents that do not exist yet, if the block makes them and then fails
    (or is interrupted), are removed again, deepest first; one that holds anything stays."""
    missing, f = [], Path(folder)
    while not f.exists() and f != f.parent:
        missing.append(f)
        f = f.parent
    try:
        yield
    except BaseException:
        for f in missing:
            with suppress(OSError):
                f.rmdir()
        raise


def written_path(path: str | os.PathLike) -> str:
    """The file an atomic_path temporary stands for (so an error names what the user asked for);
    any other path as it is."""
    m = re.fullmatch(r"\.(.+)\.\d+\.tmp", Path(path).name)
    return str(Path(path).with_name(m.group(1))) if m else str(path)


def read_json(path: str | os.PathLike, what: str) -> Any:
    """The JSON in `path`, or a UserError naming `what` the file should be."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {e.strerror}") from None
    except ValueError as e:
        raise UserError(f"{path} is not {what} (not valid JSON: {e})") from None


def check_output_folder(folder: str | os.PathLike, what: str, label: str | None = None) -> None:
    """One line (UserError) unless `folder` is a folder, or could be made as one, that this process may
    write `what` into. `label` names it in the message (default: the path)."""
    p, label = Path(folder).absolute(), label or str(folder)
    existing = next(q for q in (p, *p.parents) if q.exists())
    if not existing.is_dir():
        where = "exists and" if existing == p else f"{existing}"
        raise UserError(f"{label}: {where} is not a folder; give a folder for {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{label}: {existing} is not writable; give a folder you can write {what} to")
    if existing != p:  # made and taken away again: access() says yes where mkdir cannot (/proc, a full disk)
        made = [q for q in (p, *p.parents) if not q.exists()]  # (the deepest first)
        try:
            p.mkdir(parents=True)
        except OSError as e:
            raise UserError(f"{label}: cannot be made in {existing} ({e.strerror}); give a folder you can write "
                            f"{what} to") from None
        for q in made:
            q.rmdir()


def file_sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256 as hex: how a shipped file is matched with its record."""
    import hashlib
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv_atomic(path: str | os.PathLike, fields: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    """A CSV of `fields` per row; floats with 6 decimals (metrics, not bits, are what a reader compares)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6f}" if isinstance(r[k], float) else r[k]) for k in fields})
    write_text_atomic(path, buf.getvalue())


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Bytes flushed to disk before the rename (a download must survive a power cut whole or not at all)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
