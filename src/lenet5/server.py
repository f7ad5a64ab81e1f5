"""`lenet5 serve`: the drawing page and a JSON API over a model (FastAPI + uvicorn).

    from lenet5.server import create_app, serve
    app = create_app()                                  # the bundled model; or create_app("runs/x")
    serve("runs/classic-mnist-s0", port=8000, workers=2)

Routes: GET / (the page), POST /api/predict[?features=true], GET /api/model, GET /healthz, the
OpenAPI document at /openapi.json and its pages at /docs and /redoc (assets from the installed
fastapi-offline package: no CDN).

Never blocked: the event loop only moves bytes. Reading an image runs in one of two lanes of worker
processes, each with a bounded queue (full: 503 with Retry-After) and a time budget per request (past
it the process is killed and replaced):
- small images and pixel arrays (up to LIGHT_PIXELS) in the light lane, a process per core (up to 4);
- larger images (photos, up to MAX_PIXELS; more is 413) in the photo lane, so that a photo's seconds
  of work never hold up a drawing.
A client's mistake is a 4xx with {"detail": "..."} and no traceback; only a bug is a 500.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import io
import json
import logging
import math
import multiprocessing
import os
import re
import signal
import socket
import sys
import time
import traceback
import warnings
from contextlib import asynccontextmanager, contextmanager, suppress
from importlib import resources
from multiprocessing import resource_tracker
from typing import Any, Iterator, Literal

import numpy as np
import orjson
from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .errors import UserError
from .preprocess import FIELD

# fastapi and uvicorn are the `serve` extra: `lenet5 serve` says so when they are missing.

DEFAULT_HOST = "127.0.0.1"          # only this machine unless the user says otherwise
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY = 16 * 1024 * 1024  # bytes: a 12-MP phone photo, even base64-encoded in JSON
DEFAULT_WORKERS = 1                  # server processes (uvicorn workers); each has its own lanes
MAX_WORKERS = 4 * (os.cpu_count() or 1)
READY_ASK_S = 0.2  # s: how long a stopping `serve --workers N` waits for a worker to say whether it serves yet
SHUTDOWN_GRACE_S = 1  # SIGINT/SIGTERM: requests in flight get this long, so the server is gone within 2 s
DEFAULT_QUEUE = 64                   # requests that may wait per lane beyond those running; then 503
LIGHT_PROCESSES = min(os.cpu_count() or 1, 4)  # light-lane processes per server process (~250 MB each)
PHOTO_PROCESSES = 1                  # photo-lane processes per server process
LIGHT_PIXELS = 512 * 512             # images up to this many pixels are read in the light lane (a canvas is 280²)
MAX_PIXELS = 24_000_000              # pixel budget per request: a 24-MP photo; larger gets 413 before decoding
TIME_BUDGET_S = 20.0                 # per request, waiting included; then 503 (and the process reading it is killed)
BODY_IDLE_S = 10.0                   # a request body that stops coming for this long gets 408 (uvicorn never gives up)
BODY_MIN_RATE = 8_000                # bytes/s a body must average once BODY_IDLE_S have passed (a 2G phone sends 30 KB/s)
RETRY_AFTER_S = 2                    # what a 503 asks the client to wait
ENV_CONFIG = "LENET5_SERVE_CONFIG"   # how `serve(workers>1)` hands its settings to uvicorn's worker processes
ENV_SUPERVISOR = "LENET5_SERVE_SUPERVISOR"  # ... and the process id of uvicorn's supervisor, their parent
PR_SET_PDEATHSIG = 1                 # prctl(2): the signal a process gets when its parent dies

# The multipart parser logs its own warning for a malformed body; the 422 answer already says why.
for _name in ("python_multipart", "multipart"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

Image = bytes | np.ndarray  # image file bytes, or a 28×28 pixel array


# ------------------------------------------------------------------ the API's documented shapes

class Error(BaseModel):
    """Every error answer, 4xx and 5xx alike."""
    detail: str


class Features(BaseModel):
    conv1: list[list[list[float]]]  # maps × 14×14 after pooling (6 in the report's model, 8 in the bundled one)
    conv2: list[list[list[float]]]  # maps × 5×5 after pooling (16 in the report's model, 24 in the bundled one)


class DigitOut(BaseModel):
    """One digit's answer: the whole image's, or (in `number`) each digit's of a row."""
    label: int | None  # the digit; null when refused (see reason)
    class_name: str | None
    reason: Literal["blank", "not a digit"] | None
    probabilities: list[float] | None  # the ten digits' probabilities; null for a blank image
    not_digit: float | None  # the model's probability that this is no digit; null if it has no such output
    preprocessed: list[list[float]]  # the 28×28 image the model saw, 0–1


class NumberOut(BaseModel):
    number: str  # the digits, left to right ("1998")
    confidence: float  # the product of the digits' top probabilities: that every one is right
    digits: list[DigitOut]  # each digit's answer, left to right


class PredictionOut(DigitOut):
    features: Features | None = None  # only with ?features=true
    number: NumberOut | None = None  # only with ?number=true: the row of digits, when the image holds one


class ModelOut(BaseModel):
    preset: str | None
    dataset: str | None
    parameters: int | None
    test_accuracy: float | None
    epoch: int | None
    classes: list[str]
    backend: str  # what computes the answers' logits: "onnx" (ONNX Runtime, when installed) or "torch";
    # "starting" until the lane processes have loaded the model (it said "torch" meanwhile: a guess)
    views: list[str]  # the ways each image is read, probabilities averaged (lenet5.views); [] = once
    not_digit: bool  # whether the model can refuse an image as "not a digit"
    not_digit_threshold: float | None  # refused when the not-a-digit probability is at least this
    feature_maps: list[int] | None  # how many maps conv1 and conv2 have (`features=true` returns them)


class Health(BaseModel):
    status: Literal["ok"]


PIXELS_SCHEMA = {"type": "array", "minItems": FIELD, "maxItems": FIELD,
                 "description": "28×28 MNIST-like values (white ink on black), all within 0–1 or all within 0–255",
                 "items": {"type": "array", "minItems": FIELD, "maxItems": FIELD,
                           "items": {"type": "number", "minimum": 0, "maximum": 255}}}
# `format: image` names what JSON Schema cannot check: the bytes must decode to an image Pillow reads.
IMAGE_SCHEMA = {"type": "string", "format": "image", "minLength": 1,
                "description": "an image file (PNG, JPEG, ...) as base64, or as a data: URL"}
PREDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"oneOf": [
            {"type": "object", "required": ["image"], "additionalProperties": False,
             "properties": {"image": IMAGE_SCHEMA}},
            {"type": "object", "required": ["pixels"], "additionalProperties": False,
             "properties": {"pixels": PIXELS_SCHEMA}},
        ]}},
        "multipart/form-data": {
            "schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary", "description": "an image file (PNG, JPEG, ...)"}}},
            "encoding": {"file": {"contentType": "image/*"}}},
    },
}
RETRY_AFTER_HEADER = {"Retry-After": {"description": "seconds to wait before trying again",
                                      "schema": {"type": "integer"}}}
PREDICT_ERRORS = {
    400: {"model": Error, "description": "not valid JSON or base64, or not a readable image"},
    408: {"model": Error, "description": f"the request body stopped coming for {BODY_IDLE_S:.0f} s, or "
                                        f"came slower than {BODY_MIN_RATE // 1000} KB/s after that"},
    413: {"model": Error, "description": f"body over the size limit, or image over {MAX_PIXELS:,} pixels"},
    415: {"model": Error, "description": "neither application/json nor multipart/form-data"},
    422: {"model": Error, "description": "JSON or form of the wrong shape, or a bad query parameter"},
    503: {"model": Error, "description": "busy: the queue is full or the request ran over its time budget",
          "headers": RETRY_AFTER_HEADER},
}


class ApiError(Exception):
    """An answer other than 200, with its status and a message for a person."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None):
        super().__init__(status, detail, retry_after)
        self.status, self.detail, self.retry_after = status, detail, retry_after


def busy(why: str) -> ApiError:
    return ApiError(503, f"server busy ({why}); try again in {RETRY_AFTER_S} s", RETRY_AFTER_S)


# ------------------------------------------------------------------ reading a request (pure, runs off the loop)

def decode_json(body: bytes) -> Image:
    """A JSON body -> image bytes or a 28×28 array; ApiError when it is not one of the two shapes."""
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise ApiError(400, "JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(value, dict) or len(value) != 1 or not value.keys() & {"image", "pixels"}:
        raise ApiError(422, 'JSON body must be {"image": "<base64>"} or {"pixels": [[28 numbers] × 28]}')
    return decode_base64(value["image"]) if "image" in value else pixels(value["pixels"])


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # Python's json would accept NaN and Infinity


WRAPPING = re.compile(r"[ \t\r\n]+")


def decode_base64(value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise ApiError(422, "'image' must be a non-empty base64 string")
    value = WRAPPING.sub("", value)  # wrapped at 76 columns, as `base64` and MIME write it; ASCII only
    if value.startswith("data:"):
        value = value.partition(",")[2]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "'image' is not valid base64") from None


def pixels(value: Any) -> np.ndarray:
    """28 rows of 28 JSON numbers in 0–255 (booleans and strings are not numbers)."""
    if not (isinstance(value, list) and len(value) == FIELD
            and all(isinstance(row, list) and len(row) == FIELD for row in value)):
        raise ApiError(422, "'pixels' must be a 28×28 array of numbers")
    if not all(type(v) in (int, float) for row in value for v in row):
        raise ApiError(422, "'pixels' must hold only numbers (no strings, booleans or nulls)")
    try:
        arr = np.array(value, dtype=np.float64)
    except OverflowError:  # an integer too large for a float
        arr = np.full((FIELD, FIELD), np.inf)
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 255:
        raise ApiError(422, "'pixels' values must be within 0–1 or 0–255")
    return arr.astype(np.float32)


def decode_multipart(content_type: str, body: bytes) -> bytes:
    """A multipart/form-data body -> the bytes of its file field `file` (parsed here, off the event loop)."""
    try:
        from python_multipart import FormParser
        from python_multipart.multipart import parse_options_header
    except ImportError:  # python-multipart before 0.0.13
        from multipart import FormParser
        from multipart.multipart import parse_options_header
    files, how = [], "send the image as a form field named 'file' (curl -F file=@digit.png)"
    boundary = parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        raise ApiError(422, f"multipart Content-Type without a boundary; {how}")
    try:
        parser = FormParser("multipart/form-data", None, files.append, boundary=boundary,
                            config={"MAX_MEMORY_FILE_SIZE": len(body) + 1})  # in memory: it is already
        parser.write(body)
        parser.finalize()
    except Exception as e:  # python-multipart raises several kinds for a malformed body
        raise ApiError(422, f"malformed multipart body ({str(e) or type(e).__name__}); {how}") from None
    upload = next((f for f in files if f.field_name == b"file"), None)
    if upload is None:
        raise ApiError(422, f"multipart body without a whole file field named 'file' (missing, or cut short); {how}")
    upload.file_object.seek(0)
    return upload.file_object.read()


def pixel_count(data: bytes) -> float:
    """Width × height from the image's header, without decoding it; 0 when it is no image we know."""
    from PIL import Image as PILImage
    try:
        with warnings.catch_warnings():  # no bomb warning in the log: a large image is refused right here
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as im:
                return im.width * im.height
    except PILImage.DecompressionBombError:
        return math.inf
    except Exception:  # not an image: the reader says why, with the same message as the CLI
        return 0


def answer(predictor, r, features: bool, number: bool = False, row=None) -> bytes:
    """The JSON answer for one prediction: the label, the 28×28 image seen, optionally the feature maps
    and (`number`) the row of digits it holds: `row`, the image read as a number, when it is one."""
    out = _digit_out(r)
    if features:
        maps = predictor.feature_maps(r.preprocessed)
        out["features"] = {name: np.round(m, 4) for name, m in maps.items()}
    if number:
        out["number"] = None if row is None or not row.is_a_row else {
            "number": row.number, "confidence": round(row.confidence, 6), "digits": [_digit_out(d) for d in row.digits]}
    # orjson writes float32 arrays as they are ("0.9971"): json.dumps of .tolist() took 0.4 ms of a
    # request's ~3.5 ms here, writing each as the float64 nearest it ("0.9970999956130981").
    return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)


def _digit_out(r) -> dict[str, Any]:
    return {"label": r.label, "class_name": r.class_name, "reason": r.reason,
            "probabilities": None if r.probabilities is None else [round(p, 6) for p in r.probabilities],
            "not_digit": None if r.not_digit is None else round(r.not_digit, 6),
            "preprocessed": np.round(r.preprocessed, 4)}


PHOTO = b"photo"  # the light lane's answer for an image that belongs in the photo lane


def read_image(predictor, content_type: str, body: bytes, features: bool, lane: str) -> tuple[np.ndarray | None, Any] | bytes:
    """In a lane process: decode the body, enforce the pixel budget, preprocess the image: (its 28×28
    array or None when blank, the image decoded). In the light lane an image over LIGHT_PIXELS is not
    read but answered PHOTO (the photo lane decodes the body again: cheaper than sending megabytes of
    image back through a pipe)."""
    from .many import to_array
    if features and predictor.backend != "torch":
        raise ApiError(400, "feature maps need the torch backend; ask without features=true")
    if content_type.lower().startswith("multipart/"):
        image = decode_multipart(content_type, body)
    else:
        image = decode_json(body)
    if isinstance(image, bytes):
        n = pixel_count(image)
        if n > MAX_PIXELS:
            what = "image too large to measure safely" if math.isinf(n) else f"image of {n:,.0f} pixels"
            raise ApiError(413, f"{what}: over the limit of {MAX_PIXELS:,} pixels; "
                                f"scale it down (a long side of 1024 px is plenty)")
        if n > LIGHT_PIXELS and lane == "light":
            return PHOTO
    try:
        return to_array(image), image
    except UserError as e:  # lenet5.preprocess.ImageError: unreadable, truncated, 0×0, ...
        raise ApiError(400, str(e)) from None


def answer_jobs(predictor, jobs: list[tuple]) -> list[tuple]:
    """Replies to (lane, content type, body, features, number) jobs, in order: each image read on its
    own, then one model call for all of them (under load a process is sent jobs ahead and takes them
    together); with `number`, an image (not 28×28 pixels) is also read as a row of digits."""
    replies: list[tuple | None] = []
    read: list[tuple[int, np.ndarray | None, tuple[bool, bool], Any]] = []
    for i, (lane, content_type, body, features, number) in enumerate(jobs):
        try:
            image = read_image(predictor, content_type, body, features, lane)
        except ApiError as e:
            replies.append(("error", e.status, e.detail))
        except Exception as e:  # a bug: keep its traceback in the log
            traceback.print_exc()
            replies.append(("bug", f"{type(e).__name__}: {e}"))
        else:
            is_photo = isinstance(image, bytes)
            replies.append(("ok", PHOTO) if is_photo else None)
            if not is_photo:
                array, decoded = image
                as_row = number and not isinstance(decoded, np.ndarray)  # 28×28 pixels: one digit
                read.append((i, array, (features, number), decoded if as_row else None))
    try:
        predictions = predictor.classify([(array, "") for _, array, _, _ in read])
        for (i, _, asked, decoded), r in zip(read, predictions):
            replies[i] = ("ok", answer(predictor, r, *asked, None if decoded is None else read_row(predictor, decoded)))
    except Exception as e:
        traceback.print_exc()
        for i, _, _, _ in read:
            replies[i] = ("bug", f"{type(e).__name__}: {e}")
    return replies


def read_row(predictor, image):
    """The image read as a number (lenet5.predict.NumberReading), or None where it cannot be split: it
    was read as one digit already, so that answer stands."""
    try:
        return predictor.read_number(image)
    except UserError:
        return None


# ------------------------------------------------------------------ the two lanes

class Lane:
    """Worker processes and a bounded queue: the light lane (small images and pixel arrays) or the
    photo lane. Processes, not threads: each image is many small numpy and torch calls that hold the
    GIL, so threads of one process ran ~1.1 requests at a time on 2 cores; and a process over its time
    budget can be killed, a thread cannot.

    Each process is sent up to `depth` jobs ahead, so it starts the next as soon as it has answered
    one instead of waiting for the event loop (busy with HTTP) to hand it more: with one job each, the
    light processes sat idle ~40% of the time under load. Over its budget, a job's process is killed
    and replaced; the jobs queued behind it in that process fail with it (503).
    """

    def __init__(self, name: str, model: str | None, processes: int, queue: int, budget: float, depth: int = 1):
        self.name, self.model, self.size, self.depth = name, model, processes, depth
        self.limit, self.pending, self.budget = processes * depth + queue, 0, budget
        self.procs: list[_Worker] = []
        self.said: str | None = None  # the runtime the processes last said (replacements say it again)
        self.slots: asyncio.Semaphore | None = None
        self.started: asyncio.Future | None = None
        self.closed = False

    def start(self):
        """Start the processes; they load the model (1–2 s) while the server already listens. Start-up
        does not wait for them: uvicorn only notes a signal until the app has started (a server stopped
        while they loaded took 2.2–3.9 s to go)."""
        self.slots = asyncio.Semaphore(self.size * self.depth)
        self.procs = [_Worker(self.name, self.model) for _ in range(self.size)]
        self.started = asyncio.gather(*(p.ready for p in self.procs))
        self.started.add_done_callback(lambda f: f.cancelled() or f.exception())  # (a failed one is replaced)

    def ready(self) -> bool:
        """Whether the processes started with the lane are past loading the model (a process that died
        there is replaced by the next job, as one that dies later is)."""
        return self.started is not None and self.started.done()

    async def run(self, job: tuple, spent: float = 0.0) -> Any:
        """The job's result; `spent`: seconds of this request's budget already used (in another lane)."""
        if self.pending >= self.limit:
            raise busy(f"too many {'photos' if self.name == 'photo' else 'requests'} waiting")
        self.pending += 1
        try:
            return await asyncio.wait_for(self._run(job), max(0.0, self.budget - spent))
        except asyncio.TimeoutError:
            raise busy(f"the image was not read within {self.budget:g} s") from None
        finally:
            self.pending -= 1

    async def _run(self, job: tuple) -> Any:
        async with self.slots:
            for i, dead in enumerate(self.procs):  # stopped from outside while idle: started anew
                if dead.conn.closed and not self.closed:
                    self.procs[i] = _Worker(self.name, self.model)
            # a process still loading its model has nothing waiting, yet is the slowest to answer
            proc = min(self.procs, key=lambda p: (not p.ready.done(), len(p.waiting)))
            try:
                kind, *value = await proc.submit(job)
            except BaseException as e:  # over the time budget (cancelled), or the process stopped: replace it
                if proc in self.procs and not self.closed:
                    self.procs[self.procs.index(proc)] = _Worker(self.name, self.model)
                proc.close(busy(f"the image was not read within {self.budget:g} s"))
                if not isinstance(e, (asyncio.CancelledError, ApiError)):  # the pipe broke under the job
                    raise busy("a lane process stopped") from None
                raise
        if kind == "error":
            raise ApiError(*value)
        if kind == "bug":
            raise RuntimeError(f"{self.name} process: {value[0]}")
        return value[0]

    def runtime(self) -> str | None:
        """What the lane's processes compute logits with, as one last said (None before any has)."""
        said = [p.ready for p in self.procs if p.ready.done() and not p.ready.cancelled()]
        self.said = next((r.result() for r in said if r.exception() is None), self.said)
        return self.said

    def close(self):
        self.closed = True
        for proc in self.procs:
            proc.close(busy("the server is stopping"))


class _Worker:
    """One lane process: jobs go down its pipe; answers come back in order, read as they arrive."""

    def __init__(self, name: str, model: str | None):
        # spawn, not fork: the server process has threads.
        ctx = multiprocessing.get_context("spawn")
        self.conn, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=lane_worker, args=(theirs, model, os.getpid()), daemon=True,
                                name=f"lenet5-{name}")
        with _sigint_blocked_from_birth():
            self.proc.start()
        theirs.close()
        self.loop = asyncio.get_running_loop()
        self.ready = self.loop.create_future()  # its first message: the model is loaded (result: its runtime)
        self.waiting: collections.deque[asyncio.Future] = collections.deque()
        self.sending = asyncio.Lock()  # one message at a time down the pipe
        self.loop.add_reader(self.conn.fileno(), self._readable)
        os.set_blocking(self.conn.fileno(), True)  # add_reader made it non-blocking: a message is read whole

    async def submit(self, job: tuple) -> tuple:
        await self.ready  # a replacement may still be loading the model
        answer = self.loop.create_future()
        self.waiting.append(answer)
        if not self.sending.locked() and _size(job) <= PIPE_BYTES:
            self.conn.send(job)  # fits in the pipe: no wait, even while the process works
        else:  # would block until the process reads it: in a thread, while the loop goes on
            async with self.sending:
                await asyncio.to_thread(self.conn.send, job)
        return await answer

    def _readable(self):
        try:
            while self.conn.poll():
                message = self.conn.recv()  # written whole, at once: here already or on its way
                if not self.ready.done():
                    self.ready.set_result(message[1])
                elif self.waiting:
                    answer = self.waiting.popleft()
                    if not answer.done():
                        answer.set_result(message)
        except (EOFError, OSError):  # the process died (killed from outside): its jobs are answered 503
            self.close(busy("a lane process stopped"))

    def close(self, why: BaseException):
        if not self.conn.closed:
            self.loop.remove_reader(self.conn.fileno())
            self.proc.kill()
            self.proc.join(5)
            self.conn.close()
        for answer in [self.ready, *self.waiting]:
            if not answer.done():
                answer.set_exception(why)
                answer.exception()  # marked as seen: a job whose sending failed no longer awaits it
        self.waiting.clear()


@contextmanager
def _sigint_blocked_from_birth() -> Iterator[None]:
    """Processes started here are born with SIGINT blocked (the mask outlives fork and exec): a Ctrl-C in
    a terminal, sent to every process, printed a KeyboardInterrupt traceback from each lane still
    starting; a lane drops it once it ignores SIGINT (`lane_worker`). The server still takes its own:
    another of its threads receives it, or it waits here until the mask is restored. (The server used to
    ignore SIGINT meanwhile as well; with another thread in the process, the kernel handed the Ctrl-C to
    that thread, which dropped it as ignored, and the server ran on: seen in the project's CI.)"""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    # multiprocessing starts its resource tracker with the first process, and unblocks SIGINT after it
    resource_tracker.ensure_running()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


PIPE_BYTES = 60_000  # a message this small fits in a Linux pipe's 64 KiB buffer


def _size(job: tuple) -> int:
    return sum(len(a) for a in job if isinstance(a, bytes))


MAX_BATCH = 16  # jobs taken together by a lane process


def lane_worker(conn, model: str | None, server: int) -> None:
    """A lane process: load the model, say so, then answer jobs until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the server, which stops us (`_Worker`)
    # A server killed by SIGKILL closes no pipe we read before the model is loaded: its lanes ran on
    # for up to ~10 s on a busy machine, loading a model for nobody. (The signal comes when the thread
    # that started us ends: the event loop's, which lasts as long as the server.)
    leave_with(server, signal.SIGKILL)
    from .predict import load
    single_threaded()
    predictor = load(model)
    predictor.use_onnx_runtime()  # ~0.1 ms a model call instead of torch's 0.6–0.8 ms, when installed
    warm_up(predictor)
    try:
        conn.send(("ready", predictor.runtime))
        while True:
            jobs = [conn.recv()]
            while len(jobs) < MAX_BATCH and conn.poll():  # jobs sent ahead: taken together
                jobs.append(conn.recv())
            for reply in answer_jobs(predictor, jobs):
                conn.send(reply)
    except (EOFError, OSError):  # the server is gone (it printed a BrokenPipeError traceback here)
        return


def warm_up(predictor) -> None:
    """Answer a drawn digit, alone and two together, before saying ready: a process's first model call
    and first image decode cost ~130 ms more than the rest (128 ms against 15–22 ms), and that landed on
    somebody's pen-up."""
    from PIL import Image as PILImage, ImageDraw
    pad = PILImage.new("L", (140, 140), 255)
    ImageDraw.Draw(pad).line([(70, 25), (70, 115)], fill=0, width=12)
    png = io.BytesIO()
    pad.save(png, format="PNG")
    body = json.dumps({"image": base64.b64encode(png.getvalue()).decode()}).encode()
    job = ("light", "application/json", body, True, True)
    answer_jobs(predictor, [job])
    answer_jobs(predictor, [job, job])


# ------------------------------------------------------------------ the app

class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413, however it is sent (chunked too);
    one that stops coming for BODY_IDLE_S, or trickles in under BODY_MIN_RATE after that, gets 408, so
    a stalled or deliberately slow client does not hold its connection.

    The body is read here first (at most `limit` bytes are held) and replayed to the app, so the
    app never sees a partial body and the refusal never surfaces as an error inside it.
    """

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > self.limit:
            return await _too_large(scope, receive, send, self.limit)
        chunks, total, started = [], 0, time.monotonic()
        while True:
            try:
                message = await asyncio.wait_for(receive(), BODY_IDLE_S)
            except asyncio.TimeoutError:
                return await _too_slow(scope, receive, send, f"stopped coming: {total:,} bytes came, then nothing "
                                                             f"for {BODY_IDLE_S:.0f} s")
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            total += len(chunks[-1])
            elapsed = time.monotonic() - started
            if elapsed > BODY_IDLE_S and total < BODY_MIN_RATE * elapsed and message.get("more_body"):
                return await _too_slow(scope, receive, send, f"is coming too slowly: {total:,} bytes in {elapsed:.0f} s "
                                                             f"(at least {BODY_MIN_RATE // 1000} KB/s is needed)")
            if total > self.limit:
                return await _too_large(scope, receive, send, self.limit)
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: wait for the client to go away

        await self.app(scope, replay, send)


class AnswerWhenStopping:
    """ASGI middleware: a request still running SHUTDOWN_GRACE_S after SIGINT/SIGTERM is cancelled by
    uvicorn, which would log the CancelledError's traceback and answer a plain-text 500; it gets our 503
    (try again: another server may be up by then) instead, and the cancelled task ends there."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        started = False

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:
            if scope["type"] != "http" or started:
                raise
            await _api_error(busy("the server is stopping"))(scope, receive, send)


# What the API's documentation pages may load: only this server (and data:/blob: URLs they make).
# ReDoc's bundle asks cdn.redoc.ly for its "API docs by Redocly" logo; under this policy the browser
# does not even try. (The drawing page is our own and asks nothing outside: tested in the browser.)
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
               "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; font-src 'self' data:")
PAGES = ("/docs", "/redoc")


class HeadAsGet:
    """ASGI middleware: HEAD is answered as GET (uptime monitors ask `HEAD /healthz`; it was 405). Only
    the app sees GET: uvicorn keeps its own HEAD and sends the headers without the body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


class LocalPages:
    """ASGI middleware: the documentation pages get PAGE_POLICY as their Content-Security-Policy."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in PAGES:
            return await self.app(scope, receive, send)

        async def send_with_policy(message):
            if message["type"] == "http.response.start":
                policy = (b"content-security-policy", PAGE_POLICY.encode())
                message = {**message, "headers": [*message.get("headers", []), policy]}
            await send(message)

        await self.app(scope, receive, send_with_policy)


async def _too_large(scope, receive, send, limit: int) -> None:
    size = f"{limit / 2**20:.0f} MB" if limit >= 2**20 else f"{limit:,} bytes"  # --max-body 10: not "0 MB"
    await _error(413, f"request body over {size}; send a smaller image")(scope, receive, send)


async def _too_slow(scope, receive, send, why: str) -> None:  # the connection closed at once: the socket is freed now
    await _error(408, f"the request body {why}; send it again", {"Connection": "close"})(scope, receive, send)


def _error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _api_error(e: ApiError) -> JSONResponse:
    return _error(e.status, e.detail, {"Retry-After": str(e.retry_after)} if e.retry_after else None)


def create_app(model: str | os.PathLike | None = None, max_body: int = DEFAULT_MAX_BODY,
               queue: int = DEFAULT_QUEUE, time_budget: float = TIME_BUDGET_S):
    """The ASGI app for a run folder, a .pt or .onnx file, or (None) the bundled model.

    queue: requests that may wait per lane beyond those running (then 503); time_budget: seconds per
    request, waiting included (then 503).
    """
    from fastapi_offline import FastAPIOffline

    from .predict import load
    model = None if model is None else str(model)
    predictor = load(model)
    light = Lane("light", model, LIGHT_PROCESSES, queue, time_budget, depth=2)
    photos = Lane("photo", model, PHOTO_PROCESSES, queue, time_budget)

    @asynccontextmanager
    async def lifespan(app):
        try:
            light.start()
            photos.start()
            yield
        finally:
            await asyncio.sleep(0.2)  # requests uvicorn has just cancelled send their 503 (AnswerWhenStopping)
            photos.close()
            light.close()

    app = FastAPIOffline(title="lenet5", version=__version__, lifespan=lifespan,
                         swagger_ui_parameters={"validatorUrl": None},  # no request to swagger.io
                         description="LeNet-5 handwritten-digit recognition with MNIST-faithful preprocessing. "
                                     "Every error is {\"detail\": \"...\"}.")
    web = resources.files("lenet5") / "web"
    app.mount("/static", StaticFiles(directory=str(web)), name="static")

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return _api_error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        msgs = [f"{'.'.join(map(str, e.get('loc', ())[1:])) or 'request'}: {e.get('msg')}" for e in exc.errors()]
        return _error(422, "; ".join(msgs) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):  # 404, 405 (with its Allow header), ...
        headers = dict(exc.headers or {})
        if "GET" in headers.get("Allow", "").split(", "):  # HeadAsGet answers HEAD wherever GET is
            headers["Allow"] += ", HEAD"
        return _error(exc.status_code, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def unexpected(request, exc):  # a bug, never the user's input: answer, and starlette logs the traceback
        return _error(500, f"internal error: {type(exc).__name__}")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((web / "index.html").read_text())

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response((web / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    @app.get("/healthz", response_model=Health, responses={503: {
        "model": Error, "description": "starting: the processes are loading the model", "headers": RETRY_AFTER_HEADER}})
    async def healthz():
        """ok once the server can read an image at once."""
        if not (light.ready() and photos.ready()):
            raise ApiError(503, f"starting (the model is loading); try again in {RETRY_AFTER_S} s", RETRY_AFTER_S)
        return {"status": "ok"}

    @app.get("/api/model", response_model=ModelOut)
    async def model_info():
        """Preset, data set, parameters, test accuracy and class names of the served model, how many
        feature maps each layer has, the views each image is read in, and what computes the answers."""
        info = predictor.info
        return {"preset": info.get("preset"), "dataset": info.get("dataset"), "parameters": info.get("parameters"),
                "test_accuracy": info.get("test_accuracy"), "epoch": info.get("epoch"),
                "classes": predictor.classes,
                "backend": (light.ready() and photos.ready() and light.runtime()) or "starting",
                "views": list(predictor.views), "not_digit": predictor.reject is not None,
                "not_digit_threshold": (predictor.reject or {}).get("threshold"),
                "feature_maps": (info.get("config") or {}).get("model", {}).get("channels")}

    @app.post("/api/predict", openapi_extra={"requestBody": PREDICT_BODY},
              responses={200: {"model": PredictionOut}, **PREDICT_ERRORS})
    async def predict(request: Request,
                      features: bool = Query(False, description="add the conv1 and conv2 feature maps"),
                      number: bool = Query(False, description="also read the image as a row of digits: "
                                                              "`number` in the answer")) -> Response:
        """Read one image: JSON `{"image": base64}`, JSON `{"pixels": 28×28}` or a multipart upload (`file`).

        Returns the label (null when the image is blank or not a digit, with the reason), the ten
        probabilities and the 28×28 image the model saw; with `features=true` also the conv1
        (maps × 14×14) and conv2 (maps × 5×5) feature maps; with `number=true` also `number`: the
        row of digits the image holds ("1998", each digit's answer and 28×28 image), or null when it
        is no row: fewer than two pieces, some not surely a digit, or pieces close and not all sure
        (`NumberReading.is_a_row`; 28×28 pixels are always one digit).
        """
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() not in ("application/json", "multipart/form-data"):
            raise ApiError(415, "send application/json or multipart/form-data (a field named 'file')")
        body = await request.body()  # already read in full by BodyLimit: parsing it is a lane process's work
        start = time.monotonic()
        result = await light.run(("light", content_type, body, features, number))
        if result == PHOTO:
            result = await photos.run(("photo", content_type, body, features, number), time.monotonic() - start)
        return Response(result, media_type="application/json")

    return AnswerWhenStopping(HeadAsGet(LocalPages(BodyLimit(app, max_body))))


def single_threaded() -> None:
    """One thread each for torch and numpy's BLAS: one small image per request, and the lanes run
    requests side by side, so inner threads only oversubscribe the cores."""
    import torch

    from .many import one_blas_thread
    torch.set_num_threads(1)
    one_blas_thread()


def app_from_env():
    """The app for each of uvicorn's worker processes (`serve(workers=N)`): settings from ENV_CONFIG."""
    leave_with(int(os.environ[ENV_SUPERVISOR]), signal.SIGTERM)  # (it stops as on Ctrl-C)
    single_threaded()
    return create_app(**json.loads(os.environ[ENV_CONFIG]))


def leave_with(parent: int, sig: signal.Signals) -> None:
    """This process is sent `sig` when its parent dies, even of a SIGKILL (Linux; elsewhere nothing).
    Without it, the workers of a killed `serve --workers N` served on."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # it died before the line above
        signal.raise_signal(sig)


def serve(model: str | os.PathLike | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          max_body: int = DEFAULT_MAX_BODY, workers: int = DEFAULT_WORKERS, queue: int = DEFAULT_QUEUE,
          log_level: str = "info") -> None:
    """Run the app with uvicorn until interrupted; model None is the bundled model.

    workers > 1 runs that many server processes on the same port (one per core is plenty).
    """
    import uvicorn
    from uvicorn.main import STARTUP_FAILURE

    from .predict import load
    if not 1 <= workers <= MAX_WORKERS:
        raise UserError(f"workers must be 1–{MAX_WORKERS} (a few per core at most), got {workers}")
    settings = {"model": None if model is None else str(model), "max_body": max_body, "queue": queue}
    with listening_socket(host, port) as sock:
        single_threaded()
        # (workers > 1: a bad model is a one-line error here, not one traceback per worker)
        app = create_app(**settings) if workers == 1 else load(settings["model"])
        common = {"host": host, "port": port, "log_level": log_level, "timeout_graceful_shutdown": SHUTDOWN_GRACE_S}
        if workers == 1:
            server = uvicorn.Server(uvicorn.Config(app, **common))
            say_where(host, sock)
            with suppress(KeyboardInterrupt):  # (Ctrl-C in Python: serve returns, as uvicorn.run does)
                server.run(sockets=[sock])
            if not server.started:  # as uvicorn.run: the app did not start (its log says why)
                raise SystemExit(STARTUP_FAILURE)
            return
        os.environ[ENV_CONFIG], os.environ[ENV_SUPERVISOR] = json.dumps(settings), str(os.getpid())
        config = uvicorn.Config("lenet5.server:app_from_env", factory=True, workers=workers, **common)
        say_where(host, sock)
        run_workers(config, sock)


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before the model loads and handed to uvicorn: a taken port is one
    line here, and no other process can take the port between a check and uvicorn's own bind (which
    gave uvicorn's log and exit 3)."""
    ipv6 = ":" in host
    try:  # SO_REUSEADDR (POSIX), as uvicorn's own socket: a port in TIME_WAIT after a restart is free
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ipv6 else socket.AF_INET,
                                    dualstack_ipv6=ipv6 and socket.has_dualstack_ipv6())  # `::` takes IPv4 too
    except OSError as e:
        why = (e.strerror or str(e)).split(" (while attempting")[0]  # create_server's note repeats the address
        raise UserError(f"cannot listen on {host}:{port} ({why}); choose another port or host") from None
    sock.set_inheritable(True)  # --workers: each worker process accepts on it
    return sock


def say_where(host: str, sock: socket.socket) -> None:
    """uvicorn's "running on" line, which it leaves out for a socket it is handed (`--port 0` names the port)."""
    url = f"http://[{host}]:%d" if ":" in host else f"http://{host}:%d"
    logging.getLogger("uvicorn.error").info(f"Uvicorn running on {url} (Press CTRL+C to quit)", sock.getsockname()[1])


def run_workers(config, sock: socket.socket) -> None:
    """uvicorn.run's `workers > 1` branch, except that the signal that stopped the server is raised again
    once it has stopped, as uvicorn does for one process: `lenet5 serve --workers 2` stopped by SIGTERM
    exited 0, not 143, since uvicorn's supervisor takes the signals for good."""
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        stopped_by: int | None = None

        def handle_int(self) -> None:
            self.stopped_by = signal.SIGINT
            super().handle_int()

        def handle_term(self) -> None:
            self.stopped_by = signal.SIGTERM
            super().handle_term()

        def terminate_all(self) -> None:
            # A worker still starting (importing, loading the model) has taken uvicorn's handlers, and
            # it starts in full before it stops: 13 s on a busy machine. It serves no one yet: killed.
            for process in self.processes:
                if process.exitcode is None and not process.is_ready(timeout=READY_ASK_S):
                    process.kill()
            super().terminate_all()

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    supervisor = Supervisor(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if supervisor.stopped_by is not None:
        with suppress(KeyboardInterrupt):  # (Ctrl-C in Python: serve returns, as with one process)
            signal.raise_signal(supervisor.stopped_by)
