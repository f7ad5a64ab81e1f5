"""`lenet5 serve`: the drawing page and a JSON API over a trained model (FastAPI + uvicorn).

    from lenet5.server import create_app
    app = create_app("runs/classic-mnist-s0")          # an ASGI app; run it with any ASGI server
    # or: lenet5 serve runs/classic-mnist-s0 --port 8000

Routes: GET / (the page), GET /api/model, POST /api/predict[?features=true], GET /healthz, and the
OpenAPI schema at /docs and /openapi.json. No input yields a 500: a bad one gets a 4xx and a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from importlib import resources
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .errors import UserError
from .predict import Predictor, load
from .preprocess import FIELD, BlankImageError, ImageError

# fastapi and uvicorn are the `serve` extra: `lenet5 serve` says so when they are missing.

DEFAULT_MAX_BODY = 2 * 1024 * 1024  # bytes; a phone photo fits, a flood does not
DEFAULT_HOST = "127.0.0.1"          # only this machine unless the user says otherwise
DEFAULT_PORT = 8000
WEB_FILES = {"app.js": "text/javascript", "style.css": "text/css"}

PREDICT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "an image file (PNG, JPEG, ...)"}}}},
        "application/json": {"schema": {"oneOf": [
            {"type": "object", "required": ["image"], "additionalProperties": False, "properties": {
                "image": {"type": "string", "description": "base64 image bytes, or a data: URL"}}},
            {"type": "object", "required": ["pixels"], "additionalProperties": False, "properties": {
                "pixels": {"type": "array", "minItems": FIELD, "maxItems": FIELD, "description":
                           "28×28 MNIST-like values (white ink on black), 0–1 or 0–255",
                           "items": {"type": "array", "minItems": FIELD, "maxItems": FIELD,
                                     "items": {"type": "number"}}}}},
        ]}},
    },
}


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413, however it is sent (chunked too).

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
            return await _too_large(send, self.limit)
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            total += len(chunks[-1])
            if total > self.limit:
                return await _too_large(send, self.limit)
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


async def _too_large(send, limit: int) -> None:
    body = json.dumps({"detail": f"request body over {limit:,} bytes; send a smaller image"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(model: str | os.PathLike | Any, max_body: int = DEFAULT_MAX_BODY):
    """The ASGI app for a run folder (or a ready lenet5.predict.Predictor)."""
    predictor: Predictor = model if isinstance(model, Predictor) else load(model)
    app = FastAPI(title="lenet5", version=__version__,
                  description="LeNet-5 handwritten-digit recognition with MNIST-faithful preprocessing.")
    web = resources.files("lenet5") / "web"

    @app.exception_handler(Exception)
    async def unexpected(request, exc):  # a bug, never the user's input: still answer, and say so
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        return JSONResponse({"detail": "; ".join(str(e.get("msg")) for e in exc.errors()) or "invalid request"},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((web / "index.html").read_text())

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in WEB_FILES:
            raise HTTPException(404, f"no static file {name!r}")
        return Response((web / name).read_bytes(), media_type=WEB_FILES[name])

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/model")
    def model_info() -> dict[str, Any]:
        """Preset, data set, parameters, test accuracy and class names of the served model."""
        info = predictor.info
        return {"preset": info.get("preset"), "dataset": info.get("dataset"), "parameters": info.get("parameters"),
                "test_accuracy": info.get("test_accuracy"), "epoch": info.get("epoch"),
                "classes": predictor.classes, "backend": predictor.backend}

    @app.post("/api/predict", openapi_extra={"requestBody": PREDICT_BODY})
    async def predict(request: Request, features: bool = False) -> dict[str, Any]:
        """Classify one image: a multipart upload (`file`), JSON `{"image": base64}` or JSON `{"pixels": 28×28}`.

        Returns the label, the ten probabilities and the 28×28 image the model saw; with
        `features=true` also the conv1 (6×14×14) and conv2 (16×5×5) feature maps.
        """
        image = await _read_image(request)
        try:
            result = predictor.predict_one(image)
        except BlankImageError as e:
            raise HTTPException(422, str(e)) from None
        except (ImageError, UserError) as e:
            raise HTTPException(400, str(e)) from None
        out: dict[str, Any] = {"label": result.label, "class_name": result.class_name,
                               "probabilities": [round(p, 6) for p in result.probabilities],
                               "preprocessed": np.round(result.preprocessed, 4).tolist()}
        if features:
            if predictor.backend != "torch":
                raise HTTPException(400, "feature maps need the torch backend")
            maps = predictor.feature_maps(result.preprocessed)
            out["features"] = {name: np.round(m, 4).tolist() for name, m in maps.items()}
        return out

    async def _read_image(request: Request):
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            try:
                form = await request.form()
            except Exception as e:  # a malformed multipart body: starlette raises several kinds
                raise HTTPException(400, f"malformed multipart body ({type(e).__name__}); send a field named file")
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "multipart body needs a file field named 'file'")
            return await upload.read()
        if ctype.startswith("application/json"):
            try:
                body = json.loads(await request.body())
            except (ValueError, UnicodeDecodeError):
                raise HTTPException(400, "body is not valid JSON") from None
            if not isinstance(body, dict) or len(body.keys() & {"image", "pixels"}) != 1 or len(body) != 1:
                raise HTTPException(422, 'JSON body must be {"image": "<base64>"} or {"pixels": [[28 numbers] × 28]}')
            if "image" in body:
                return _decode_base64(body["image"])
            return _pixels(body["pixels"])
        raise HTTPException(415, "send multipart/form-data (field 'file') or application/json")

    return BodyLimit(app, max_body)


def _decode_base64(value) -> bytes:
    if not isinstance(value, str) or not value:
        raise HTTPException(422, "'image' must be a non-empty base64 string")
    if value.startswith("data:"):
        value = value.partition(",")[2]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, "'image' is not valid base64") from None


def _pixels(value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError):
        raise HTTPException(422, "'pixels' must be a 28×28 array of numbers") from None
    if arr.shape != (FIELD, FIELD) or not np.isfinite(arr).all():
        raise HTTPException(422, f"'pixels' must be a 28×28 array of finite numbers, got shape {list(arr.shape)}")
    if arr.min() < 0 or arr.max() > 255:
        raise HTTPException(422, "'pixels' values must be within 0–1 or 0–255")
    return arr


def serve(run_dir: str | os.PathLike, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          max_body: int = DEFAULT_MAX_BODY, log_level: str = "info") -> None:
    """Run the app with uvicorn until interrupted."""
    import socket

    import torch
    import uvicorn
    try:  # a taken port is the user's to fix: say so in one line instead of uvicorn's log and exit 3
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port or --host") from None
    torch.set_num_threads(1)  # one small image per request: threads cost more than they give
    app = create_app(run_dir, max_body)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
