"""The generated lab report: report.md (PNGs beside it) and a self-contained report.html.

    from lenet5.report import write_report
    md_path, html_path = write_report("runs/classic-mnist-s0", data_dir="../shared/data")

It follows the lab report's sections with this run's measured facts; every number comes from the
run folder, the data files or the model, never typed in.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any

from . import data as data_mod
from .models import count_parameters, format_summary, summary
from .reference import LAB_REPORT_POINTS
from .files import write_text_atomic
from .run import RunFolder
from .viz import draw_run

# A report is a list of blocks, rendered to both Markdown and HTML.
# ("h", level, text) | ("p", text) | ("pre", text) | ("table", header, rows) | ("img", file, caption)


def _md(blocks) -> str:
    out = []
    for b in blocks:
        if b[0] == "h":
            out.append("#" * b[1] + " " + b[2])
        elif b[0] == "p":
            out.append(b[1])
        elif b[0] == "pre":
            out.append("```\n" + b[1] + "\n```")
        elif b[0] == "table":
            out.append("\n".join(["| " + " | ".join(b[1]) + " |", "|" + "---|" * len(b[1])]
                                 + ["| " + " | ".join(map(str, r)) + " |" for r in b[2]]))
        elif b[0] == "img":
            out.append(f"![{b[2]}]({b[1]})\n\n*{b[2]}*")
    return "\n\n".join(out) + "\n"


def _html(blocks, folder: Path, title: str) -> str:
    e = html.escape
    body = []
    for b in blocks:
        if b[0] == "h":
            body.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
        elif b[0] == "p":
            body.append(f"<p>{e(b[1]).replace('**', '')}</p>")
        elif b[0] == "pre":
            body.append(f"<pre>{e(b[1])}</pre>")
        elif b[0] == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b[1])
            rows = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in b[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b[0] == "img":
            data = base64.b64encode((folder / b[1]).read_bytes()).decode()
            body.append(f'<figure><img alt="{e(b[2])}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{e(b[2])}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "th{background:#f3f3f3}img{max-width:100%}figure{margin:1.5em 0}figcaption{color:#555;font-size:.9em}"
             "pre{background:#f6f6f6;padding:1em;overflow:auto}")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def build_blocks(run: Path, data_dir, figures: dict[str, Path], ev: dict[str, Any], out: Path) -> tuple[list, str]:
    """The report's blocks; `ev` is the test-set evaluation the figures came from (`viz.draw_run`)."""
    folder = RunFolder(run)
    rows = folder.metrics()
    model, cfg = folder.model()
    meta = folder.meta()
    checked = data_mod.check(cfg.data.dataset, folder.data_dir(data_dir))
    spec = data_mod.get_spec(cfg.data.dataset)
    final, best = rows[-1], max(rows, key=lambda r: r["test_acc"])
    rel = lambda p: os.path.relpath(p, out)
    layers = summary(model)
    shape = {name: out_shape for name, _, out_shape, _ in layers}
    (c1, h1, w1), (c2, h2, w2) = shape["pool1"], shape["pool2"]
    title = f"LeNet-5 on {cfg.data.dataset}: {cfg.preset} run {run.name}"
    worst = min(range(len(ev["classes"])), key=lambda i: ev["per_class_accuracy"][i])
    cm = ev["confusion_matrix"]
    pair = max(((i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j), key=lambda ij: cm[ij[0]][ij[1]])
    b = [
        ("h", 1, title),
        ("h", 2, "1. Purpose"),
        ("p", "Train the LeNet-5 convolutional network on handwritten digits with PyTorch, measure it on the "
              "held-out test set after every epoch, and look at the intermediate feature maps to see how the "
              "convolution and pooling layers extract features, as the lab report does."),
        ("h", 2, "2. Data"),
        ("p", f"{spec.name}: {spec.files['train'][0].count:,} training and "
              f"{sum(map(sum, cm)):,} test images of 28×28 pixels, "
              f"{len(spec.classes)} classes, pixels scaled to [0, 1]"
              f"{', then standardised inside the model' if cfg.data.normalize else ''}"
              f"{', random affine distortions while training' if cfg.data.augment else ''}. "
              f"Every file was verified against its canonical MD5 (of the decompressed bytes):"),
        ("table", ["file", "MD5", "status"],
         [[p.name, next(f.md5 for f in spec.all_files() if p.name.startswith(f.name)), s] for p, s in checked]),
        ("h", 2, "3. Model"),
        ("p", f"{cfg.model.name} with {cfg.model.activation} activations, {cfg.model.pooling}-pooling"
              f"{', batch norm' if cfg.model.batch_norm else ''}"
              f"{f', dropout {cfg.model.dropout}' if cfg.model.dropout else ''}: "
              f"{count_parameters(model):,} parameters."),
        ("pre", format_summary(layers)),
        ("h", 2, "4. Training setup"),
        ("p", f"{cfg.train.optimizer} with learning rate {cfg.train.lr} ({cfg.train.schedule} schedule), batch "
              f"{cfg.train.batch_size}, {cfg.train.epochs} epochs, cross-entropy loss, seed {cfg.train.seed}, "
              f"device {meta.get('device', '?')}. The resolved configuration:"),
        ("pre", json.dumps(cfg.to_dict(), indent=2)),
        ("h", 2, "5. Results"),
        ("p", f"Final test accuracy {_pct(final['test_acc'])} (loss {final['test_loss']:.4f}) after epoch "
              f"{final['epoch']}; best {_pct(best['test_acc'])} at epoch {best['epoch']}. "
              f"Total training time {sum(r['seconds'] for r in rows):.0f} s "
              f"({sum(r['seconds'] for r in rows) / len(rows):.1f} s per epoch including the test pass)."),
        ("img", rel(figures["curves"]), "Test and train loss and accuracy per epoch"
         + (" (stars: the lab report's test results)" if cfg.preset == "classic" and cfg.data.dataset == "mnist" else "")),
        ("table", ["epoch", "test loss", "test acc", "train loss", "train acc", "lr", "seconds"],
         [[r["epoch"], f"{r['test_loss']:.4f}", _pct(r["test_acc"]), f"{r['train_loss']:.4f}",
           _pct(r["train_acc"]), f"{r['lr']:.2e}", f"{r['seconds']:.1f}"] for r in rows]),
    ]
    if cfg.data.dataset == "mnist":
        cmp_rows = []
        for e, (loss, acc) in LAB_REPORT_POINTS.items():
            mine = next((r for r in rows if r["epoch"] == e), None)
            cmp_rows.append([e, f"{loss:.4f}", _pct(acc),
                             f"{mine['test_loss']:.4f}" if mine else "not run", _pct(mine["test_acc"]) if mine else "not run"])
        b += [("h", 3, "This run vs the lab report"),
              ("table", ["epoch", "lab report loss", "lab report acc", "this run loss", "this run acc"], cmp_rows)]
    b += [
        ("h", 2, "6. Feature maps"),
        ("img", rel(figures["feature_maps"]), "Test digits, their conv1 maps after pooling and their conv2 maps "
         "after pooling, each summed over channels (the lab report's figure 3)"),
        ("p", f"The first layer keeps the digit's shape: its {c1} maps of {h1}×{w1} are blurred, "
              f"edge-sensitive copies of the strokes, still readable as the digit. The second layer's {c2} maps of "
              f"{h2}×{w2} no longer look like the digit: each cell says whether a stroke pattern occurs in a region, "
              f"an abstract code the fully connected layers classify."),
        ("img", rel(figures["channels"]), "One test digit: every conv1 and conv2 channel and the six learned 5×5 "
         "conv1 kernels (each group on one shared colour scale)"),
        ("h", 2, "7. Errors"),
        ("p", f"Test accuracy {_pct(ev['accuracy'])}; the weakest class is {ev['classes'][worst]} "
              f"({_pct(ev['per_class_accuracy'][worst])}); the most frequent confusion is "
              f"{ev['classes'][pair[0]]} read as {ev['classes'][pair[1]]} ({cm[pair[0]][pair[1]]} images)."),
        ("img", rel(figures["confusion"]), "Confusion matrix and per-class accuracy"),
        ("img", rel(figures["mistakes"]), "The misclassified test images, most confident wrong answers first"),
        ("h", 2, "8. Summary"),
        ("p", f"This {cfg.preset} LeNet-5 reached {_pct(final['test_acc'])} on the {spec.name} test set in "
              f"{len(rows)} epochs"
              + (f" (the lab report: {_pct(LAB_REPORT_POINTS[29][1])})." if cfg.data.dataset == "mnist" else ".")),
    ]
    return b, title


def write_report(run_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                 out_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Draw the figures and write report.md and report.html into out_dir (default: the run folder)."""
    run = RunFolder(run_dir).require().path
    out = Path(out_dir) if out_dir is not None else run
    out.mkdir(parents=True, exist_ok=True)
    figures, ev = draw_run(run, data_dir, out / "figures")
    blocks, title = build_blocks(run, data_dir, figures, ev, out)
    md, page = out / "report.md", out / "report.html"
    write_text_atomic(md, _md(blocks))
    write_text_atomic(page, _html(blocks, out, title))
    return md, page
