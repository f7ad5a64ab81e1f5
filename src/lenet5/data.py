"""MNIST and Fashion-MNIST: find, download, verify and parse the IDX files; hold them in memory.

    from lenet5 import data
    train = data.load("mnist", "train", data_dir="../shared/data")   # -> Split
    train.images.shape   # torch.Size([60000, 1, 28, 28]), float32 in [0, 1]
    for x, y in data.batches(train, 512, generator=torch.Generator().manual_seed(0)):
        ...

Where the files are looked for: the `data_dir` argument, else $LENET5_DATA_DIR, else ./data; the
folder may hold the files directly or under a sub-folder named after the data set.
"""

from __future__ import annotations

import gzip
import math
import hashlib
import os
import socket
import sys
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from .errors import DataError, UserError
from .files import new_folders_undone_on_failure, write_bytes_atomic

if TYPE_CHECKING:  # torch is imported where tensors are made (the command line reads this module without it)
    import torch

DATA_DIR_ENV = "LENET5_DATA_DIR"
MIRRORS_ENV = "LENET5_MIRRORS"  # comma-separated base URLs tried before none else: a local or corporate mirror
DEFAULT_DATA_DIR = "data"
TIMEOUT_S = 10.0  # to connect, and for each read: a mirror that accepts and never answers is left quickly
DEADLINE_S = 300.0  # per file, however slowly bytes trickle in (MNIST's largest file is 9.9 MB)
CHUNK = 1 << 16
IDX_UBYTE_IMAGES = 2051  # IDX magic: unsigned bytes, 3 dimensions
IDX_UBYTE_LABELS = 2049  # IDX magic: unsigned bytes, 1 dimension
PIXEL_MAX = 255.0
FIX_HINT = "delete it and run `lenet5 data download`, or supply a good copy with --data-dir"


@dataclass(frozen=True)
class FileSpec:
    name: str  # without .gz
    md5: str  # of the decompressed bytes: mirrors recompress, the content is what matters
    magic: int
    count: int


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    classes: tuple[str, ...]
    files: dict[str, tuple[FileSpec, FileSpec]]  # split -> (images, labels)
    mirrors: tuple[str, ...]

    def all_files(self) -> list[FileSpec]:
        return [f for pair in self.files.values() for f in pair]


def _split(prefix: str, count: int, md5_images: str, md5_labels: str) -> tuple[FileSpec, FileSpec]:
    return (FileSpec(f"{prefix}-images-idx3-ubyte", md5_images, IDX_UBYTE_IMAGES, count),
            FileSpec(f"{prefix}-labels-idx1-ubyte", md5_labels, IDX_UBYTE_LABELS, count))


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        classes=tuple(str(d) for d in range(10)),
        files={
            "train": _split("train", 60000, "6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624"),
            "test": _split("t10k", 10000, "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"),
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        files={
            "train": _split("train", 60000, "f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9"),
            "test": _split("t10k", 10000, "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"),
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
}


def get_spec(dataset: str) -> DatasetSpec:
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    return DATASETS[dataset]


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The argument, else $LENET5_DATA_DIR, else ./data."""
    return Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def find_file(root: Path, spec: DatasetSpec, f: FileSpec) -> Path | None:
    for folder in (root / spec.name, root):
        for name in (f.name, f.name + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def require_file(root: Path, spec: DatasetSpec, f: FileSpec) -> Path:
    path = find_file(root, spec, f)
    if path is None:
        raise DataError(f"{spec.name}: {f.name}(.gz) not found in {root} or {root / spec.name}; "
                        f"download them (`lenet5 data download --dataset {spec.name}`) or point the data folder at a copy")
    return path


# ---------------------------------------------------------------- parsing and verifying

def _decompress(blob: bytes, where: str) -> bytes:
    """The IDX bytes of a file that may or may not be gzipped."""
    if blob[:2] != b"\x1f\x8b":
        return blob
    try:
        return gzip.decompress(blob)
    except EOFError:
        raise DataError(f"{where}: truncated gzip file; {FIX_HINT}") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise DataError(f"{where}: corrupt gzip file ({e}); {FIX_HINT}") from None


def parse_idx(raw: bytes, f: FileSpec, where: str, verify_md5: bool = True) -> np.ndarray:
    """Check magic, shape, length and checksum of one decompressed IDX file; return its array."""
    ndim = 3 if f.magic == IDX_UBYTE_IMAGES else 1
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise DataError(f"{where}: truncated ({len(raw)} bytes, shorter than the IDX header); {FIX_HINT}")
    magic = int.from_bytes(raw[:4], "big")
    if magic != f.magic:
        raise DataError(f"{where}: wrong magic number {magic} (expected {f.magic}): not an IDX "
                        f"{'image' if ndim == 3 else 'label'} file; {FIX_HINT}")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if dims[0] != f.count:
        raise DataError(f"{where}: holds {dims[0]} items, expected {f.count}; {FIX_HINT}")
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"{where}: truncated or padded ({len(raw)} bytes, expected {expected}); {FIX_HINT}")
    if verify_md5 and hashlib.md5(raw).hexdigest() != f.md5:
        raise DataError(f"{where}: checksum mismatch (MD5 of the decompressed bytes is not {f.md5}); {FIX_HINT}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, f: FileSpec) -> np.ndarray:
    return parse_idx(_decompress(path.read_bytes(), str(path)), f, str(path))


# ---------------------------------------------------------------- downloading

Fetch = Callable[[str], bytes]


def fetch_url(url: str, timeout: float = TIMEOUT_S, deadline: float = DEADLINE_S, progress: bool = False) -> bytes:
    """The body at `url`; TimeoutError when connecting or any read takes over `timeout` seconds,
    or the whole file over `deadline`."""
    from tqdm import tqdm
    end = time.monotonic() + deadline
    with urllib.request.urlopen(url, timeout=timeout) as r:
        size = int(r.headers.get("Content-Length") or 0) or None
        chunks = []
        with tqdm(total=size, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], leave=False,
                  disable=not progress, file=sys.stderr) as bar:
            while chunk := r.read1(CHUNK):
                chunks.append(chunk)
                bar.update(len(chunk))
                if time.monotonic() > end:
                    raise TimeoutError(f"not finished after {deadline:.0f} s")
    return b"".join(chunks)


def _why(e: Exception) -> str:
    """What a mirror answered, in a few words: 'HTTP 404', 'timed out', 'connection refused'."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    reason = getattr(e, "reason", None) or e
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out{f' ({reason})' if str(reason) not in ('', 'timed out') else ''}"
    return str(getattr(reason, "strerror", None) or reason).splitlines()[0][:120]


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ok = os.access(folder, os.W_OK)
    except OSError as e:
        ok, why = False, e.strerror
    else:
        why = "permission denied"
    if not ok:
        raise DataError(f"cannot write the data into {folder} ({why}); choose a data folder you can write "
                        f"(--data-dir or ${DATA_DIR_ENV})")


def download(dataset: str = "mnist", data_dir: str | os.PathLike | None = None,
             mirrors: Sequence[str] | None = None, fetch: Fetch | None = None,
             splits: Sequence[str] | None = None, progress: bool = False) -> list[Path]:
    """Fetch every missing file of `dataset` (of `splits`, default all) into DATA_DIR/<dataset>/,
    verified; return their paths.

    Mirrors: the argument, else $LENET5_MIRRORS, else the data set's known ones. Each file is
    tried on each mirror in order; a network error, a timeout or a checksum mismatch falls
    through to the next. Nothing is written until a download has been verified.
    """
    spec = get_spec(dataset)
    root = resolve_data_dir(data_dir)
    fetch = fetch or (lambda url: fetch_url(url, progress=progress))
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV)
        mirrors = tuple(m.strip() for m in env.split(",") if m.strip()) if env is not None else spec.mirrors
    mirrors = tuple(m if m.endswith("/") else m + "/" for m in mirrors)
    wanted = [f for s in (splits or spec.files) for f in spec.files[s]]
    with new_folders_undone_on_failure(root / spec.name):  # a mistyped --data-dir leaves nothing behind
        return _download_files(spec, root, wanted, mirrors, fetch)


def _download_files(spec: DatasetSpec, root: Path, wanted: list[FileSpec], mirrors: Sequence[str],
                    fetch: Fetch) -> list[Path]:
    if any(find_file(root, spec, f) is None for f in wanted):
        _check_writable(root / spec.name)  # before minutes of downloading, not after
    paths, failures = [], []
    for f in wanted:
        found = find_file(root, spec, f)
        if found is not None:
            paths.append(found)
            continue
        for mirror in mirrors:
            url = mirror + f.name + ".gz"
            try:
                gz = fetch(url)
                parse_idx(_decompress(gz, url), f, url)
            except (OSError, ValueError, DataError) as e:  # URLError and timeouts are OSErrors
                failures.append(f"{url}: {_why(e)}")
                continue
            target = root / spec.name / (f.name + ".gz")
            write_bytes_atomic(target, gz)
            paths.append(target)
            break
    if len(paths) < len(wanted):
        raise DataError(
            f"could not download {spec.name} into {root / spec.name} ({'; '.join(failures) or 'no mirrors given'}); "
            f"copy the IDX files (.gz or not) there, or point the data folder (${DATA_DIR_ENV}) at one that has them")
    return paths


def check(dataset: str = "mnist", data_dir: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """Verify every file of `dataset` on disk; return (path, 'ok') pairs or raise DataError."""
    spec = get_spec(dataset)
    root = resolve_data_dir(data_dir)
    out = []
    for f in spec.all_files():
        path = require_file(root, spec, f)
        read_idx(path, f)
        out.append((path, "ok"))
    return out


# ---------------------------------------------------------------- in memory

@dataclass(frozen=True)
class Split:
    """One split in memory: images N×1×28×28 float32 in [0, 1], labels N int64."""
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def load_arrays(dataset: str, split: str, data_dir: str | os.PathLike | None = None,
                allow_download: bool = True, mirrors: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and labels (N,) of one split, verified."""
    spec = get_spec(dataset)
    if split not in spec.files:
        raise UserError(f"unknown split {split!r}; known: {', '.join(spec.files)}")
    root = resolve_data_dir(data_dir)
    fimg, flab = spec.files[split]
    if allow_download and (find_file(root, spec, fimg) is None or find_file(root, spec, flab) is None):
        download(dataset, root, mirrors, splits=(split,), progress=sys.stderr.isatty())
    arrays = []
    for f in (fimg, flab):
        arrays.append(read_idx(require_file(root, spec, f), f))
    return arrays[0], arrays[1]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], the report's ToTensor scaling."""
    import torch  # in the functions, not at the top: the command line reads DATASETS without torch (2+ s)
    return torch.from_numpy(np.array(images, copy=True)).unsqueeze(1).float().div_(PIXEL_MAX)


def load(dataset: str = "mnist", split: str = "train", data_dir: str | os.PathLike | None = None,
         allow_download: bool = True, mirrors: Sequence[str] | None = None) -> Split:
    import torch
    images, labels = load_arrays(dataset, split, data_dir, allow_download, mirrors)
    return Split(to_tensor(images), torch.from_numpy(labels.astype(np.int64)), get_spec(dataset).classes)


def batches(split: Split, batch_size: int, generator: torch.Generator | None = None,
            limit: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x, y) batches; shuffled by a seeded permutation when `generator` is given.

    The last batch may be smaller (as the report's DataLoader does). `limit` keeps the first
    `limit` examples of the permutation: a quick subset for smoke tests.
    """
    import torch
    n = len(split)
    if generator is not None:
        order = torch.randperm(n, generator=generator)
        if limit is not None:
            order = order[:limit]
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            yield split.images.index_select(0, idx), split.labels.index_select(0, idx)
    else:
        n = min(n, limit) if limit is not None else n
        for i in range(0, n, batch_size):
            yield split.images[i:i + batch_size], split.labels[i:i + batch_size]


AUG_ROTATE_DEG = 10.0  # LeCun et al. 1998 distorted digits by small rotations,
AUG_SCALE = 0.1        # scalings (±10 %)
AUG_SHIFT_PX = 2.0     # and shifts (±2 of 28 pixels)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random small affine distortion of each image in the batch (batched, no Python per image)."""
    import torch
    import torch.nn.functional as F
    n = len(x)

    def uniform() -> torch.Tensor:  # in [-1, 1)
        return torch.rand(n, generator=generator) * 2 - 1

    angle = uniform() * math.radians(AUG_ROTATE_DEG)
    scale = 1 + uniform() * AUG_SCALE
    shift = 2 * AUG_SHIFT_PX / x.shape[-1]  # affine_grid works in [-1, 1] coordinates
    tx, ty = uniform() * shift, uniform() * shift
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
