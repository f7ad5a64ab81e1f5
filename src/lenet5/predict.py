"""Predict digits in real images with a trained model (torch or ONNX Runtime).

    import lenet5
    p = lenet5.load()                                         # the bundled `robust` model
    p = lenet5.load("runs/classic-mnist-s0")                 # or a run folder, a .pt checkpoint, a .onnx file
    [r] = p.predict(["photo.jpg"])                            # paths, PIL images or numpy arrays
    r.label, r.class_name, r.probabilities                    # 7, "7", [10 floats]; label None when refused
    r.reason                                                  # None, "blank" or "not a digit"
    r.side_by_side                                            # True: several digits squeezed into one field
    p.read_number("year.jpg").number                          # "1998" (.is_a_row: a row, not one digit)

A 28×28 numpy array on a dark ground whose digit is fitted as MNIST's are is taken as already
MNIST-like (white ink on black; lenet5.many); anything else (a 28×28 array whose digit fills the
field, or on light paper) is preprocessed (lenet5.preprocess) first.

"Not a digit": a model trained with generated non-digits (`data.negatives` > 0, e.g. `robust`) has
one extra output, "not a digit", and a threshold on its probability calibrated on held-out data
(`lenet5.reject`), stored in the checkpoint. An answer is refused (label None) when that probability
reaches the threshold, or with reason "blank" when the image holds no ink. Models without that
output refuse only blanks. A model whose threshold was calibrated on several views of each digit
(`lenet5.views`: as drawn, turned ±10°, smaller) is read the same way: probabilities are their mean.
"""

from __future__ import annotations

import json
import math
import os
import threading
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .data import get_spec
from .errors import UserError, install_hint, raise_interrupt_inside
from .files import atomic_path, check_output_folder, file_sha256
from .many import (BLANK_INK, POOL_CHUNK, as_input, collect_images, image_files, naming, preprocess_many,
                   preprocessing, source_name, to_array)
from .preprocess import FIELD, BlankImageError, ImageError, side_by_side, split_row
from .reject import checked
from .run import RunFolder
from .views import averaged

# A folder of this many images is classified through ONNX Runtime where it is installed: a batch of 64
# read in four views costs it ~12 ms against torch's ~41 ms, which repays its 0.24-s start after ~500
# images (benchmarks/bench_views.py).
ONNX_RUNTIME_FROM = 1000
BACKENDS = ("torch", "onnx", "auto")  # what computes the logits (`load`)
ONNX_META_KEY = "lenet5"  # metadata_props key holding {"classes", "config", "metrics", "reject"} as JSON
BLANK, NOT_A_DIGIT = "blank", "not a digit"  # the reasons an answer is refused
# A row's pieces must each be this sure to make it a number (`NumberReading.several`): of 300 generated
# rows, 97.0% still are, and of 820 non-digits and doodles 5 (a % as 00, a snail as 12) instead of 9,
# of 4,297 single digits 2 instead of 3 (benchmarks/bench_number.py --rows)...
ROW_SURE = 0.5
# ...and this sure where they are closer than ROW_GAP digit heights (`NumberReading.is_a_row`): then, with
# a 5's bar drawn apart joined to it (`preprocess._flat_joined`), 96.7% of the rows, 2 of the 820 (the %
# twice), none of the single digits.
ROW_CLOSE_SURE = 0.8
ROW_GAP = 0.15  # a 4 drawn in two strokes: its stem 0–0.14 of its height from the rest; six digits in a photo: 0.2


def bundled_model() -> Path:
    """The checkpoint shipped with the package: `robust`, made by `lenet5 train --preset robust`
    (the exact command, config and metrics lie beside it in `weights/robust.json`)."""
    return Path(str(resources.files("lenet5") / "weights" / "robust.pt"))


@dataclass
class Prediction:
    label: int | None                   # the digit, or None when refused (see `reason`)
    class_name: str | None
    probabilities: list[float] | None   # over the digit classes, summing to 1; None for a blank image
    preprocessed: np.ndarray | None = field(default=None, repr=False)  # the 28×28 image the model saw (zeros
                                        # for a blank one); not in the repr: 28 lines in a notebook
    source: str = ""
    reason: str | None = None           # None, "blank" or "not a digit"
    not_digit: float | None = None      # the model's probability that this is no digit (models that have it)

    @property
    def side_by_side(self) -> bool:
        """Whether what the model saw looks like several digits in a row squeezed into one field
        (`preprocess.side_by_side`): `read_number` reads such an image as a number."""
        return self.reason != BLANK and self.preprocessed is not None and side_by_side(self.preprocessed)

    def top_k(self, k: int, classes: Sequence[str]) -> list[tuple[str, float]]:
        if self.probabilities is None:
            return []
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(classes[i], self.probabilities[i]) for i in order]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.source, "label": self.label, "class_name": self.class_name}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.probabilities is not None:
            out["probabilities"] = [round(p, 6) for p in self.probabilities]
        if self.not_digit is not None:
            out["not_digit"] = round(self.not_digit, 6)
        return out


@dataclass
class NumberReading:
    number: str | None  # the digits read, left to right, "?" where a piece is no digit; None when refused
    digits: list[Prediction]
    source: str = ""
    reason: str | None = None  # when refused: BLANK (no ink) or NOT_A_DIGIT (no piece is a digit)
    gap: float = math.inf      # the narrowest gap between neighbouring digits, in digit heights (0: cut apart)

    @property
    def confidence(self) -> float:
        """Probability that every digit is right (product of the per-digit top probabilities)."""
        if self.number is None:
            return 0.0
        return float(np.prod([max(d.probabilities) if d.label is not None else 0.0 for d in self.digits]))

    @property
    def several(self) -> bool:
        """Two digits or more, every piece read as a digit at least ROW_SURE sure: the image is a row of
        digits, not one digit (a "77" read as one digit is a 7, and a "13" a 3, each 92% sure)."""
        return len(self.digits) >= 2 and all(d.label is not None and max(d.probabilities) >= ROW_SURE
                                             for d in self.digits)

    @property
    def is_a_row(self) -> bool:
        """Whether the image is a row of digits, not one digit: `several`, and its pieces at least ROW_GAP
        apart or every digit ROW_CLOSE_SURE sure. Pieces cut apart where they touch, or one digit drawn
        in two strokes close together, need that: a browser user's 4 so drawn was read as 61, the 6 68% sure."""
        return self.several and (self.gap >= ROW_GAP or all(max(d.probabilities) >= ROW_CLOSE_SURE for d in self.digits))

    def to_dict(self) -> dict[str, Any]:
        out = {"file": self.source, "number": self.number, "confidence": round(self.confidence, 6),
               "digits": [{k: v for k, v in d.to_dict().items() if k != "file"} for d in self.digits]}
        return out if self.reason is None else {**out, "reason": self.reason}


class Predictor:
    """Holds one model; `predict` is safe to call from several threads at once."""

    def __init__(self, run: Any, classes: Sequence[str], info: dict[str, Any], backend: str = "torch"):
        self.backend, self.classes, self.info = backend, list(classes), info
        self.reject: dict[str, Any] | None = checked(info.get("reject"))  # {"index", "threshold", ...} or None
        self.views: tuple[str, ...] = tuple((self.reject or {}).get("views") or ())  # () = read once
        self._run = run  # a torch module in eval mode, or an onnxruntime session
        self._session = run if backend == "onnx" else None  # what answers `logits` when it is not torch
        self._lock = threading.Lock()  # torch modules are not documented as thread-safe; inference is ~1 ms

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 MNIST-like arrays -> (N, outputs) logits (digits, then "not a digit" if any)."""
        x = np.ascontiguousarray(batch, dtype=np.float32).reshape(-1, 1, FIELD, FIELD)
        if self._session is not None:
            return self._session.run(None, {"image": x})[0]
        import torch  # (imported by now: this predictor's model is a torch module)
        with self._lock, torch.inference_mode():
            return self._run(torch.from_numpy(x)).numpy()

    @property
    def runtime(self) -> str:
        """What computes the logits now: "onnx" (ONNX Runtime) or "torch"."""
        return "torch" if self._session is None else "onnx"

    def use_onnx_runtime(self) -> bool:
        """Answer `logits` through ONNX Runtime from now on, torch kept for the feature maps; False, and
        nothing changed, without onnx and onnxruntime. For one or two images ONNX Runtime takes ~0.1 ms a
        call and torch 0.6–0.8 ms, its per-call overhead outweighing a network this small: what the
        server's lane processes answer (BENCHMARKS.md)."""
        if self._session is not None:
            return True
        import torch
        try:
            from .export import onnx_model, parity_allowance
            session = _onnx_session(onnx_model(self._run), threads=torch.get_num_threads())
        except (ImportError, UserError):
            return False
        probe = np.random.default_rng(0).random((4, 1, FIELD, FIELD), dtype=np.float32)
        expected = self.logits(probe)
        if (np.abs(session.run(None, {"image": probe})[0] - expected) > parity_allowance(expected)).any():
            return False  # some layer exports differently: torch answers, as before
        self._session = session
        return True

    @contextmanager
    def onnx_runtime_within(self) -> Iterator[None]:
        """`use_onnx_runtime` for the block only: after it, `logits` is answered as before."""
        before = self._session
        try:
            self.use_onnx_runtime()
            yield
        finally:
            self._session = before

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, outputs) softmax of the logits, averaged over the model's views when it names some."""
        if self.views:
            return averaged(self.logits, np.asarray(batch, dtype=np.float32), self.views)
        z = self.logits(batch)
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def feature_maps(self, arr: np.ndarray) -> dict[str, np.ndarray]:
        """conv1 (maps × 14×14) and conv2 (maps × 5×5) after pooling for one 28×28 input (torch backend)."""
        if self.backend != "torch":  # (an ONNX file holds no layers to look into)
            raise UserError('feature maps need the torch backend: load the model with backend="torch"')
        import torch

        from .viz import feature_maps
        x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32).reshape(1, 1, FIELD, FIELD))
        with self._lock:
            maps, _ = feature_maps(self._run, x)
        return {"conv1": maps["pool1"][0].numpy(), "conv2": maps["pool2"][0].numpy()}

    def predict(self, images: Iterable[Any]) -> list[Prediction]:
        """Classify each image (path, bytes, PIL image or array); raises ImageError on an unreadable one.

        A blank image is an answer (label None, reason "blank"), not an error. One image given alone
        (a path, bytes, a PIL image, an array or tensor of H×W, H×W×1, ×3 or ×4) is read as a list of one, not
        as its characters or rows."""
        if hasattr(images, "__array__"):  # a torch tensor: as its array (an array, a PIL image: as they are)
            images = as_input(images)
        if _one_image(images):
            images = [images]
        return self.classify([(to_array(im), source_name(im)) for im in images])

    def predict_one(self, image: Any) -> Prediction:
        return self.predict([image])[0]

    def classify(self, arrays: Sequence[tuple[np.ndarray | None, str]]) -> list[Prediction]:
        """(28×28 array or None for blank, source name) pairs -> predictions, in one model call."""
        inked = [i for i, (a, _) in enumerate(arrays) if a is not None and a.max() >= BLANK_INK]
        probs = self.probabilities(np.stack([arrays[i][0] for i in inked])) if inked else []
        out = [_blank(src) for _, src in arrays]
        for i, p in zip(inked, probs):
            out[i] = self._prediction(arrays[i][0], p, arrays[i][1])
        return out

    def read_number(self, image: Any) -> NumberReading:
        """Split a row of handwritten digits and read them left to right. A blank image, or one in which
        no piece is a digit, is an answer (number None, with the reason), as `predict` says of a digit."""
        try:
            pieces, gap = split_row(image)
        except BlankImageError:
            return NumberReading(None, [], source_name(image), BLANK)
        digits = self.classify([(a, "") for a in pieces])
        if all(d.label is None for d in digits):
            return NumberReading(None, digits, source_name(image), NOT_A_DIGIT)
        number = "".join(d.class_name if d.label is not None else "?" for d in digits)
        return NumberReading(number, digits, source_name(image), gap=gap)

    def _prediction(self, arr: np.ndarray, probs: np.ndarray, source: str) -> Prediction:
        not_digit = None
        if self.reject is not None:
            not_digit = float(probs[self.reject["index"]])
            probs = np.delete(probs, self.reject["index"])
            probs = probs / max(probs.sum(), 1e-12)
        k = int(probs.argmax())
        p = [float(v) for v in probs]
        if not_digit is not None and not_digit >= self.reject["threshold"]:
            return Prediction(None, None, p, arr, source, NOT_A_DIGIT, not_digit)
        return Prediction(k, self.classes[k], p, arr, source, None, not_digit)


def _outputs_checked(p: Predictor, source: str | os.PathLike | None = None) -> Predictor:
    """A loaded model gives one output per class, and one more when it can say "not a digit", as finite
    numbers, for a batch of any size (two images, as probes: one would pass a model fixed to one)."""
    probe = p.logits(np.zeros((2, FIELD, FIELD), np.float32))
    if probe.ndim != 2 or len(probe) != 2:
        raise UserError(f"the model answers two images with an array of shape {probe.shape}: it is damaged; "
                        "retrain or export it again, or use another model")
    if not np.isfinite(probe).all():
        raise UserError("the model answers NaN or infinity: its weights are damaged; retrain it, or use another model")
    outputs = probe.shape[-1]
    epochs, done = p.info.get("config", {}).get("train", {}).get("epochs"), p.info.get("epoch", 0)
    if outputs == len(p.classes) + 1 and p.reject is None and done < (epochs or 0):
        # (the threshold is calibrated when the last epoch ends: a run read while training has none yet)
        raise UserError(f"the model has a \"not a digit\" output but no threshold for it yet: its training has not "
                        f"finished ({done} of {epochs} epochs done); let it finish, or resume it "
                        f"(lenet5 train --out {_run_folder(source)} --resume)")
    if outputs != len(p.classes) + (p.reject is not None):
        raise UserError(f"the model has {outputs} outputs for {len(p.classes)} classes"
                        f"{' and no' if p.reject is None else ' and a'} \"not a digit\" entry: it is damaged; "
                        f"retrain it, or use another model")
    return p


def _run_folder(source: str | os.PathLike | None) -> str:
    """The run folder a model was read from (a run's checkpoints/*.pt is in it), else "RUN"."""
    if source is None:
        return "RUN"
    path = Path(source)
    if path.is_dir():
        return str(path)
    folder = RunFolder.holding(path)
    return str(folder.path) if folder else "RUN"


def _one_image(images: Any) -> bool:
    if isinstance(images, np.ndarray):
        return images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3, 4))  # grey, RGB(A)
    return isinstance(images, (str, os.PathLike, bytes, bytearray)) or hasattr(images, "getpixel")  # PIL


def _blank(source: str) -> Prediction:
    return Prediction(None, None, None, np.zeros((FIELD, FIELD), np.float32), source, BLANK)


def load(model_path: str | os.PathLike | None = None, backend: str = "torch", which: str = "last") -> Predictor:
    """A Predictor from a run folder, a checkpoint .pt, or an exported .onnx file; None: the bundled model.

    backend="onnx" uses the model's ONNX form where there is one — the bundled model's (`weights/robust.onnx`),
    RUN/export/model.onnx (see `lenet5 export`) — and otherwise exports it in memory. backend="auto": the
    bundled model through ONNX Runtime where that is installed, which never imports torch (1.6 of the
    2.4 s a one-image `lenet5 predict` took here), anything else through torch. Only torch draws
    feature maps.
    """
    path = Path(model_path) if model_path is not None else bundled_model()
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; use {', '.join(BACKENDS)}")
    if path.suffix == ".onnx":
        return _load_onnx(path)
    bundled = model_path is None
    # (looked for only where it would be read: the bundled twin is checked by hashing both files)
    onnx_file = _onnx_form(path, bundled) if backend == "onnx" or (backend == "auto" and bundled) else None
    if onnx_file is not None and backend == "auto":
        with suppress(UserError):  # (an ONNX Runtime that cannot start here: torch reads the .pt instead)
            return _load_onnx(onnx_file)
    elif onnx_file is not None:
        return _load_onnx(onnx_file)
    if path.suffix == ".pt" and not path.exists():  # a file was meant, not a run folder to train
        raise UserError(f"no such model file: {path} (give a run folder, a .pt checkpoint or an .onnx file; "
                        "leave --model out for the bundled model)")
    from .checkpoint import load_model, model_info
    from .models import folded_for_inference
    model, ckpt = load_model(path, which)
    info = model_info(ckpt, model)
    p = _outputs_checked(Predictor(folded_for_inference(model), get_spec(info["dataset"]).classes, info, "torch"), path)
    if backend == "onnx" and not p.use_onnx_runtime():
        raise UserError("the onnx backend needs onnx and onnxruntime: " + install_hint("export"))
    return p


def _onnx_form(path: Path, bundled: bool) -> Path | None:
    """The ONNX file that holds the same model as `path`, if any: a run's export/model.onnx, or the bundled
    model's twin (made beside it by `make weights`) where it and the checkpoint are the files recorded in
    its `.json` (`export._record_twin`): a stale or damaged twin is passed over, and torch reads the .pt."""
    if not bundled:
        return path / "export" / "model.onnx" if (path / "export" / "model.onnx").is_file() else None
    twin = path.with_suffix(".onnx")
    try:
        record = json.loads(path.with_suffix(".json").read_text())
        recorded = record["sha256"] == file_sha256(path) and record["onnx"]["sha256"] == file_sha256(twin)
    except (OSError, ValueError, KeyError, TypeError):
        recorded = False
    return twin if recorded else None


def _load_onnx(path: Path) -> Predictor:
    from importlib.util import find_spec
    if find_spec("onnxruntime") is None:
        raise UserError("the onnx backend needs onnxruntime: " + install_hint("export"))
    try:
        import onnxruntime  # noqa: F401
    except Exception as e:  # (a broken install: a missing shared library, an illegal instruction)
        raise_interrupt_inside(e)
        raise UserError(f"ONNX Runtime cannot start here ({e}); reinstall it, or use --backend torch") from None
    try:
        # One thread: a network this small gains nothing from a second, and ONNX Runtime's spinning
        # threads take the cores from a folder's preprocessing.
        session = _onnx_session(str(path), threads=1)
    except Exception as e:  # onnxruntime raises its own, unexported exception types
        raise_interrupt_inside(e)
        raise UserError(f"{path}: not a loadable ONNX model ({e})") from None
    meta = session.get_modelmeta().custom_metadata_map
    if ONNX_META_KEY not in meta:
        raise UserError(f"{path}: not exported by lenet5 (no class names in its metadata); use `lenet5 export`")
    try:
        info = json.loads(meta[ONNX_META_KEY])
        classes = info.pop("classes")
        if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
            raise TypeError
    except (ValueError, TypeError, AttributeError, KeyError):
        raise UserError(f"{path}: its lenet5 metadata is damaged; export the model again with `lenet5 export`") from None
    p = Predictor(session, classes, info, "onnx")
    try:
        return _outputs_checked(p)
    except UserError:
        raise
    except Exception as e:  # (an input renamed, a fixed batch size: onnxruntime's own exception types)
        raise UserError(f"{path}: not a model lenet5 can run ({str(e).splitlines()[0][:200]}); "
                        "export the model again with `lenet5 export`") from None


def _onnx_session(model: str | bytes, threads: int = 0):
    """An onnxruntime session on the CPU for a file or the bytes of a model; threads 0: its own choice."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # warnings about unused initialisers are noise to a user
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def predict_arrays(images: Sequence[Any]) -> np.ndarray:
    """(N, 28, 28) MNIST-like arrays of many images (zeros for a blank one); raises on an unreadable one."""
    out = []
    for arr, error in preprocess_many(images):
        if error is not None:
            raise ImageError(error)
        out.append(arr if arr is not None else np.zeros((FIELD, FIELD), np.float32))
    return np.stack(out)


def predict_files(predictor: Predictor, paths: Sequence[str | os.PathLike], multi: bool = False,
                  progress: bool = False) -> list[Prediction | NumberReading | tuple[str, str]]:
    """Predict every image under `paths`, one result per file; a bad file gives (file, message).

    Single digits are preprocessed in parallel and classified in batches of POOL_CHUNK."""
    items = collect_images(paths)
    with preprocessing([] if multi else image_files(items), progress) as arrays:
        return list(read_files(predictor, items, arrays, multi))


def read_files(predictor: Predictor, items: Sequence[Path | tuple[str, str]], arrays: Iterable, multi: bool
               ) -> Iterator[Prediction | NumberReading | tuple[str, str]]:
    """`predict_files` on `collect_images`' items, their single digits' `preprocessing` already started:
    each result in order as soon as it is read (digits a batch of POOL_CHUNK at a time), so that a
    folder's answers can be shown as they come."""
    files = image_files(items)
    read = _read_numbers(predictor, files) if multi else _read_digits(predictor, files, arrays)
    for i in items:
        yield i if isinstance(i, tuple) else next(read)


def _read_numbers(predictor: Predictor, files: Sequence[Path]) -> Iterator[NumberReading | tuple[str, str]]:
    for f in files:
        try:
            yield predictor.read_number(f)
        except ImageError as e:
            yield str(f), naming(str(e), str(f))


def _read_digits(predictor: Predictor, files: Sequence[Path], arrays: Iterable
                 ) -> Iterator[Prediction | tuple[str, str]]:
    """Each file's preprocessed array classified in batches of POOL_CHUNK; from ONNX_RUNTIME_FROM files on,
    through ONNX Runtime where it is installed (answers equal within export parity)."""
    with _one_torch_thread(predictor), (
            predictor.onnx_runtime_within() if len(files) >= ONNX_RUNTIME_FROM else nullcontext()):
        batch = []
        for f, (arr, error) in zip(files, arrays):
            batch.append((f, arr, error))
            if len(batch) == POOL_CHUNK:
                yield from _classify_batch(predictor, batch)
                batch = []
        yield from _classify_batch(predictor, batch)


@contextmanager
def _one_torch_thread(predictor: Predictor) -> Iterator[None]:
    """torch on one thread for the block, where the predictor computes with it: the cores are busy
    preprocessing, and a second torch thread only contends (~15%)."""
    if predictor.backend != "torch":
        yield
        return
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _classify_batch(predictor: Predictor, batch: list[tuple[Path, np.ndarray | None, str | None]]
                    ) -> list[Prediction | tuple[str, str]]:
    """Each (file, array, preprocessing error) read in one model call; a failed file as (file, error)."""
    read = [(a, str(f)) for f, a, error in batch if error is None]
    answers = iter(predictor.classify(read) if read else [])
    return [(str(f), error) if error is not None else next(answers) for f, _, error in batch]


Result = Prediction | NumberReading | tuple  # a (file, message) tuple for a file that failed


def to_json(r: Result, top_k: int = 1, classes: Sequence[str] = ()) -> dict[str, Any]:
    """The `--json` object of one result: file, label (None when refused, with reason),
    probabilities (and top_k), or file and error."""
    if isinstance(r, tuple):
        return {"file": r[0], "error": r[1]}
    out = r.to_dict()
    if isinstance(r, Prediction) and top_k > 1 and r.probabilities is not None:
        out["top_k"] = [(c, round(p, 6)) for c, p in r.top_k(top_k, classes)]  # as "probabilities" are
    return out


def describe(r: Prediction | NumberReading, top_k: int, classes: Sequence[str]) -> str:
    """One line for a person: "7 (7 99.1%, 1 0.6%)", "not a digit (...)", "blank: no ink found"."""
    if isinstance(r, NumberReading) and r.reason == BLANK:
        return "blank (no ink found): write or photograph a number"
    if isinstance(r, NumberReading) and r.reason == NOT_A_DIGIT:
        return f"not a number (none of its {len(r.digits)} piece(s) is a digit)"
    if isinstance(r, NumberReading):
        digits = " ".join(f"{d.class_name}:{max(d.probabilities):.0%}" if d.label is not None else "?"
                          for d in r.digits)
        return f"{r.number} (confidence {r.confidence:.1%}; {digits})"
    if r.reason == BLANK:
        return "blank (no ink found): draw or photograph a digit"
    top = ", ".join(f"{c} {p:.1%}" for c, p in r.top_k(top_k, classes))
    if r.reason == NOT_A_DIGIT:  # (its digits' chances are those it has if it is a digit at all)
        said = (f"not a digit ({r.not_digit:.0%} sure" if r.not_digit >= 0.5 else
                f"not clearly a digit ({r.not_digit:.0%} chance this is no digit") + f"; if a digit: {top})"
    else:
        said = f"{r.class_name} ({top})"
    return said + ("; several digits side by side? --multi reads them as a number" if r.side_by_side else "")


def save_preprocessed(results: Sequence[Result], folder: str | os.PathLike) -> list[Path]:
    """Write the 28×28 images the model saw as PNGs (`name.png`, or `name.K.png` per digit).

    Inputs with the same file name in different folders get `name-2.png`, `name-3.png`, ...
    """
    from PIL import Image
    folder = Path(folder)
    check_output_folder(folder, "the preprocessed images")
    written, used = [], set()
    for r in results:
        if isinstance(r, tuple):
            continue
        stem = Path(r.source).stem or "image"
        base, n = stem, 2
        while stem in used:
            stem, n = f"{base}-{n}", n + 1
        used.add(stem)
        parts = [(f"{stem}.png", r)] if isinstance(r, Prediction) else \
            [(f"{stem}.{k}.png", d) for k, d in enumerate(r.digits)]
        for name, d in parts:
            with atomic_path(folder / name) as tmp:
                Image.fromarray((d.preprocessed * 255).round().astype(np.uint8)).save(tmp, format="PNG")
            written.append(folder / name)
    return written
