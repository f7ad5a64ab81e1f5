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


def test_a_chinese_report_has_the_lab_reports_parts_and_this_runs_numbers(trained_run, data_dir, tmp_path):
    md, page = write_report(trained_run, data_dir, tmp_path, lang="zh")
    assert (md.name, page.name) == ("report.zh.md", "report.zh.html")
    text = md.read_text()
    parts = ["一、实验目的", "二、实验原理", "三、实验步骤", "四、实验结果与分析", "五、总结与展望"]
    assert [text.index(f"## {p}") for p in parts] == sorted(text.index(f"## {p}") for p in parts)
    for term in ("卷积层", "池化层", "激活函数", "学习率", "准确率", "损失"):
        assert term in text, term
    rows = RunFolder(trained_run).read_metrics_csv()
    assert f"最终测试集准确率 {100 * rows[-1]['test_acc']:.2f}%" in text
    for r in rows:
        assert f"| {r['epoch']} | {r['test_loss']:.4f} | {100 * r['test_acc']:.2f}% |" in text
    for img in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert img.startswith("figures.zh/") and (tmp_path / img).is_file()
    html = page.read_text()
    assert '<html lang="zh-CN">' in html and html.count("data:image/png;base64,") == 5
    assert not (tmp_path / "report.md").exists()  # the English report's names are left alone


def test_every_language_has_every_string_with_the_same_placeholders():
    from string import Formatter
    from lenet5.i18n import STRINGS
    fields = lambda s: sorted(f for _, f, _, _ in Formatter().parse(s) if f)
    en = STRINGS["en"]
    for lang, table in STRINGS.items():
        assert set(table) == set(en), (lang, set(table) ^ set(en))
        for key, s in table.items():
            assert fields(s) == fields(en[key]), (lang, key)


def test_an_unknown_report_language_is_a_one_line_error(trained_run):
    r = run_cli("report", trained_run, "--lang", "fr")
    assert r.returncode == 2 and "invalid choice: 'fr'" in r.stderr and r.stderr.count("\n") == 1
