"""Predict digits in real images with a trained model (torch or ONNX Runtime).

    import lenet5
    p = lenet5.load("runs/classic-mnist-s0")                 # or a .pt checkpoint, or a .onnx file
    [r] = p.predict(["photo.jpg"])                            # paths, PIL images or numpy arrays
    r.label, r.class_name, r.probabilities                    # 7, "7", [10 floats]
    p.read_number("year.jpg").number                          # "1998"

A numpy array of shape 28×28 is taken as already MNIST-like (white ink on black); anything else is
preprocessed (lenet5.preprocess) first.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from .checkpoint import load_model, model_info
from .data import get_spec
from .errors import UserError
from .files import atomic_path
from .preprocess import FIELD, IMAGE_EXTENSIONS, ImageError, preprocess, split_digits

ONNX_META_KEY = "lenet5"  # metadata_props key holding {"classes", "config", "metrics"} as JSON


@dataclass
class Prediction:
    label: int
    class_name: str
    probabilities: list[float]
    preprocessed: np.ndarray = field(repr=False)
    source: str = ""

    def top_k(self, k: int, classes: Sequence[str]) -> list[tuple[str, float]]:
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(classes[i], self.probabilities[i]) for i in order]

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.source, "label": self.label, "class_name": self.class_name,
                "probabilities": [round(p, 6) for p in self.probabilities]}


@dataclass
class NumberReading:
    number: str
    digits: list[Prediction]
    source: str = ""

    @property
    def confidence(self) -> float:
        """Probability that every digit is right (product of the per-digit top probabilities)."""
        return float(np.prod([max(d.probabilities) for d in self.digits]))

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.source, "number": self.number, "confidence": round(self.confidence, 6),
                "digits": [{k: v for k, v in d.to_dict().items() if k != "file"} for d in self.digits]}


class Predictor:
    """Holds one model; `predict` is safe to call from several threads at once."""

    def __init__(self, run: Any, classes: Sequence[str], info: dict[str, Any], backend: str = "torch"):
        self.backend, self.classes, self.info = backend, list(classes), info
        self._run = run  # a torch module in eval mode, or an onnxruntime session
        self._lock = threading.Lock()  # torch modules are not documented as thread-safe; inference is ~1 ms

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 MNIST-like arrays -> (N, classes) logits."""
        x = np.ascontiguousarray(batch, dtype=np.float32).reshape(-1, 1, FIELD, FIELD)
        if self.backend == "onnx":
            return self._run.run(None, {"image": x})[0]
        with self._lock, torch.inference_mode():
            return self._run(torch.from_numpy(x)).numpy()

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        z = self.logits(batch)
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def feature_maps(self, arr: np.ndarray) -> dict[str, np.ndarray]:
        """conv1 (6×14×14) and conv2 (16×5×5) maps after pooling for one 28×28 input (torch backend)."""
        from .viz import feature_maps
        x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32).reshape(1, 1, FIELD, FIELD))
        with self._lock:
            maps, _ = feature_maps(self._run, x)
        return {"conv1": maps["pool1"][0].numpy(), "conv2": maps["pool2"][0].numpy()}

    def _to_array(self, image) -> np.ndarray:
        if isinstance(image, np.ndarray) and image.shape == (FIELD, FIELD):
            arr = image.astype(np.float32)
            return arr / 255.0 if arr.max() > 1.0 else arr
        return preprocess(image)

    def predict(self, images: Iterable[Any]) -> list[Prediction]:
        """Classify each image (path, bytes, PIL image or array); raises ImageError on a bad one."""
        items = list(images)
        arrays = np.stack([self._to_array(im) for im in items]) if items else np.zeros((0, FIELD, FIELD), np.float32)
        probs = self.probabilities(arrays) if items else np.zeros((0, len(self.classes)))
        return [self._prediction(a, p, _name(im)) for im, a, p in zip(items, arrays, probs)]

    def predict_one(self, image: Any) -> Prediction:
        return self.predict([image])[0]

    def read_number(self, image: Any) -> NumberReading:
        """Split a row of handwritten digits and read them left to right."""
        arrays = np.stack(split_digits(image))
        digits = [self._prediction(a, p, "") for a, p in zip(arrays, self.probabilities(arrays))]
        return NumberReading("".join(d.class_name for d in digits), digits, _name(image))

    def _prediction(self, arr: np.ndarray, probs: np.ndarray, source: str) -> Prediction:
        k = int(probs.argmax())
        return Prediction(k, self.classes[k], [float(v) for v in probs], arr, source)


def _name(image: Any) -> str:
    return str(image) if isinstance(image, (str, os.PathLike)) else ""


def load(model_path: str | os.PathLike, backend: str = "torch", which: str = "last") -> Predictor:
    """A Predictor from a run folder, a checkpoint .pt, or an exported .onnx file.

    backend="onnx" with a run folder uses RUN/export/model.onnx (see `lenet5 export`).
    """
    path = Path(model_path)
    if backend not in ("torch", "onnx"):
        raise UserError(f"unknown backend {backend!r}; use torch or onnx")
    if path.suffix == ".onnx" or backend == "onnx":
        onnx_path = path if path.suffix == ".onnx" else path / "export" / "model.onnx"
        if not onnx_path.is_file():
            raise UserError(f"no ONNX model at {onnx_path}; make one with `lenet5 export {path} --format onnx`")
        return _load_onnx(onnx_path)
    model, ckpt = load_model(path, which)
    info = model_info(ckpt, model)
    return Predictor(model, get_spec(info["dataset"]).classes, info, "torch")


def _load_onnx(path: Path) -> Predictor:
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("the onnx backend needs onnxruntime: pip install 'lenet5[export]'") from None
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # warnings about unused initialisers are noise to a user
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own, unexported exception types
        raise UserError(f"{path}: not a loadable ONNX model ({e})") from None
    meta = session.get_modelmeta().custom_metadata_map
    if ONNX_META_KEY not in meta:
        raise UserError(f"{path}: not exported by lenet5 (no class names in its metadata); use `lenet5 export`")
    info = json.loads(meta[ONNX_META_KEY])
    return Predictor(session, info.pop("classes"), info, "onnx")


def collect_images(paths: Sequence[str | os.PathLike]) -> list[Path | tuple[str, str]]:
    """Expand folders into their image files (by extension, sorted), in the order given.

    A path that cannot be used becomes a (path, message) pair in its place.
    """
    items: list[Path | tuple[str, str]] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            items += found or [(str(p), f"{p}: folder has no image files ({', '.join(IMAGE_EXTENSIONS)})")]
        elif p.exists():
            items.append(p)
        else:
            items.append((str(p), f"{p}: no such file or folder"))
    return items


def predict_files(predictor: Predictor, paths: Sequence[str | os.PathLike], multi: bool = False
                  ) -> list[Prediction | NumberReading | tuple[str, str]]:
    """Predict every image under `paths`, one result per file; a bad file gives (file, message)."""
    results: list[Any] = []
    for item in collect_images(paths):
        if isinstance(item, tuple):
            results.append(item)
            continue
        try:
            results.append(predictor.read_number(item) if multi else predictor.predict_one(item))
        except ImageError as e:
            msg = str(e)
            results.append((str(item), msg if msg.startswith(str(item)) else f"{item}: {msg}"))
    return results


Result = Prediction | NumberReading | tuple  # a (file, message) tuple for a file that failed


def to_json(r: Result, top_k: int = 1, classes: Sequence[str] = ()) -> dict[str, Any]:
    """The `--json` object of one result: file, label, probabilities (and top_k), or file and error."""
    if isinstance(r, tuple):
        return {"file": r[0], "error": r[1]}
    out = r.to_dict()
    if isinstance(r, Prediction) and top_k > 1:
        out["top_k"] = r.top_k(top_k, classes)
    return out


def save_preprocessed(results: Sequence[Result], folder: str | os.PathLike) -> list[Path]:
    """Write the 28×28 images the model saw as PNGs (`name.png`, or `name.K.png` per digit)."""
    from PIL import Image
    folder = Path(folder)
    written = []
    for r in results:
        if isinstance(r, tuple):
            continue
        stem = Path(r.source).stem or "image"
        parts = [(f"{stem}.png", r)] if isinstance(r, Prediction) else \
            [(f"{stem}.{k}.png", d) for k, d in enumerate(r.digits)]
        for name, d in parts:
            with atomic_path(folder / name) as tmp:
                Image.fromarray((d.preprocessed * 255).round().astype(np.uint8)).save(tmp, format="PNG")
            written.append(folder / name)
    return written
