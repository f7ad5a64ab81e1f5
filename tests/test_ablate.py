import csv

import pytest

from conftest import run_cli
from lenet5.ablate import VARIANTS, ablate, stalled, time_to
from lenet5.errors import UserError
from lenet5.run import RunFolder

QUICK = {"epochs": 1, "subset": 2048}


@pytest.fixture(scope="module")
def quick_ablation(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("ablation")
    summary = ablate(list(VARIANTS), seeds=1, out=out, data_dir=data_dir, jobs=2, log=None, **QUICK)
    return out, summary


def test_every_variant_builds_and_trains(quick_ablation):
    out, summary = quick_ablation
    assert [r["variant"] for r in summary] == list(VARIANTS)
    for v in VARIANTS:
        rows = RunFolder(out / f"{v}-s0").read_metrics_csv()
        assert len(rows) == 1 and rows[0]["train_loss"] > 0
    assert (out / "ablation.png").stat().st_size > 20_000


def test_the_table_numbers_equal_those_in_the_runs_metrics(quick_ablation):
    out, summary = quick_ablation
    with open(out / "ablation.csv") as fh:
        table = {r["variant"]: r for r in csv.DictReader(fh)}
    text = (out / "ablation.md").read_text()
    for v in VARIANTS:
        final = RunFolder(out / f"{v}-s0").read_metrics_csv()[-1]["test_acc"]
        assert float(table[v]["final_acc_mean"]) == pytest.approx(final, abs=1e-6)
        assert f"| {v}-s0 | {100 * final:.2f} |" in text


def test_a_resumed_ablation_does_not_rerun_finished_runs(quick_ablation, data_dir):
    out, _ = quick_ablation
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.csv")}
    lines = []
    ablate(["classic", "relu"], seeds=1, out=out, data_dir=data_dir, log=lines.append, **QUICK)
    assert lines[0].startswith("2 runs: 2 already finished, 0 to run")
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.csv")} == before


def test_an_interrupted_run_is_resumed_and_a_foreign_one_refused(data_dir, tmp_path):
    from lenet5.ablate import variant_config
    from lenet5.train import train

    def stop(line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(variant_config("relu", 0, 2, 2048), tmp_path / "relu-s0", data_dir=data_dir, log=stop)
    lines = []
    ablate(["relu"], seeds=1, out=tmp_path, data_dir=data_dir, epochs=2, subset=2048, log=lines.append)
    assert "1 to run" in lines[0] and len(RunFolder(tmp_path / "relu-s0").read_metrics_csv()) == 2
    with pytest.raises(UserError, match="other settings"):
        ablate(["relu"], seeds=1, out=tmp_path, data_dir=data_dir, epochs=3, subset=1024, log=None)


def test_time_to_target_and_stall_detection():
    rows = [{"epoch": e, "test_acc": a, "seconds": 2.0} for e, a in enumerate([0.5, 0.98, 0.9886, 0.991])]
    assert time_to(rows, 0.9885) == (3, 6.0) and time_to(rows, 0.995) is None
    assert stalled([{"test_acc": 0.1135}]) and not stalled(rows)


def test_ablate_cli_rejects_an_unknown_variant():
    r = run_cli("ablate", "--variants", "classic,resnet")
    assert r.returncode == 2 and "unknown variant 'resnet'" in r.stderr


def test_the_cli_help_lists_exactly_the_known_variants():
    r = run_cli("ablate", "--help")
    listed = r.stdout.split("default: all):")[1].split("\n  --")[0]
    assert [v.strip() for v in " ".join(listed.split()).split(",")] == list(VARIANTS)
