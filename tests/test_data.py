import gzip
import os
import http.server
import socket
import threading
import time
from functools import partial
from pathlib import Path

import pytest
import torch

from lenet5 import data
from lenet5.errors import DataError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_label_counts_and_first_labels_match_the_published_facts(data_dir):
    train = data.load("mnist", "train", data_dir, allow_download=False)
    test = data.load("mnist", "test", data_dir, allow_download=False)
    assert torch.bincount(train.labels).tolist() == MNIST_TRAIN_COUNTS
    assert torch.bincount(test.labels).tolist() == MNIST_TEST_COUNTS
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_pixels_are_scaled_to_unit_range_and_nothing_else(data_dir):
    train = data.load("mnist", "train", data_dir)
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.float32
    assert train.images.min() == 0 and train.images.max() == 1
    assert train.images.mean().item() == pytest.approx(0.1307, abs=1e-4)
    assert train.images.std().item() == pytest.approx(0.3081, abs=1e-4)


def test_fashion_mnist_loads_with_its_class_names(data_dir):
    test = data.load("fashion-mnist", "test", data_dir)
    assert len(test) == 10000 and test.classes[9] == "Ankle boot"
    assert torch.bincount(test.labels).tolist() == [1000] * 10


def test_files_directly_in_the_folder_are_found_too(data_dir, tmp_path):
    for f in data.get_spec("mnist").files["test"]:
        (tmp_path / (f.name + ".gz")).write_bytes((data_dir / "mnist" / (f.name + ".gz")).read_bytes())
    assert len(data.load("mnist", "test", tmp_path, allow_download=False)) == 10000


def _copy_test_split(data_dir: Path, tmp: Path) -> Path:
    (tmp / "mnist").mkdir()
    for f in data.get_spec("mnist").files["test"]:
        name = f.name + ".gz"
        (tmp / "mnist" / name).write_bytes((data_dir / "mnist" / name).read_bytes())
    return tmp / "mnist"


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) // 2], "truncated"),
    (lambda raw: raw[:100] + bytes(b ^ 0xFF for b in raw[100:200]) + raw[200:], "corrupt"),
])
def test_damaged_gzip_file_gives_a_clear_error_naming_it(data_dir, tmp_path, damage, message):
    folder = _copy_test_split(data_dir, tmp_path)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=message) as e:
        data.load("mnist", "test", tmp_path, allow_download=False)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("edit, message", [
    (lambda raw: b"\x00\x00\x08\x01" + raw[4:], "wrong magic number 2049"),
    (lambda raw: raw[:-1000], "truncated or padded"),
    (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), "checksum mismatch"),
    (lambda raw: raw[:4] + (9999).to_bytes(4, "big") + raw[8:], "holds 9999 items, expected 10000"),
])
def test_bad_idx_content_gives_a_clear_error(data_dir, tmp_path, edit, message):
    folder = _copy_test_split(data_dir, tmp_path)
    gz = folder / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(gz.read_bytes())
    gz.unlink()
    (folder / "t10k-images-idx3-ubyte").write_bytes(edit(raw))  # uncompressed files are read too
    with pytest.raises(DataError, match=message):
        data.load("mnist", "test", tmp_path, allow_download=False)


def test_offline_with_no_files_names_the_test_files_and_what_each_mirror_answered(tmp_path):
    mirrors = ["http://127.0.0.1:9/nothing/", "http://127.0.0.1:9/else/"]  # port 9: refused at once
    with pytest.raises(DataError) as e:
        data.load("mnist", "test", tmp_path, mirrors=mirrors)
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte" in msg and "train-" not in msg  # evaluation needs only the test files
    assert all(m + "t10k-images-idx3-ubyte.gz: Connection refused" in msg for m in mirrors), msg
    assert list(tmp_path.iterdir()) == []  # nothing half-written, not even the mnist/ folder made for it
    with pytest.raises(DataError):
        data.load("mnist", "test", tmp_path / "typo" / "data", mirrors=mirrors)
    assert list(tmp_path.iterdir()) == []  # no empty folders left behind for a mistyped path
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "notes.txt").write_text("mine")
    with pytest.raises(DataError):
        data.load("mnist", "test", tmp_path, mirrors=mirrors)
    assert (tmp_path / "mnist" / "notes.txt").is_file()  # a folder that was there, and what it holds, stay


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    s = socket.create_server(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{s.getsockname()[1]}/"
    s.close()


@pytest.fixture
def trickling_server():
    """Answers with headers, then one byte a second, forever."""
    s = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = s.accept()
            except OSError:
                continue
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    def trickle(conn):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b"x")
            except OSError:
                return
            time.sleep(0.5)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{s.getsockname()[1]}/"
    stop.set()
    s.close()


def test_a_mirror_that_never_answers_or_trickles_is_left_at_its_deadline(tmp_path, silent_server, trickling_server):
    fetch = partial(data.fetch_url, timeout=1.0, deadline=3.0)
    t0 = time.monotonic()
    with pytest.raises(DataError) as e:
        data.download("mnist", tmp_path, [silent_server, trickling_server], fetch=fetch, splits=["test"])
    # per file: 1 s waiting for the silent one, 3 s of trickle; the first file fails on both
    # mirrors and the second file tries both again
    assert time.monotonic() - t0 < 2 * (1 + 3) + 4
    msg = str(e.value)
    assert f"{silent_server}t10k-images-idx3-ubyte.gz: timed out" in msg
    assert f"{trickling_server}t10k-images-idx3-ubyte.gz: timed out (not finished after 3 s)" in msg
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror_server(tmp_path):
    """A web server on loopback serving tmp_path/www; yields (root folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_falls_through_a_corrupt_mirror_to_a_good_one_and_verifies(data_dir, mirror_server, tmp_path):
    root, base = mirror_server
    (root / "bad").mkdir()
    (root / "good").mkdir()
    for f in data.get_spec("mnist").all_files():
        good = (data_dir / "mnist" / (f.name + ".gz")).read_bytes()
        (root / "good" / (f.name + ".gz")).write_bytes(good)
        raw = bytearray(gzip.decompress(good))
        raw[-1] ^= 0xFF  # same size, wrong checksum
        (root / "bad" / (f.name + ".gz")).write_bytes(gzip.compress(bytes(raw)))
    target = tmp_path / "dl"
    paths = data.download("mnist", target, [base + "missing/", base + "bad/", base + "good/"])
    assert len(paths) == 4 and all(p.parent == target / "mnist" for p in paths)
    assert sorted(p.name for p in (target / "mnist").iterdir()) == sorted(p.name for p in paths)  # no temp files
    assert data.check("mnist", target)


def test_a_mirror_env_variable_replaces_the_known_mirrors(tmp_path, monkeypatch):
    monkeypatch.setenv(data.MIRRORS_ENV, "http://127.0.0.1:9/corporate")
    with pytest.raises(DataError, match="127.0.0.1:9/corporate/") as e:
        data.download("mnist", tmp_path)
    assert "ossci" not in str(e.value)


def test_batches_visit_every_example_once_per_epoch_in_a_seeded_order(data_dir):
    test = data.load("mnist", "test", data_dir)
    ys = [torch.cat([y for _, y in data.batches(test, 512, torch.Generator().manual_seed(s))]) for s in (0, 0, 1)]
    assert torch.equal(ys[0], ys[1]) and not torch.equal(ys[0], ys[2])
    assert torch.equal(torch.sort(ys[0]).values, torch.sort(test.labels).values)
    sizes = [len(y) for _, y in data.batches(test, 512, torch.Generator().manual_seed(0))]
    assert sizes == [512] * 19 + [272]  # the last, partial batch is kept, as the report's DataLoader does


def test_augmentation_moves_pixels_but_keeps_shape_and_range(data_dir):
    x = data.load("mnist", "test", data_dir).images[:64]
    y = data.augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1 + 1e-6
    assert not torch.allclose(x, y) and (x - y).abs().mean() < 0.2


def test_downloading_into_a_read_only_folder_is_one_line_naming_it(data_dir, mirror_server, tmp_path, monkeypatch, capsys):
    import subprocess
    from lenet5.cli import main
    root, base = mirror_server
    for f in data.get_spec("mnist").all_files():
        (root / (f.name + ".gz")).write_bytes((data_dir / "mnist" / (f.name + ".gz")).read_bytes())
    target = tmp_path / "ro"
    target.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(target)]).returncode:
        target.chmod(0o555)  # not root: the permission bits hold
    try:
        monkeypatch.setenv(data.MIRRORS_ENV, base)
        assert main(["data", "download", "--data-dir", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(target / "mnist") in err and "choose a data folder you can write" in err, err
        monkeypatch.setenv(data.MIRRORS_ENV, "http://127.0.0.1:9/")  # the folder is checked before any mirror
        assert main(["data", "download", "--data-dir", str(target)]) == 2
        assert "cannot write the data into" in capsys.readouterr().err
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
