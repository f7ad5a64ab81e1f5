import pytest

from lenet5.evaluate import evaluate_run
from lenet5.errors import UserError
from lenet5.run import RunFolder


def test_evaluate_reproduces_the_accuracy_and_loss_training_logged(trained_run, data_dir):
    logged = RunFolder(trained_run).read_metrics_csv()[-1]
    r = evaluate_run(trained_run, data_dir)
    assert r["accuracy"] == pytest.approx(logged["test_acc"], abs=1e-9)
    assert r["loss"] == pytest.approx(logged["test_loss"], abs=1e-5)
    assert sum(map(sum, r["confusion_matrix"])) == 10000
    assert [sum(row) for row in r["confusion_matrix"]] == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    per_class = [row[i] / sum(row) for i, row in enumerate(r["confusion_matrix"])]
    assert r["per_class_accuracy"] == pytest.approx(per_class)


def test_evaluating_a_folder_without_a_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    with pytest.raises(UserError, match=r"is not a run folder \(no config.json, no checkpoints/ in it\)"):
        evaluate_run(tmp_path)  # (it said "no finished epoch yet; resume it", and resuming failed)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match="no finished epoch yet"):
        evaluate_run(tmp_path)
    with pytest.raises(UserError, match="no such run folder"):
        evaluate_run(tmp_path / "missing")


def test_a_corrupt_or_foreign_checkpoint_is_refused_not_unpickled_and_named_as_such(trained_run, tmp_path):
    import pickle
    import torch
    evil, text, smuggled = tmp_path / "evil.pt", tmp_path / "notes.pt", tmp_path / "smuggled.pt"
    evil.write_bytes(pickle.dumps({"format_version": 1, "x": print}))
    text.write_text("hello\n")
    torch.save({"format_version": 1, "x": print}, smuggled)  # a real torch file, with code in it
    for path in (evil, text):
        with pytest.raises(UserError, match=r"not a PyTorch checkpoint \(torch.save writes a zip archive"):
            evaluate_run(path)
    with pytest.raises(UserError, match=r"a damaged PyTorch file, or one that holds more than weights \(Unpickling"):
        evaluate_run(smuggled)
