"""Prediction on paper-like images, the Python API, the CLI and every bad input, for real."""

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

import lenet5
from conftest import run_cli
from lenet5 import data
from lenet5.many import to_array
from lenet5.preprocess import ImageError, naive_resize
from lenet5.synth import paper_digit, paper_number


@pytest.fixture(scope="module")
def test_digits(data_dir):
    return data.load_arrays("mnist", "test", data_dir)


@pytest.fixture(scope="module")
def predictor(trained_run):
    return lenet5.load(trained_run)


def test_paper_like_digits_are_read_at_97_percent_and_clearly_better_than_a_naive_resize(predictor, test_digits):
    x, y = test_digits
    rng = np.random.default_rng(1)
    idx = rng.choice(len(y), 300, replace=False)
    images = [paper_digit(x[i], rng) for i in idx]
    ours = np.mean([r.label for r in predictor.predict(images)] == y[idx])
    naive = np.mean(predictor.probabilities(np.stack([naive_resize(im) for im in images])).argmax(1) == y[idx])
    assert ours >= 0.97 and naive < ours - 0.3, (ours, naive)


def test_paper_like_four_digit_numbers_are_read_exactly_at_90_percent(predictor, test_digits):
    x, y = test_digits
    rng = np.random.default_rng(2)
    exact = 0
    for _ in range(100):
        ids = rng.choice(len(y), 4, replace=False)
        exact += predictor.read_number(paper_number([x[i] for i in ids], rng)).number == "".join(map(str, y[ids]))
    assert exact >= 90


def test_a_row_is_digits_apart_or_each_read_surely_and_one_digit_is_not(predictor, test_digits):
    from lenet5.predict import ROW_CLOSE_SURE, ROW_GAP, ROW_SURE, NumberReading, Prediction
    x, y = test_digits
    two = predictor.read_number(paper_number([x[0], x[1]], np.random.default_rng(0)))
    assert two.several and two.is_a_row and two.gap > 0
    one = predictor.read_number(paper_number([x[0]], np.random.default_rng(0)))
    assert not one.several and not one.is_a_row and one.gap == np.inf
    sure, unsure, surely = ([q] + [(1 - q) / 9] * 9 for q in (ROW_SURE + 0.01, ROW_SURE - 0.01, ROW_CLOSE_SURE))
    piece = lambda probabilities, label=0: Prediction(label, None if label is None else "0", probabilities)
    apart, close = ROW_GAP, ROW_GAP - 0.01
    assert NumberReading("00", [piece(sure), piece(sure)], gap=apart).is_a_row  # six digits in a photo, a 9 66% sure
    assert not NumberReading("00", [piece(sure), piece(sure)], gap=close).is_a_row  # a 4 in two strokes as "61"
    assert NumberReading("00", [piece(surely), piece(surely)], gap=0).is_a_row  # touching digits cut apart
    assert not NumberReading("00", [piece(sure), piece(unsure)], gap=1).is_a_row
    assert not NumberReading("0?", [piece(sure), piece(sure, None)], gap=1).is_a_row


def test_the_api_accepts_paths_pil_images_and_arrays_alike(predictor, test_digits, tmp_path):
    x, y = test_digits
    img = paper_digit(x[0], np.random.default_rng(0))
    img.save(tmp_path / "seven.png")
    results = predictor.predict([tmp_path / "seven.png", img, np.asarray(img), x[0]])
    assert [r.label for r in results] == [y[0]] * 4
    assert all(abs(sum(r.probabilities) - 1) < 1e-5 for r in results)
    assert results[0].source.endswith("seven.png") and results[3].preprocessed.shape == (28, 28)


def test_one_image_given_alone_is_read_as_a_list_of_one(predictor, test_digits, tmp_path):
    x, y = test_digits
    img = paper_digit(x[0], np.random.default_rng(0))
    img.save(tmp_path / "seven.png")
    for one in (str(tmp_path / "seven.png"), tmp_path / "seven.png", (tmp_path / "seven.png").read_bytes(), img,
                np.asarray(img), x[0]):
        results = predictor.predict(one)  # a str was read as its characters, an array as its rows
        assert [r.label for r in results] == [y[0]], type(one)


def test_a_one_channel_array_a_tensor_and_a_28x28_digit_on_light_paper_are_each_one_image(predictor, test_digits):
    # Found by a newcomer: a 400×400×1 array gave 400 answers, all blank; a 28×28 dark-on-light digit was
    # taken as MNIST-ready (white on black) and read as "not a digit" or a wrong digit.
    import torch
    x, y = test_digits
    img = paper_digit(x[0], np.random.default_rng(0)).convert("L")
    for one in (np.asarray(img)[..., None], torch.tensor(np.asarray(img)), np.asarray(img.resize((28, 28))),
                np.asarray(img.resize((28, 28))) / 255.0):
        assert [r.label for r in predictor.predict(one)] == [y[0]], (type(one), one.shape)
    assert predictor.predict([x[0]])[0].label == y[0]  # MNIST's own white on black is read as it is


@pytest.mark.parametrize("thing, message", [([[1, 2], [3]], "a list that is no array of numbers"),
                                            (object(), "a object is not an image"),
                                            ({"pixels": 1}, "a dict is not an image")])
def test_what_is_no_image_gets_one_clear_error_naming_what_to_give(predictor, thing, message):
    with pytest.raises(ImageError, match=message + ".*give a file path, bytes, a PIL image or a numpy array"):
        predictor.predict([thing])


def test_a_predictions_repr_is_a_line_not_its_28x28_pixels(predictor, test_digits):
    x, _ = test_digits
    text = repr(predictor.predict(x[0]))
    assert "preprocessed" not in text and text.count("\n") == 0 and len(text) < 400


@pytest.mark.parametrize("value, message", [(np.nan, "finite numbers"), (np.inf, "finite numbers"),
                                            (1e30, "in 0–1, 0–255, 0–16 or −1–1"), (-5.0, "in 0–1, 0–255, 0–16 or −1–1")])
@pytest.mark.parametrize("shape", [(28, 28), (30, 30)])
def test_an_array_of_no_image_values_is_refused_in_one_line_not_answered(predictor, value, message, shape):
    # (Arrays other than 28×28 had NaN read as 0, and values out of range clipped, with no word said.)
    arr = np.zeros(shape, np.float32)
    arr[5:20, 12:15] = value
    with pytest.raises(ImageError, match=message) as e:
        predictor.predict([arr])
    assert "\n" not in str(e.value)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, test_digits):
    """Good paper-like digits next to every kind of bad file."""
    x, y = test_digits
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(3)
    for k in range(3):
        paper_digit(x[k], rng).save(folder / f"good{k}.jpg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8)).save(buf, "PNG")
    (folder / "truncated.png").write_bytes(buf.getvalue()[:2000])
    bomb = io.BytesIO()
    Image.new("1", (30000, 30000)).save(bomb, "PNG")
    (folder / "bomb.png").write_bytes(bomb.getvalue())
    Image.new("L", (120, 120), 240).save(folder / "blank.png")
    (folder / "notes.txt").write_text("skipped: not an image extension")
    return folder, [int(v) for v in y[:3]]


def test_a_folder_with_good_and_bad_files_predicts_the_good_and_names_each_bad(trained_run, image_folder):
    folder, labels = image_folder
    r = run_cli("predict", folder, "--json", "--model", trained_run)
    assert r.returncode == 1  # some files failed
    out = {__import__("pathlib").Path(o["file"]).name: o for o in json.loads(r.stdout)}
    assert "notes.txt" not in out
    assert [out[f"good{k}.jpg"]["label"] for k in range(3)] == labels
    expected = {"empty.png": "empty file", "text.png": "not an image", "truncated.png": "truncated",
                "bomb.png": "too large"}
    for name, needle in expected.items():
        assert needle in out[name]["error"], out[name]
    assert out["blank.png"] == {"file": str(folder / "blank.png"), "label": None, "class_name": None, "reason": "blank"}
    assert "Traceback" not in r.stderr


def test_predict_cli_text_output_top_k_and_saved_preprocessed_images(trained_run, image_folder, tmp_path):
    folder, labels = image_folder
    r = run_cli("predict", folder / "good0.jpg", folder / "good1.jpg", "--top-k", "3",
                "--save-preprocessed", tmp_path, "--model", trained_run)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].split(": ")[1].startswith(f"{labels[0]} (") and lines[0].count("%") == 3
    saved = Image.open(tmp_path / "good0.png")
    assert saved.size == (28, 28)
    r = run_cli("predict", folder / "good0.jpg", "--top-k", "3", "--json", "--model", trained_run)
    [answer] = json.loads(r.stdout)
    assert [c for c, _ in answer["top_k"]][0] == str(labels[0])
    assert all(p == answer["probabilities"][int(c)] for c, p in answer["top_k"])  # rounded alike (they were not)


def test_a_named_file_that_is_not_an_image_fails_with_one_line(trained_run, image_folder):
    folder, _ = image_folder
    r = run_cli("predict", folder / "notes.txt", "--model", trained_run)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().count("\n") == 0 and "notes.txt: not an image" in r.stderr


def test_multi_reads_a_number_from_the_cli(trained_run, test_digits, tmp_path):
    x, y = test_digits
    paper_number([x[i] for i in range(4)], np.random.default_rng(4)).save(tmp_path / "n.png")
    r = run_cli("predict", tmp_path / "n.png", "--multi", "--json", "--model", trained_run)
    assert r.returncode == 0, r.stderr
    [reading] = json.loads(r.stdout)
    assert reading["number"] == "".join(map(str, y[:4])) and len(reading["digits"]) == 4


def test_a_number_read_as_one_digit_says_that_multi_reads_it_and_one_digit_does_not(trained_run, test_digits, tmp_path):
    x, y = test_digits
    paper_number([x[0], x[1]], np.random.default_rng(4)).save(tmp_path / "n.png")
    paper_digit(x[0], np.random.default_rng(4)).save(tmp_path / "d.png")
    r = run_cli("predict", tmp_path / "n.png", tmp_path / "d.png", "--model", trained_run)
    assert r.returncode == 0, r.stderr
    number, digit = r.stdout.splitlines()
    assert number.endswith("several digits side by side? --multi reads them as a number") and "side by side" not in digit
    json_out = run_cli("predict", tmp_path / "n.png", "--json", "--model", trained_run).stdout
    assert "side by side" not in json_out  # the JSON contract is unchanged


def test_digits_side_by_side_in_one_field_are_told_from_one_digit(test_digits):
    from lenet5.many import to_array
    from lenet5.preprocess import side_by_side
    x, _ = test_digits
    rng = np.random.default_rng(5)
    rows = [to_array(paper_number([x[i], x[i + 1]], rng)) for i in range(0, 200, 2)]
    assert sum(map(side_by_side, rows)) >= 90  # 2-digit numbers squeezed into one field
    assert sum(side_by_side(a / 255) for a in x[:2000]) <= 1  # MNIST's own digits: 0.01% of the test set


def test_dots_apart_are_not_told_as_digits_side_by_side():
    """(Any pieces apart across the field counted: dots and specks, 21 of our 600 non-digits, and a
    broken stroke of 18 of MNIST's test digits, were hinted to be several digits.)"""
    from lenet5.preprocess import side_by_side
    rng = np.random.default_rng(0)
    fields = []
    for _ in range(100):  # 3 to 8 dots of 2 px, apart, anywhere in the middle of the field
        field = np.zeros((28, 28), np.float32)
        for cell in rng.choice(25, int(rng.integers(3, 9)), replace=False):
            y, x = 4 + 4 * (cell // 5), 4 + 4 * (cell % 5)
            field[y:y + 2, x:x + 2] = 1
        fields.append(field)
    assert not any(map(side_by_side, fields))


def test_a_missing_model_is_a_usage_error(tmp_path):
    r = run_cli("predict", tmp_path, "--model", tmp_path / "nope")
    assert r.returncode == 2 and "no such run folder" in r.stderr


def test_a_run_folder_given_as_images_says_to_pass_it_as_model(trained_run):
    r = run_cli("predict", trained_run, "--json", "--model", trained_run)
    assert r.returncode == 1 and f"pass it as --model {trained_run}" in r.stderr


def test_saving_preprocessed_images_onto_a_file_is_refused_before_any_work(trained_run, image_folder, tmp_path):
    (tmp_path / "taken").write_text("keep me")
    r = run_cli("predict", image_folder[0] / "good0.jpg", "--save-preprocessed", tmp_path / "taken", "--model", trained_run)
    assert r.returncode == 2 and "is not a folder" in r.stderr and (tmp_path / "taken").read_text() == "keep me"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where no folder can be made")
def test_saving_preprocessed_images_where_no_folder_can_be_made_is_refused_before_any_answer(trained_run, image_folder,
                                                                                            tmp_path):
    r = run_cli("predict", image_folder[0] / "good0.jpg", "--save-preprocessed", "/proc/lenet5-here/x", "--model", trained_run)
    assert r.returncode == 2 and "cannot be made in /proc" in r.stderr and r.stdout == "", r.stdout + r.stderr
    r = run_cli("predict", image_folder[0] / "good0.jpg", "--save-preprocessed", tmp_path / "a" / "b", "--model", trained_run)
    assert r.returncode == 0 and len(list((tmp_path / "a" / "b").iterdir())) == 1  # (made, taken away, made again)


def test_same_named_inputs_keep_one_preprocessed_image_each(trained_run, image_folder, tmp_path):
    folder = image_folder[0]
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "good0.jpg").write_bytes((folder / "good1.jpg").read_bytes())
    r = run_cli("predict", folder / "good0.jpg", twin / "good0.jpg", "--save-preprocessed", tmp_path / "seen",
                "--model", trained_run)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "seen").iterdir()) == ["good0-2.png", "good0.png"]


def test_a_large_folder_is_read_in_parallel_with_the_same_answers_in_order(predictor, test_digits, tmp_path):
    from lenet5.many import POOL_MIN_FILES
    from lenet5.predict import predict_files
    x, _ = test_digits
    n = POOL_MIN_FILES + 6
    for k in range(n):  # dark ink on white, 28 to 140 px: small files as a scanner folder holds them
        side = 28 + 4 * k
        Image.fromarray(255 - x[k]).resize((side, side)).save(tmp_path / f"{k:03d}.png")
    results = predict_files(predictor, [tmp_path])
    one_by_one = [predictor.predict_one(tmp_path / f"{k:03d}.png") for k in range(n)]
    assert [r.source for r in results] == [str(tmp_path / f"{k:03d}.png") for k in range(n)]
    assert [r.label for r in results] == [r.label for r in one_by_one]
    assert np.allclose([r.probabilities for r in results], [r.probabilities for r in one_by_one], atol=1e-5)


def within(seconds: float, work):
    """work(), failing the test if it has not returned in `seconds` (on a thread: a hang stays there)."""
    import threading
    done = []
    thread = threading.Thread(target=lambda: done.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"still waiting after {seconds} s"
    return done[0]


def _dies_on_poison(image):
    """`to_array`, except that its process is killed, as the out-of-memory killer would, by an image
    named *poison*."""
    import signal
    if "poison" in os.path.basename(image):
        os.kill(os.getpid(), signal.SIGKILL)
    return to_array(image)


def test_an_image_whose_worker_process_dies_is_named_and_the_rest_of_the_folder_is_read(tmp_path, monkeypatch):
    """(A worker that died took its images with it: the folder waited for them for ever.)"""
    from lenet5 import many
    monkeypatch.setattr(many, "to_array", _dies_on_poison)  # the forked workers inherit it
    n = 3 * many.POOL_CHUNK + 10
    names = [f"{k:03d}{'poison' if k == many.POOL_CHUNK + 5 else ''}.png" for k in range(n)]
    for k, name in enumerate(names):
        im = np.zeros((56, 56), np.uint8)
        im[10 + k % 10:40 + k % 10, 25:31] = 255
        Image.fromarray(im).save(tmp_path / name)
    files = [tmp_path / name for name in names]
    results = within(120, lambda: list(many.preprocess_many(files)))
    errors = {k: error for k, (_, error) in enumerate(results) if error}
    assert list(errors) == [many.POOL_CHUNK + 5], errors
    assert errors[many.POOL_CHUNK + 5].startswith(f"{files[many.POOL_CHUNK + 5]}: the process reading it alone "
                                                  f"was killed by SIGKILL"), errors
    alone = [to_array(f) for f in files]
    assert all(np.array_equal(a, b) for k, ((a, _), b) in enumerate(zip(results, alone)) if k not in errors)


def test_broken_links_and_fifos_are_named_not_skipped_in_a_folder_or_alone(trained_run, test_digits, tmp_path):
    import os
    x, y = test_digits
    paper_digit(x[0], np.random.default_rng(0)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").symlink_to(tmp_path / "gone.png")
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop2.png")
    (tmp_path / "loop2.png").symlink_to(tmp_path / "loop.png")
    r = run_cli("predict", tmp_path, tmp_path / "broken.png", "--json", "--model", trained_run, timeout=60)
    assert r.returncode == 1  # some files could not be read
    out = json.loads(r.stdout)
    by_name = {__import__("pathlib").Path(o["file"]).name: o for o in out[:-1]}
    assert by_name["good.png"]["label"] == y[0]
    assert "not a regular file" in by_name["pipe.png"]["error"]
    for broken in (by_name["broken.png"], out[-1]):  # in the folder, and named alone (it said "no such file")
        assert f"a broken link (it points to {tmp_path / 'gone.png'}, which does not exist)" in broken["error"]
    # (it was called a link to a file that does not exist: loop2.png, which does)
    assert f"a loop of links (it points to {tmp_path / 'loop2.png'}, which leads back to it)" in by_name["loop.png"]["error"]
    assert "Traceback" not in r.stderr


def test_an_empty_path_is_refused_not_read_as_the_current_folder(trained_run, image_folder):
    folder, _ = image_folder
    r = run_cli("predict", "", "--json", "--model", trained_run, cwd=folder)  # the folder holds images
    assert r.returncode == 1 and json.loads(r.stdout) == [{"file": "", "error": "an empty path was given: name an "
                                                           "image file or a folder"}], r.stdout


def test_subfolders_and_unnamed_files_of_a_folder_are_named_as_not_read_not_skipped_in_silence(trained_run,
                                                                                              test_digits, tmp_path):
    x, y = test_digits
    paper_digit(x[0], np.random.default_rng(0)).save(tmp_path / "top.png")
    (tmp_path / "2024").mkdir()
    (tmp_path / ".thumbnails").mkdir()  # hidden: not worth a note
    (tmp_path / ".DS_Store").write_bytes(b"x")
    paper_digit(x[1], np.random.default_rng(1)).save(tmp_path / "2024" / "inner.png")
    paper_digit(x[2], np.random.default_rng(2)).save(tmp_path / "scan", format="PNG")  # an image without .png
    r = run_cli("predict", tmp_path, tmp_path, "--json", "--model", trained_run)  # named twice, noted once
    assert r.returncode == 0 and [o["file"] for o in json.loads(r.stdout)] == [str(tmp_path / "top.png")] * 2
    assert r.stderr == (f"lenet5: note: {tmp_path}: its 1 subfolder(s) (2024) are not read; name them to read "
                        f"their images\nlenet5: note: {tmp_path}: 1 file(s) without an image extension (scan) are "
                        f"not read; name them to read them\n")
    r = run_cli("predict", tmp_path / "scan", "--json", "--model", trained_run)  # named: read by its content
    assert r.returncode == 0 and json.loads(r.stdout)[0]["label"] == y[2]


def test_the_onnx_backend_reads_a_checkpoint_file_by_exporting_it_in_memory(test_digits, tmp_path):
    x, y = test_digits
    paper_digit(x[1], np.random.default_rng(0)).save(tmp_path / "two.png")
    p = lenet5.load(backend="onnx")  # the bundled .pt: there is no run folder to export from
    assert p.runtime == "onnx" and p.predict_one(tmp_path / "two.png").label == y[1]
    r = run_cli("predict", tmp_path / "two.png", "--backend", "onnx", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["label"] == y[1], r.stdout + r.stderr


def test_reading_a_large_folder_leaves_the_callers_predictor_as_it_was(predictor, test_digits, tmp_path, monkeypatch):
    import lenet5.predict as predict_mod
    x, _ = test_digits
    for k in range(3):
        Image.fromarray(255 - x[k]).save(tmp_path / f"{k}.png")
    monkeypatch.setattr(predict_mod, "ONNX_RUNTIME_FROM", 3)  # a "large" folder, read through ONNX Runtime
    used, classify_batch = [], predict_mod._classify_batch
    monkeypatch.setattr(predict_mod, "_classify_batch", lambda p, batch: used.append(p.runtime) or classify_batch(p, batch))
    assert predictor.runtime == "torch"
    predict_mod.predict_files(predictor, [tmp_path])
    assert "onnx" in used and predictor.runtime == "torch"
