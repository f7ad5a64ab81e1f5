import json

import numpy as np
from PIL import Image
import pytest
import torch

import lenet5
from conftest import run_cli, shadowing
from lenet5 import data
from lenet5.errors import UserError
from lenet5.export import PARITY_TOLERANCE, export, parity, parity_allowance
from lenet5.checkpoint import load, load_model, save
from lenet5.run import RunFolder


def test_onnx_export_matches_pytorch_on_the_test_set_with_a_dynamic_batch(trained_run, data_dir, tmp_path):
    path, diff = export(trained_run, "onnx", tmp_path / "m.onnx", data_dir)
    assert diff <= PARITY_TOLERANCE
    model, _ = load_model(trained_run)
    assert parity(model, path, "onnx", "mnist", data_dir)[0] == diff
    p = lenet5.load(path)
    x = data.load("mnist", "test", data_dir).images[:7, 0].numpy()
    assert p.backend == "onnx" and p.logits(x).shape == (7, 10) and p.classes[3] == "3"
    assert p.info["preset"] == "modern"
    with pytest.raises(UserError, match="feature maps need the torch backend"):
        p.feature_maps(x[0])  # (an ONNX file holds no layers to look into)


def test_onnx_runtime_answers_what_torch_answers_and_torch_still_draws_the_feature_maps(trained_run, data_dir):
    torch_only, fast = lenet5.load(trained_run), lenet5.load(trained_run)
    assert fast.use_onnx_runtime() and fast.backend == "torch"
    x = data.load("mnist", "test", data_dir).images[:300, 0].numpy()
    expected = torch_only.logits(x)
    assert np.abs(fast.logits(x) - expected).max() <= PARITY_TOLERANCE
    assert [r.label for r in fast.predict(list(x[:20]))] == [r.label for r in torch_only.predict(list(x[:20]))]
    maps = fast.feature_maps(x[0])
    assert maps["conv1"].shape == (6, 14, 14) and np.array_equal(maps["conv2"], torch_only.feature_maps(x[0])["conv2"])


def test_the_parity_allowance_is_2e5_until_float32_itself_is_coarser():
    allowed = parity_allowance(np.array([[0.5, -3.0], [-12.0, 2.0], [100.0, 0.1]], np.float32))
    assert allowed.shape == (3, 1) and allowed[0, 0] == allowed[1, 0] == PARITY_TOLERANCE
    assert allowed[2, 0] == 8 * np.spacing(np.float32(100.0)) > 2 * PARITY_TOLERANCE


LOGIT_SCALE = 8  # the 3-epoch test model's logits reach ~20: scaled, past 128, where 8 float32 steps are 1.2e-4


def test_a_model_with_large_logits_still_exports(trained_run, data_dir, tmp_path):
    # Where logits are large, float32 itself is coarse: a fully trained `modern` model's reach 47, where
    # PyTorch is 1.5e-5 from exact (a flat 1e-5 bound refused to export it). Scaling the classifier
    # makes logits past 128 from the short test run, where PyTorch and onnxruntime differ by more than
    # the flat 2e-5 and only the float32-steps rule lets the export through.
    state = load(trained_run)
    for weights in (state["model"], state["ema"]):
        weights["clf.weight"] *= LOGIT_SCALE
        weights["clf.bias"] *= LOGIT_SCALE
    save(state, RunFolder(tmp_path / "big").checkpoint("last"))
    model, _ = load_model(tmp_path / "big")
    assert model(data.load("mnist", "test", data_dir).images[:500]).abs().max() > 128
    path, diff = export(tmp_path / "big", "onnx", tmp_path / "big.onnx", data_dir)
    assert path.is_file() and diff > PARITY_TOLERANCE
    assert parity(model, path, "onnx", "mnist", data_dir)[1] <= 1


def test_torchscript_export_loads_and_matches(trained_run, data_dir, tmp_path):
    path, diff = export(trained_run, "torchscript", tmp_path / "m.pt", data_dir)
    assert diff <= PARITY_TOLERANCE
    extra = {"lenet5.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["lenet5.json"])["classes"][0] == "0"
    assert loaded(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    import warnings
    with warnings.catch_warnings(record=True) as seen, \
            pytest.raises(UserError, match=r"a TorchScript file .*not read back by lenet5; give the run folder"):
        warnings.simplefilter("always")
        lenet5.load(path)  # (it said "a damaged PyTorch file", after torch's own warning)
    assert not seen, [str(w.message) for w in seen]


def test_export_cli_then_predict_with_the_onnx_backend_agrees_with_torch(trained_run, tmp_path):
    r = run_cli("export", trained_run, "--format", "onnx")
    assert r.returncode == 0 and "max |logit difference|" in r.stdout, r.stderr
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    Image.fromarray(digit).save(tmp_path / "one.png")
    a = json.loads(run_cli("predict", tmp_path / "one.png", "--json", "--model", trained_run).stdout)
    b = json.loads(run_cli("predict", tmp_path / "one.png", "--json", "--backend", "onnx", "--model", trained_run).stdout)
    assert a[0]["label"] == b[0]["label"] == 1
    assert np.allclose(a[0]["probabilities"], b[0]["probabilities"], atol=1e-5)


def test_bad_export_requests_are_clear_errors(trained_run, tmp_path):
    with pytest.raises(UserError, match="unknown format"):
        export(trained_run, "tflite")
    (tmp_path / "fake.onnx").write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a loadable ONNX model"):
        lenet5.load(tmp_path / "fake.onnx")
    r = run_cli("export", tmp_path / "norun")
    assert r.returncode == 2 and "no such run folder" in r.stderr
    r = run_cli("evaluate", tmp_path / "fake.onnx")  # (it called a good ONNX file damaged)
    assert r.returncode == 2 and "an ONNX file, which `lenet5 predict` and `lenet5 serve` read" in r.stderr, r.stderr


@pytest.mark.parametrize("missing", ["onnx", "onnxruntime"])
def test_onnx_export_without_the_export_extra_says_how_to_add_it_and_writes_nothing(trained_run, tmp_path, missing):
    """(Installed without the `export` extra, `lenet5 export --format onnx` imported onnx before the
    check that says how to add it: a ModuleNotFoundError traceback, exit 1.)"""
    not_installed = shadowing(tmp_path / "shadow", missing,
                              f'raise ModuleNotFoundError("No module named {missing!r}", name={missing!r})')
    out = tmp_path / "m.onnx"
    r = run_cli("export", trained_run, "--format", "onnx", "--out", out, env_extra=not_installed)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "pip install '.[export]'" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shadow"]


def test_a_model_whose_weights_hold_nan_is_refused_in_one_line_not_read_as_zeros(trained_run, tmp_path):
    state = load(trained_run)
    for weights in (state["model"], state["ema"]):
        weights["clf.bias"][0] = float("nan")  # (it answered 0 for every image, and --json printed NaN)
    save(state, RunFolder(tmp_path / "nan").checkpoint("last"))
    with pytest.raises(UserError, match="answers NaN or infinity"):
        lenet5.load(tmp_path / "nan")
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tmp_path / "one.png")
    r = run_cli("predict", tmp_path / "one.png", "--model", tmp_path / "nan")
    assert r.returncode == 2 and "NaN" in r.stderr and "Traceback" not in r.stderr


def test_an_onnx_file_lenet5_cannot_run_is_one_line_not_a_traceback(trained_run, data_dir, tmp_path):
    import onnx
    path, _ = export(trained_run, "onnx", tmp_path / "m.onnx", data_dir)
    renamed, fixed = onnx.load(str(path)), onnx.load(str(path))
    renamed.graph.input[0].name = "input"  # (nothing feeds it now: onnxruntime raised ValueError)
    for node in renamed.graph.node:
        node.input[:] = ["input" if i == "image" else i for i in node.input]
    fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1  # (one image at a time only)
    onnx.save(renamed, str(tmp_path / "renamed.onnx"))
    onnx.save(fixed, str(tmp_path / "fixed.onnx"))
    for name in ("renamed.onnx", "fixed.onnx"):
        with pytest.raises(UserError, match="not a model lenet5 can run"):
            lenet5.load(tmp_path / name)


def test_make_weights_export_chain_records_the_onnx_twin_that_predict_then_reads(trained_run, data_dir, tmp_path):
    """`make weights`: `export RUN --format pt`, then that .pt `--format onnx` beside it."""
    from lenet5.files import file_sha256
    from lenet5.predict import _onnx_form
    pt, _ = export(trained_run, "pt", tmp_path / "m.pt", data_dir)
    assert _onnx_form(pt, bundled=True) is None  # (no twin yet)
    onnx_file, _ = export(pt, "onnx", tmp_path / "m.onnx", data_dir)
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["onnx"] == {"file": "m.onnx", "sha256": file_sha256(onnx_file)}
    assert _onnx_form(pt, bundled=True) == onnx_file
    export(trained_run, "pt", pt, data_dir)  # the .pt made again (its record anew): the twin is stale
    assert _onnx_form(pt, bundled=True) is None
