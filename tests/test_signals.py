"""SIGINT and SIGTERM, as `kill`, `timeout`, supervisors and Ctrl-C send them, to real `lenet5` processes:
each stops within 2 s with its workers, says what it leaves behind, and leaves resumable state."""

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import DATA_DIR
from lenet5.run import RunFolder

STOP_WITHIN_S = 2.0


def start(*args, **kw):
    env = {**os.environ, "LENET5_DATA_DIR": str(DATA_DIR), "PYTHONUNBUFFERED": "1"}
    # a session of its own: the group id finds every worker the command started
    return subprocess.Popen([sys.executable, "-m", "lenet5", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True, **kw)


def stop(p, sig):
    """Send `sig` to the command's own PID only; (seconds until it exited, stderr)."""
    t0 = time.monotonic()
    p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=30)
    finally:
        p.kill()
    return time.monotonic() - t0, err


def assert_group_gone(p):
    # Workers the parent killed, and multiprocessing's resource tracker, leave once they see the parent gone:
    # on a loaded machine that can take seconds. A worker that was left behind would still be here after 10.
    for _ in range(100):
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:  # the last one left between the check and the kill: still 10 s late
        pass
    pytest.fail("a worker process outlived the command by 10 s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_training_stops_within_two_seconds_leaving_a_resumable_run(tmp_path, sig):
    # (that the resumed run equals an uninterrupted one: test_cli and test_run)
    p = start("train", "--epochs", "2", "--subset", "15000", "--out", tmp_path / "r", "--quiet", "--no-report")
    assert p.stdout.readline().startswith("epoch:0,")
    seconds, err = stop(p, sig)
    assert p.returncode == 128 + sig and seconds < STOP_WITHIN_S, (seconds, err)
    assert "interrupted" in err and f"--out {tmp_path / 'r'} --resume" in err and "Traceback" not in err
    assert_group_gone(p)
    assert RunFolder(tmp_path / "r").status() == "partial" and not list((tmp_path / "r").rglob(".*.tmp"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_folder_prediction_stops_its_workers_within_two_seconds(tmp_path, sig):
    folder = tmp_path / "digits"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4000):  # seconds of work on every core
        im = np.zeros((56, 56), np.uint8)
        im[8 + i % 20: 30 + i % 20, 20:26] = 255
        Image.fromarray(np.maximum(im, rng.integers(0, 30, im.shape, dtype=np.uint8))).save(folder / f"{i}.png")
    p = start("predict", folder, "--json", "--save-preprocessed", tmp_path / "seen")
    wait_for_workers(p)  # the model has loaded and the pool is reading the folder
    seconds, err = stop(p, sig)
    assert p.returncode == 128 + sig and seconds < STOP_WITHIN_S, (seconds, err)
    assert err.strip().splitlines()[-1].startswith("lenet5: interrupted") and "Traceback" not in err, err
    assert_group_gone(p)
    assert not (tmp_path / "seen").exists()  # nothing half-written


def wait_for_workers(p, timeout=60):
    """Until `p` has child processes (its pool), read from /proc."""
    def parent_of(pid):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert p.poll() is None, "finished before it could be interrupted: give it more images"
        if any(parent_of(d) == p.pid for d in os.listdir("/proc") if d.isdigit()):
            time.sleep(0.5)  # the workers are at work
            return
        time.sleep(0.1)
    pytest.fail("no worker process started")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*args):
    """`lenet5 serve` (the bundled model) once /healthz answers: (process, base URL)."""
    import httpx
    port = free_port()
    p = start("serve", "--port", port, *args)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return p, url
        except httpx.TransportError:
            time.sleep(0.1)
    p.kill()
    pytest.fail("the server did not start")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_server_stops_within_two_seconds(sig):
    p, _ = start_server()
    seconds, err = stop(p, sig)
    # (it exited 0 and then spent 1.3–1.8 s in the interpreter's teardown: over 2 s in a CI run)
    assert p.returncode == 128 + sig and seconds < STOP_WITHIN_S and "Traceback" not in err, (seconds, err)
    assert_group_gone(p)


def test_the_server_stops_when_sigterm_comes_while_it_loads_the_model():
    p = start("serve", "--port", free_port())
    time.sleep(1.5)  # the command is loading the model: uvicorn does not yet handle signals
    seconds, err = stop(p, signal.SIGTERM)
    # (6af7917 only remembered a signal there for later, and the server started and ran on)
    assert p.returncode == 143 and seconds < STOP_WITHIN_S and "Traceback" not in err, (seconds, err)
    assert_group_gone(p)


def _photo_png() -> bytes:
    """A 12-MP PNG of a 7 on flat paper: tens of KB to send (every upload is in before the signal), yet
    decoded in full, a fraction of a second of the photo lane's work."""
    import io
    from PIL import ImageDraw
    paper = Image.new("L", (4000, 3000), 230)
    ImageDraw.Draw(paper).line([(1500, 900), (2500, 900), (1800, 2200)], fill=20, width=90)
    out = io.BytesIO()
    paper.save(out, format="PNG")
    return out.getvalue()


def test_requests_in_flight_when_the_server_stops_get_a_503_not_a_traceback(workers=1):
    # (with --workers 2, a worker process can exit before they are answered: known, README)
    """The photo lane has one process: of 60 photos sent at once (several seconds of its work even on a
    fast machine), most are still waiting when SIGTERM's grace runs out. Each is answered, 200 or a
    JSON 503 saying the server is stopping; none is a 500, and none is left without an answer (with
    uvicorn's worker processes they were, before the lanes waited a moment for them to answer)."""
    import httpx
    from concurrent.futures import ThreadPoolExecutor
    photo = _photo_png()
    p, url = start_server("--workers", workers)

    def send(_):
        try:
            return httpx.post(url + "/api/predict", files={"file": ("p.png", photo, "image/png")}, timeout=30)
        except httpx.TransportError as e:  # refused after the server closed its socket: not an answer
            return e

    with ThreadPoolExecutor(60) as pool:
        answers = pool.map(send, range(60))
        time.sleep(1.0)  # all sent, most queued behind the first
        seconds, err = stop(p, signal.SIGTERM)
        answers = list(answers)
    statuses = [a.status_code if isinstance(a, httpx.Response) else type(a).__name__ for a in answers]
    if workers == 1:
        assert 503 in statuses and set(statuses) <= {200, 503, "ConnectError"}, (statuses, err)
    else:  # a worker process may still exit before a few of them are answered (known; README)
        cut = [s for s in statuses if s not in (200, 503)]
        assert statuses.count(503) > len(cut) and set(cut) <= {"ConnectError", "ReadError", "RemoteProtocolError"}, (
            statuses, err)
    for a in answers:
        if isinstance(a, httpx.Response) and a.status_code == 503:
            assert "stopping" in a.json()["detail"] and a.headers["retry-after"]
    assert "Traceback" not in err and "CancelledError" not in err, err
    assert seconds < STOP_WITHIN_S + 1.5, seconds  # the grace, then the lanes' processes stopped
    assert_group_gone(p)
