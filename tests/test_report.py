import re


from conftest import run_cli
from lenet5.config import resolve
from lenet5.report import write_report
from lenet5.run import RunFolder
from lenet5.train import train


def test_report_numbers_equal_those_in_metrics_csv(trained_run, data_dir, tmp_path):
    md, page = write_report(trained_run, data_dir, tmp_path)
    text = md.read_text()
    rows = RunFolder(trained_run).read_metrics_csv()
    for r in rows:
        line = f"| {r['epoch']} | {r['test_loss']:.4f} | {100 * r['test_acc']:.2f}% | {r['train_loss']:.4f} |"
        assert line in text
    assert f"Final test accuracy {100 * rows[-1]['test_acc']:.2f}%" in text
    for img in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (tmp_path / img).is_file()
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 5 and "<table>" in html


def test_a_classic_mnist_report_compares_with_the_lab_report(data_dir, tmp_path):
    run = tmp_path / "classic"
    train(resolve("classic", {"train": {"epochs": 1}, "data": {"train_subset": 5000}}), run,
          data_dir=data_dir, log=None)
    md, _ = write_report(run, data_dir)
    text = md.read_text()
    assert "This run vs the lab report" in text and "| 0 | 1.4298 | 44.60% |" in text and "not run" in text
    assert "61,706 parameters" in text


def test_train_writes_the_report_unless_told_not_to(tmp_path):
    out = tmp_path / "fashion"
    r = run_cli("train", "--preset", "modern", "--dataset", "fashion-mnist", "--epochs", "1", "--subset", "5000",
                "--out", out)
    assert r.returncode == 0, r.stderr
    text = (out / "report.md").read_text()
    from lenet5.data import get_spec
    weakest = re.search(r"the weakest class is (.+?) \(", text).group(1)
    assert "fashion-mnist" in text and weakest in get_spec("fashion-mnist").classes
    assert (out / "report.html").is_file() and (out / "figures" / "mistakes.png").is_file()
