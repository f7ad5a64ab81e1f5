"""How to say "not a digit": candidate scores side by side, and the trade-off figure in README.

    python benchmarks/bench_refusal.py --data-dir ../shared/data [--best runs/best-mnist-s0] [--out docs/images]

Candidates (from the out-of-distribution literature):
- max-softmax (Hendrycks & Gimpel 2017): refuse when the top digit probability is low;
- energy (Liu et al. 2020): refuse when logsumexp of the digit logits is low;
- not-a-digit output (an explicit reject class trained on generated negatives): refuse when its
  probability is high — what `robust`, the bundled model, uses.
The first two are measured on `best` (a plain 10-class model) and on `robust`; the third on `robust`.
Every image of the evaluation sets (lenet5.evalsets: none made by the training generators) is
preprocessed once, then scored by each candidate. The curve sweeps each score's threshold: x is the
share of real, non-MNIST digits refused (every digit set of lenet5.evalsets), y the
share of non-digits refused. The table compares them where each refuses 1% of MNIST test digits,
and gives the bundled model at its own calibrated threshold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import lenet5  # noqa: E402
from lenet5 import data, evalsets  # noqa: E402
from lenet5.errors import run_script  # noqa: E402
from lenet5.predict import predict_arrays  # noqa: E402

MNIST_REFUSAL = 0.01  # the table's operating point: each candidate refuses this share of MNIST test digits
UNSURE_FLOORS = (0.3, 0.4)  # the shipped refusal, and also where the surest digit is under this


def scores(predictor, arrays: np.ndarray) -> dict[str, np.ndarray]:
    """Higher = more likely not a digit, for each candidate this model supports. Probabilities come as the
    predictor answers (averaged over its views, lenet5.views, where the model names them); energy needs
    one set of logits, so it reads each image once."""
    z = predictor.logits(arrays).astype(np.float64)[:, :10]
    probs = predictor.probabilities(arrays).astype(np.float64)
    digits = probs[:, :10] / probs[:, :10].sum(1, keepdims=True)
    out = {"max-softmax": 1 - digits.max(1), "energy": -np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) - z.max(1)}
    if predictor.reject is not None:
        out["not-a-digit output"] = probs[:, -1]
    return out


def refused_share(score: np.ndarray, threshold: float) -> float:
    return float((score >= threshold).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--best", default="runs/best-mnist-s0", help="a 10-class run to score with max-softmax and energy")
    ap.add_argument("--robust", default=None, help="a model with the not-a-digit output (default: the bundled one)")
    ap.add_argument("--out", default="docs/images")
    a = ap.parse_args()
    print(f"command: python benchmarks/bench_refusal.py {' '.join(sys.argv[1:])}")

    mnist = data.load("mnist", "test", a.data_dir).images[:, 0].numpy()
    real, nondigit = [], None
    for name, s in evalsets.SETS.items():
        images, _ = s.build(seed=0, data_dir=a.data_dir)
        arrays = predict_arrays(images)
        if s.kind == "digits":
            real.append(arrays)
        elif name == "non-digits":  # the 600 of eight kinds (the doodles are bench_handwriting's)
            nondigit = arrays
    real = np.concatenate(real)
    models = {"best": lenet5.load(a.best), "robust": lenet5.load(a.robust)}
    rows, curves = [], {}
    for mname, predictor in models.items():
        by_set = {k: scores(predictor, v) for k, v in (("mnist", mnist), ("real", real), ("non", nondigit))}
        for method in by_set["mnist"]:
            s = {k: v[method] for k, v in by_set.items()}
            t = np.quantile(s["mnist"], 1 - MNIST_REFUSAL)
            rows.append((f"{mname}: {method}", refused_share(s["mnist"], t), refused_share(s["real"], t),
                         refused_share(s["non"], t)))
            grid = np.unique(np.quantile(np.concatenate([s["real"], s["non"]]), np.linspace(0, 1, 400)))
            curves[f"{mname}: {method}"] = ([refused_share(s["real"], g) for g in grid],
                                            [refused_share(s["non"], g) for g in grid])
        if predictor.reject is not None:
            t = predictor.reject["threshold"]
            s = {k: v["not-a-digit output"] for k, v in by_set.items()}
            operating = (refused_share(s["real"], t), refused_share(s["non"], t))
            rows.append((f"{mname}: not-a-digit output at its calibrated threshold {t:.3f} (shipped)",
                         refused_share(s["mnist"], t), *operating))
            for floor in UNSURE_FLOORS:  # (a helper's arrow was answered "7, 21% sure", not refused)
                refused = [(v["not-a-digit output"] >= t) | (v["max-softmax"] > 1 - floor) for v in by_set.values()]
                rows.append((f"{mname}: the same, or its surest digit under {floor:.0%}", *(float(r.mean()) for r in refused)))

    print(f"\n{len(mnist):,} MNIST test digits, {len(real):,} real non-MNIST digits, {len(nondigit):,} non-digits\n")
    print("| candidate | MNIST test refused | real digits refused | non-digits refused |\n|---|---:|---:|---:|")
    for name, m, r, n in rows:
        print(f"| {name} | {m:.2%} | {r:.2%} | {n:.2%} |")
    plot(curves, operating, Path(a.out) / "refusal.png")


def plot(curves: dict, operating: tuple[float, float], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for name, (x, y) in curves.items():
        ax.plot(np.array(x) * 100, np.array(y) * 100, label=name, lw=1.6)
    ax.plot(operating[0] * 100, operating[1] * 100, "k*", ms=12, label="bundled model, calibrated threshold")
    ax.axvline(2, color="grey", ls=":", lw=1)
    ax.axhline(95, color="grey", ls=":", lw=1)
    ax.set(xlim=(0, 20), ylim=(0, 100), xlabel="real non-MNIST digits refused (%)", ylabel="non-digits refused (%)",
           title="Refusing non-digits without refusing digits")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    run_script(main)
