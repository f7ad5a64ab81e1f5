"""The HTTP API against a real `lenet5 serve` process on a free loopback port."""

import base64
import io
import json
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import DATA_DIR
from lenet5 import data

MAX_BODY = 200_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run_dir, *extra):
    """`lenet5 serve` in a subprocess; returns (process, base URL) once /healthz answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lenet5", "serve", str(run_dir), "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stdout.read()}")


@pytest.fixture(scope="module")
def server(trained_run):
    proc, base = start_server(trained_run, "--max-body", str(MAX_BODY))
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def digits():
    return data.load_arrays("mnist", "test", DATA_DIR)


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def test_health_and_model_facts(server):
    assert httpx.get(server + "/healthz").json() == {"status": "ok"}
    m = httpx.get(server + "/api/model").json()
    assert m["preset"] == "modern" and m["dataset"] == "mnist" and m["parameters"] == 61706
    assert m["classes"] == [str(d) for d in range(10)] and 0.97 < m["test_accuracy"] <= 1


def test_predict_accepts_upload_base64_and_pixels_alike(server, digits):
    x, y = digits
    raw = png(x[0])
    answers = [
        httpx.post(server + "/api/predict", files={"file": ("d.png", raw, "image/png")}),
        httpx.post(server + "/api/predict", json={"image": base64.b64encode(raw).decode()}),
        httpx.post(server + "/api/predict", json={"image": "data:image/png;base64," + base64.b64encode(raw).decode()}),
        httpx.post(server + "/api/predict", json={"pixels": x[0].tolist()}),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["label"] == y[0] and abs(sum(body["probabilities"]) - 1) < 1e-4
        assert np.array(body["preprocessed"]).shape == (28, 28) and "features" not in body


def test_features_true_adds_the_feature_maps(server, digits):
    r = httpx.post(server + "/api/predict?features=true", json={"pixels": digits[0][1].tolist()})
    f = r.json()["features"]
    assert np.array(f["conv1"]).shape == (6, 14, 14) and np.array(f["conv2"]).shape == (16, 5, 5)


@pytest.mark.parametrize("kwargs, status, needle", [
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ({"json": {"image": "%%% not base64"}}, 400, "not valid base64"),
    ({"json": {"image": base64.b64encode(b"plain text").decode()}}, 400, "not an image"),
    ({"json": {"pixels": [[0] * 27] * 28}}, 422, "28×28"),
    ({"json": {"pixels": [[1e9] * 28] * 28}}, 422, "0–255"),
    ({"json": {"pixels": "abc"}}, 422, "28×28"),
    ({"json": {"other": 1}}, 422, "JSON body must be"),
    ({"json": [1, 2, 3]}, 422, "JSON body must be"),
    ({"files": {"file": ("x.png", b"", "image/png")}}, 400, "empty"),
    ({"files": {"file": ("x.txt", b"hello", "text/plain")}}, 400, "not an image"),
    ({"files": {"wrong": ("x.png", b"abc", "image/png")}}, 422, "field named 'file'"),
    ({"content": b"abc", "headers": {"content-type": "text/plain"}}, 415, "multipart/form-data"),
    ({"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=x"}}, 422, "field named"),
])
def test_bad_requests_get_a_4xx_with_a_message_and_the_server_keeps_serving(server, kwargs, status, needle):
    r = httpx.post(server + "/api/predict", **kwargs)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]
    assert httpx.get(server + "/healthz").status_code == 200


def test_a_blank_drawing_is_reported_not_classified(server):
    r = httpx.post(server + "/api/predict", files={"file": ("b.png", png(np.zeros((280, 280), np.uint8)), "image/png")})
    assert r.status_code == 422 and "blank" in r.json()["detail"]


def test_bodies_over_the_limit_get_413_declared_or_streamed(server):
    big = b"\x00" * (MAX_BODY + 1)
    assert httpx.post(server + "/api/predict", files={"file": ("big.png", big, "image/png")}).status_code == 413

    def chunks():  # no Content-Length: the limit must hold while streaming
        for _ in range(10):
            yield b"\x00" * (MAX_BODY // 5)

    r = httpx.post(server + "/api/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "smaller image" in r.json()["detail"]


def test_a_decompression_bomb_is_refused(server):
    buf = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buf, "PNG")
    r = httpx.post(server + "/api/predict", files={"file": ("bomb.png", buf.getvalue(), "image/png")})
    assert r.status_code == 400 and "too large" in r.json()["detail"]


def test_concurrent_requests_get_each_their_own_answer(server, digits):
    x, y = digits
    results = {}

    def worker(i):
        with httpx.Client() as c:
            results[i] = c.post(server + "/api/predict", json={"pixels": x[i].tolist()}).json()["label"]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    agree = sum(results[i] == y[i] for i in range(40))
    assert len(results) == 40 and agree >= 38


def test_the_openapi_schema_documents_every_route(server):
    schema = httpx.get(server + "/openapi.json").json()
    assert {"/api/predict", "/api/model", "/healthz"} <= set(schema["paths"])
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)
    assert httpx.get(server + "/docs").status_code == 200


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=30) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=60)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(
    st.dictionaries(st.sampled_from(["image", "pixels", "x"]), json_values, max_size=2),
    json_values,
    st.fixed_dictionaries({"pixels": st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=28,
                                                          max_size=28), min_size=28, max_size=28)}),
    st.fixed_dictionaries({"image": st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())}),
), features=st.booleans())
def test_no_json_body_ever_yields_a_5xx(server, body, features):
    r = httpx.post(server + f"/api/predict?features={str(features).lower()}",
                   content=json.dumps(body, allow_nan=True).encode(), headers={"content-type": "application/json"})
    assert r.status_code < 500, (body, r.text)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=st.binary(max_size=2000), query=st.sampled_from(["", "?features=true", "?features=maybe"]))
def test_no_uploaded_bytes_ever_yield_a_5xx(server, payload, query):
    r = httpx.post(server + "/api/predict" + query, files={"file": ("f.png", payload, "image/png")})
    assert r.status_code < 500, r.text


def test_a_taken_port_is_a_one_line_usage_error(trained_run, server):
    port = server.rsplit(":", 1)[1]
    r = subprocess.run([sys.executable, "-m", "lenet5", "serve", str(trained_run), "--port", port],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("lenet5: error: cannot listen on 127.0.0.1:")
    assert r.stderr.count("\n") == 1
