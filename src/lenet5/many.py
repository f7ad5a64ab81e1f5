"""Many images at once: folders expanded into image files, and preprocessing spread over the cores.

    from lenet5.many import collect_images, image_files, preprocessing
    items = collect_images(["scans/", "photo.jpg"])       # files, or (path, message) for a bad one
    with preprocessing(image_files(items)) as arrays:     # the workers start now
        ...                                                # load a model meanwhile
        for array, error in arrays: ...                   # in order; array None: blank

No torch here, on purpose: `lenet5 predict` starts the workers before it imports torch and loads the
model (3.7–4.2 s of the start-up on this machine), so both happen at once, and the workers are
forked from a process without torch's threads.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .preprocess import (FIELD, IMAGE_EXTENSIONS, BlankImageError, ImageError, light_paper, preprocess,
                         unit_range, unspecked)
from .run import RunFolder

BLANK_INK = 1e-3  # a 28×28 array whose brightest pixel is less than this over its darkest holds no digit
MNIST_SIDES = (13, 22)  # px: a 28×28 array whose ink's longer side is outside these is not fitted as MNIST's
POOL_MIN_FILES = 64  # folders at least this large are preprocessed in parallel processes
POOL_CHUNK = 64  # images per task and per model call
WORKER_CHECK_S = 0.5  # s: while no result comes, how often the workers are looked at (one may have died)

Result = tuple[np.ndarray | None, str | None]  # (array or None for blank, None) or (None, error message)


def to_array(image: Any) -> np.ndarray | None:
    """The 28×28 MNIST-like array of one image, or None when it holds no ink (blank)."""
    image = as_input(image)
    if isinstance(image, np.ndarray) and image.shape in ((FIELD, FIELD), (1, FIELD, FIELD)):
        image = arr = unit_range(image.reshape(FIELD, FIELD))  # (0–1 from here: not worked out again)
        if _dark_ground(arr):
            if np.ptp(arr) < BLANK_INK:  # all one level: no ink
                return None
            if _in_mnist_box(arr):
                return arr
    try:
        return preprocess(image)
    except BlankImageError:
        return None


def as_input(image: Any) -> Any:
    """A path, bytes, a PIL image or a numpy array as it is; a torch tensor or nested lists as an array."""
    if isinstance(image, (np.ndarray, str, os.PathLike, bytes, bytearray)) or hasattr(image, "getpixel"):
        return image
    if isinstance(image, (list, tuple)) or hasattr(image, "__array__"):
        try:
            return np.asarray(image, dtype=np.float32)
        except Exception as e:  # ragged lists, a tensor that needs .detach(): one line, not a traceback
            raise ImageError(f"a {type(image).__name__} that is no array of numbers ({str(e).split('. ')[0]}); "
                             f"give a file path, bytes, a PIL image or a numpy array") from None
    raise ImageError(f"a {type(image).__name__} is not an image; give a file path, bytes, a PIL image or a numpy array")


def _dark_ground(a: np.ndarray) -> bool:
    """A 28×28 array (values 0–1) already on MNIST's black ground, not a digit on light paper, which is
    preprocessed like any image."""
    return not light_paper(a)


def _in_mnist_box(arr: np.ndarray) -> bool:
    """Whether a 28×28 digit on a dark ground (values 0–1) is fitted as MNIST's are, its longer side 20
    px. Its ink: over half-way from the ground to the brightest pixel, specks left out (every MNIST test
    digit: 14–20 px; 1,989 of 2,000 with noise of σ 0.2 added: 17–22). One filling the field, as 28×28
    sets that scale each digit to its box keep them, is preprocessed like any image: 1,000 MNIST test
    digits scaled so were read 96.5% right by the bundled model as they came, 99.4% preprocessed."""
    ground = float(np.median(arr))
    ink = unspecked(arr > ground + 0.5 * (arr.max() - ground))
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if not rows.size:  # specks only (noise): nothing to fit, read as it is
        return True
    return MNIST_SIDES[0] <= max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= MNIST_SIDES[1]


def source_name(image: Any) -> str:
    return str(image) if isinstance(image, (str, os.PathLike)) else ""


def naming(message: str, name: str) -> str:
    """The error message, starting with the file's name (once)."""
    return message if not name or message.startswith(name) else f"{name}: {message}"


def collect_images(paths: Sequence[str | os.PathLike]) -> list[Path | tuple[str, str]]:
    """Expand folders into their image files (by extension, sorted), in the order given.

    A path that cannot be used becomes a (path, message) pair in its place.
    """
    items: list[Path | tuple[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if not str(raw):  # Path("") is the current folder: not what anyone means by it
            items.append(("", "an empty path was given: name an image file or a folder"))
        elif p.is_dir() and RunFolder(p).checkpoints_dir.is_dir():
            items.append((str(p), f"{p} is a run folder, not images: pass it as --model {p}"))
        elif p.is_dir():
            try:
                found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS and not f.is_dir())
            except PermissionError:
                items.append((str(p), f"{p}: permission denied; check the folder's permissions"))
                continue
            # a FIFO or a device stays a file, refused by `preprocess` in one line, like one named alone
            items += [f if f.exists() else (str(f), _broken_link(f))
                      for f in found] or [(str(p), f"{p}: folder has no image files ({', '.join(IMAGE_EXTENSIONS)})")]
        elif p.exists():
            items.append(p)
        elif p.is_symlink():
            items.append((str(p), _broken_link(p)))
        else:
            items.append((str(p), f"{p}: no such file or folder"))
    return items


def skipped_in_folders(paths: Sequence[str | os.PathLike]) -> list[str]:
    """A note for each folder among `paths` that holds folders, or files without an image's extension:
    only a folder's own image files are read (a file named alone is read whatever its name)."""
    notes = []
    for raw in dict.fromkeys(map(str, paths)):  # a folder named twice is noted once
        p = Path(raw)
        try:  # hidden entries (.git, .DS_Store) and links to folders are no one's images
            entries = [f for f in p.iterdir() if not f.name.startswith(".")] if raw and p.is_dir() else []
            subs = sorted(f.name for f in entries if f.is_dir() and not f.is_symlink())
            others = sorted(f.name for f in entries if f.is_file() and f.suffix.lower() not in IMAGE_EXTENSIONS)
        except OSError:  # unreadable: collect_images names it
            subs, others = [], []
        if subs:
            notes.append(f"{p}: its {len(subs)} subfolder(s) ({_some(subs)}) are not read; name them to read their images")
        if others:
            notes.append(f"{p}: {len(others)} file(s) without an image extension ({_some(others)}) are not read; "
                         f"name them to read them")
    return notes


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", …" if len(names) > 3 else "")


def _broken_link(p: Path) -> str:
    try:
        os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:  # (it was called a link to a file that does not exist, which does)
            return f"{p}: a loop of links (it points to {os.readlink(p)}, which leads back to it)"
    return f"{p}: a broken link (it points to {os.readlink(p)}, which does not exist)"


def image_files(items: Sequence[Path | tuple[str, str]]) -> list[Path]:
    """The files among `collect_images`' items (not the (path, message) pairs)."""
    return [i for i in items if not isinstance(i, tuple)]


def preprocess_one(image: Any) -> Result:
    """`to_array` of one image, or its error as a message naming it; runs in a worker."""
    try:
        return to_array(image), None
    except ImageError as e:
        return None, naming(str(e), source_name(image))


def preprocess_all(images: Sequence[Any]) -> list[Result]:
    return [preprocess_one(image) for image in images]


@contextmanager
def preprocessing(images: Sequence[Any], progress: bool = False) -> Iterator[Iterator[Result]]:
    """Start preprocessing `images` now — in a pool of processes, one per core, when there are many —
    and give the results in order, with a tqdm bar. Leaving the block kills the workers at once: an
    interrupted folder stops in milliseconds."""
    from tqdm import tqdm
    workers = min(os.cpu_count() or 1, 8)
    with tqdm(total=len(images), unit="img", disable=not progress, file=sys.stderr) as bar:
        if len(images) < POOL_MIN_FILES or workers < 2:
            yield _counted(map(preprocess_one, images), bar)
            return
        pool = _Workers(images, workers)
        try:
            yield _counted(pool.results(), bar)
        finally:
            pool.stop()


class _Workers:
    """`preprocess_one` of each image, in order, from a pool of worker processes.

    A worker that dies (the out-of-memory killer, a `kill -9`) breaks the pool (a ProcessPoolExecutor:
    `multiprocessing.Pool` never sent its images again, and could deadlock on a lock the dead worker
    held). The images from the first one unread are then read by a new pool, the next POOL_CHUNK by one
    worker, one at a time, so that an image whose worker dies there is known, and answered with an
    error instead."""

    def __init__(self, images: Sequence[Any], processes: int):
        from multiprocessing import get_context
        self.images, self.processes = images, processes
        # fork: workers start in milliseconds and need only numpy, Pillow and scipy
        self.context = get_context("fork" if sys.platform == "linux" else "spawn")
        self.pool, self.started = None, []

    def results(self) -> Iterator[Result]:
        from concurrent.futures.process import BrokenProcessPool
        start, alone_until = 0, 0
        while start < len(self.images):
            alone = start < alone_until
            todo = self.images[start:alone_until] if alone else self.images[start:]
            try:
                for result in self._read(todo, 1 if alone else POOL_CHUNK):
                    yield result
                    start += 1
            except BrokenProcessPool:
                if alone:  # the one worker held this image, and only this one
                    yield None, naming(f"the process reading it alone was {self._how_one_ended()}: if memory "
                                       f"ran out, free some or make the image smaller", source_name(self.images[start]))
                    start += 1
                else:
                    alone_until = start + POOL_CHUNK
            self.stop()

    def _read(self, images: Sequence[Any], chunk: int) -> Iterator[Result]:
        """The results of a new pool (of one process when a chunk is one image), `chunk` images a task."""
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import active_children
        before = set(active_children())
        self.pool = ProcessPoolExecutor(1 if chunk == 1 else self.processes, mp_context=self.context,
                                        initializer=_pool_worker)
        tasks = [self.pool.submit(preprocess_all, images[:chunk])]
        self.started = [p for p in active_children() if p not in before]  # (started by the first submit; seen
        tasks += [self.pool.submit(preprocess_all, images[i:i + chunk])  # before an image can end them)
                  for i in range(chunk, len(images), chunk)]
        for task in tasks:
            yield from self._result_of(task)

    def _result_of(self, task) -> list[Result]:
        """task.result(), or BrokenProcessPool once a worker has died. The pool notices a death by itself,
        but not one as the worker wrote a result (64 arrays: 200 KB, a few writes): its reader then waits
        for the rest for ever, and the other workers wait for the lock the dead one held."""
        from concurrent.futures.process import BrokenProcessPool
        while True:
            try:
                return task.result(timeout=WORKER_CHECK_S)
            except TimeoutError:
                if any(p.exitcode is not None for p in self.started):
                    raise BrokenProcessPool("a worker process died") from None

    def _how_one_ended(self) -> str:
        """How the worker of a broken pool of one ended."""
        end = time.monotonic() + 1
        while not (codes := [p.exitcode for p in self.started if p.exitcode]) and time.monotonic() < end:
            time.sleep(0.01)  # (the pool's own thread collects its status: until it has, it reads None)
        return _ended_by(codes[0]) if codes else "ended abruptly"

    def stop(self) -> None:
        """Kill the workers (a stopped one too, which a SIGTERM would wait for), then close the pool."""
        for p in self.started:
            if p.exitcode is None:
                p.kill()
        if self.pool is not None:
            # A worker killed or stopped as it wrote a result left the pool's reader waiting for the rest
            # (1 in 25 workers stopped at random, then Ctrl-C: the command hung). With the workers gone,
            # closing this process's own end of that pipe, which it never writes to, ends the wait.
            results = getattr(self.pool, "_result_queue", None)  # (ProcessPoolExecutor's, since 3.2)
            if results is not None:
                results._writer.close()
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool, self.started = None, []


def _ended_by(exitcode: int) -> str:
    """How a process that left with `exitcode` ended: "killed by SIGKILL (…)", "ended with status 1"."""
    if exitcode >= 0:
        return f"ended with status {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    return f"killed by {name}" + (" (as the out-of-memory killer kills)" if -exitcode == signal.SIGKILL else "")


def preprocess_many(images: Sequence[Any], progress: bool = False) -> Iterable[Result]:
    """`preprocess_one` of each image in order: `preprocessing`, started when first asked."""
    with preprocessing(images, progress) as results:
        yield from results


def _counted(results: Iterable[Result], bar) -> Iterator[Result]:
    for r in results:
        bar.update()  # before handing it on: a reader that zips it with its files never asks past the last
        yield r


def _pool_worker() -> None:
    """Ctrl-C reaches the whole process group: the parent alone handles it (and stops the workers),
    and SIGTERM ends a worker quietly instead of raising into its loop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    one_blas_thread()


def one_blas_thread() -> None:
    """numpy's BLAS on one thread in this process. Forked workers (or server threads) that each keep
    the BLAS thread pool oversubscribe the cores: in a 2-process pool an image took 9.2 ms, against 6.0 ms
    in one process (3.2–4.1 ms with one BLAS thread each)."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
