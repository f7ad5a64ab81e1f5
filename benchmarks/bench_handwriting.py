"""Every model side by side on handwriting it never trained on (lenet5.evalsets) and on non-digits:

- MNIST test: accuracy (the 10,000 arrays through `classify`; a refusal counts as wrong) and refusals;
- each digit set (sklearn-digits, pen-digits, paper-photos): accuracy through `predict` (raw images,
  lenet5's preprocessing; a refusal counts as wrong) and the share refused;
- non-digits: the share refused ("not a digit" or blank), overall and per category;
- speed: digit-set images per second through `predict` (preprocessing included), one process.

    python benchmarks/bench_handwriting.py [MODEL ...] --data-dir ../shared/data [--out runs/bench-handwriting]

MODEL: a run folder, a .pt checkpoint or a .onnx file. Default: runs/classic-mnist-s0,
runs/modern-mnist-s0 and runs/best-mnist-s0 where they exist, and the bundled model. Writes
per-image results (results.csv) and the table's numbers (summary.json) to --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from lenet5 import data, evalsets
from lenet5.errors import run_script
from lenet5.predict import bundled_model, load

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RUNS = ("classic-mnist-s0", "modern-mnist-s0", "best-mnist-s0")
CHUNK = 128  # images per `predict` call


def default_models() -> tuple[list[str], list[str]]:
    """(models, notes): the preset runs that exist, then the bundled model if its file is there."""
    models = [str(ROOT / "runs" / r) for r in DEFAULT_RUNS if (ROOT / "runs" / r).is_dir()]
    notes = [f"skipped runs/{r}: not found" for r in DEFAULT_RUNS if not (ROOT / "runs" / r).is_dir()]
    if bundled_model().is_file():
        models.append("bundled")
    else:
        notes.append(f"skipped the bundled model: {bundled_model()} does not exist yet")
    return models, notes


def model_name(m: str) -> str:
    return "bundled" if m == "bundled" else Path(m).stem if m.endswith((".pt", ".onnx")) else Path(m).name


def build_sets(seed: int, data_dir: str | None) -> dict[str, tuple[list, np.ndarray, float]]:
    """Every set of evalsets.SETS, built once (in memory only): name -> (images, labels, seconds)."""
    out = {}
    for name, s in evalsets.SETS.items():
        t0 = time.perf_counter()
        images, labels = s.build(seed=seed, data_dir=data_dir)
        out[name] = (images, labels, time.perf_counter() - t0)
    return out


def predict_all(p, images: list, progress) -> tuple[list, float]:
    """Predictions for all images through `predict`, in chunks, and the seconds it took."""
    results, t0 = [], time.perf_counter()
    for i in range(0, len(images), CHUNK):
        results += p.predict(images[i:i + CHUNK])
        progress.update(len(images[i:i + CHUNK]))
    return results, time.perf_counter() - t0


def evaluate(p, sets, mnist, progress) -> tuple[dict, list[dict]]:
    """One model: its summary numbers and its per-image rows."""
    summary, rows = {}, []
    x, y = mnist
    res = p.classify([(a, "") for a in x.astype(np.float32) / 255])
    summary["mnist-test"] = _digit_summary(res, y)
    rows += _rows("mnist-test", res, y)
    progress.update(len(y))
    digit_n, digit_s = 0, 0.0
    for name, (images, labels, _) in sets.items():
        res, seconds = predict_all(p, images, progress)
        rows += _rows(name, res, labels)
        if evalsets.SETS[name].kind == "digits":
            summary[name] = _digit_summary(res, labels)
            digit_n, digit_s = digit_n + len(images), digit_s + seconds
        else:
            refused = np.array([r.label is None for r in res])
            summary[name] = {"n": len(res), "refused": float(refused.mean()),
                             "per_category": {c: float(refused[labels == c].mean()) for c in dict.fromkeys(labels)}}
    summary["images_per_s"] = digit_n / max(digit_s, 1e-9)
    return summary, rows


def _digit_summary(res, labels) -> dict:
    pred = np.array([-1 if r.label is None else r.label for r in res])
    return {"n": len(res), "accuracy": float(np.mean(pred == labels)), "refused": float(np.mean(pred == -1))}


def _rows(set_name, res, labels) -> list[dict]:
    return [{"set": set_name, "index": i, "truth": str(t), "label": "" if r.label is None else r.label,
             "reason": r.reason or "", "confidence": "" if r.probabilities is None else round(max(r.probabilities), 4),
             "not_digit": "" if r.not_digit is None else round(r.not_digit, 4)}
            for i, (r, t) in enumerate(zip(res, labels))]


def table(summaries: dict[str, dict], sets) -> str:
    names = list(summaries)
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def row(label, get):
        lines.append(f"| {label} | " + " | ".join(get(summaries[n]) for n in names) + " |")

    pct = "{:.1%}".format
    row("MNIST test accuracy (10,000)", lambda s: pct(s["mnist-test"]["accuracy"]))
    row("MNIST test refused", lambda s: pct(s["mnist-test"]["refused"]))
    for name, (images, labels, _) in sets.items():
        if evalsets.SETS[name].kind == "digits":
            row(f"{name} accuracy ({len(images):,})", lambda s, k=name: pct(s[k]["accuracy"]))
            row(f"{name} refused", lambda s, k=name: pct(s[k]["refused"]))
    for name, (images, labels, _) in sets.items():
        if evalsets.SETS[name].kind != "digits":
            row(f"**{name} refused** ({len(images):,})", lambda s, k=name: f"**{pct(s[k]['refused'])}**")
            for c in dict.fromkeys(labels):
                row(f"  {c} refused ({int(np.sum(labels == c))})", lambda s, k=name, c=c: pct(s[k]["per_category"][c]))
    row("speed, digit sets via predict (images/s)", lambda s: f"{s['images_per_s']:,.0f}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="run folders, .pt or .onnx files (default: the preset runs and the bundled model)")
    ap.add_argument("--data-dir", help="folder with the MNIST and Fashion-MNIST files")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-handwriting"), help="folder for results.csv and summary.json")
    ap.add_argument("--seed", type=int, default=0, help="seed of the generated sets")
    a = ap.parse_args()
    print("$ python " + shlex.join(sys.argv) + "\n", flush=True)
    models, notes = (a.models, []) if a.models else default_models()
    for n in notes:
        print(f"note: {n}")
    if not models:
        print("no models to measure: train one (`lenet5 train --preset modern`) or name a run folder")
        return 1

    sets = build_sets(a.seed, a.data_dir)
    for name, (images, labels, seconds) in sets.items():
        print(f"built {name}: {len(images):,} images in {seconds:.1f} s ({evalsets.SETS[name].about})")
    mnist = data.load_arrays("mnist", "test", a.data_dir)

    from tqdm import tqdm
    total = len(models) * (len(mnist[1]) + sum(len(s[0]) for s in sets.values()))
    summaries, all_rows = {}, []
    with tqdm(total=total, unit="img", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
        for m in models:
            p = load(None if m == "bundled" else m)
            name = model_name(m)
            reject = "with not-a-digit output" if p.reject else "no not-a-digit output"
            summaries[name], rows = evaluate(p, sets, mnist, bar)
            summaries[name]["model"] = {"path": str(bundled_model()) if m == "bundled" else m,
                                        "preset": p.info.get("preset") or p.info.get("config", {}).get("preset"),
                                        "reject": reject}
            all_rows += [{"model": name, **r} for r in rows]

    print()
    for name, s in summaries.items():
        print(f"- {name}: {s['model']['path']} (preset {s['model']['preset']}, {s['model']['reject']})")
    print()
    print(table(summaries, sets))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(all_rows[0]))
        w.writeheader()
        w.writerows(all_rows)
    summary = {"command": "python " + shlex.join(sys.argv), "seed": a.seed,
               "sets": {k: {"n": len(v[0]), "about": evalsets.SETS[k].about} for k, v in sets.items()},
               "models": summaries}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nper-image results: {out / 'results.csv'}; summary: {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    run_script(main)
