"""The generated lab report: report.md (PNGs beside it) and a self-contained report.html.

    from lenet5.report import write_report
    md_path, html_path = write_report("runs/classic-mnist-s0", data_dir="../shared/data")
    md_path, html_path = write_report("runs/classic-mnist-s0", lang="zh")   # report.zh.md, report.zh.html

It follows the lab report's parts (purpose, principle, procedure, results and analysis, summary and
outlook) with this run's measured facts; every number comes from the run folder, the data files or
the model, never typed in. `lang="zh"` writes it in Chinese, the reference's own language: the words
live in lenet5.i18n, the blocks here are the same for every language.
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
from .i18n import HTML_LANG, strings
from .reference import LAB_REPORT_POINTS, LECUN1998_TEST_ERROR
from .files import write_text_atomic
from .run import RunFolder, report_layout
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


def _html(blocks, folder: Path, title: str, lang: str = "en") -> str:
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
    return (f"<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _model_text(T, cfg, model) -> str:
    params = f"{count_parameters(model):,}"
    if cfg.model.name == "lecun1998":
        return T["model_lecun1998"].format(params=params)
    m = cfg.model
    extras = (T["model_batch_norm"] if m.batch_norm else "") + (T["model_dropout"].format(p=m.dropout) if m.dropout else "")
    return T["model"].format(name=m.name, activation=m.activation, pooling=T[f"pool_{m.pooling}"], extras=extras,
                             params=params)


def _paper_comparison(T, cfg, final) -> list:
    """The lecun1998 model's test error next to the paper's (its section III)."""
    distorted = bool(cfg.data.distort or cfg.data.augment)
    paper = LECUN1998_TEST_ERROR["distorted" if distorted else "plain"]
    return [("h", 4, T["h_vs_paper"]),
            ("p", T["vs_paper"].format(paper=_pct(paper), what=T["paper_distorted" if distorted else "paper_plain"],
                                       mine=_pct(1 - final["test_acc"])))]


def build_blocks(run: Path, data_dir, figures: dict[str, Path], ev: dict[str, Any], out: Path,
                 lang: str = "en") -> tuple[list, str]:
    """The report's blocks in `lang` (lenet5.i18n), in the lab report's five parts; `ev` is the
    test-set evaluation the figures came from (`viz.draw_run`)."""
    T = strings(lang)
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
    task = T[f"task_{cfg.data.dataset}"]
    title = T["title"].format(dataset=cfg.data.dataset, preset=cfg.preset, run=run.name, task=task)
    worst = min(range(len(ev["classes"])), key=lambda i: ev["per_class_accuracy"][i])
    cm = ev["confusion_matrix"]
    pair = max(((i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j), key=lambda ij: cm[ij[0]][ij[1]])
    classic_mnist = cfg.preset == "classic" and cfg.data.dataset == "mnist"
    seconds = sum(r["seconds"] for r in rows)
    data_extras = ((T["data_normalize"] if cfg.data.normalize else "") + (T["data_augment"] if cfg.data.augment else "")
                   + (T["data_distort"].format(names=", ".join(cfg.data.distort)) if cfg.data.distort else ""))
    b = [
        ("h", 1, title),
        ("h", 2, T["h_purpose"]),
        ("p", T["purpose"].format(task=task)),
        ("h", 2, T["h_principle"]),
        ("p", T["principle"]),
        ("p", _model_text(T, cfg, model)),
        ("pre", format_summary(layers)),
        ("h", 2, T["h_procedure"]),
        ("h", 3, T["h_data"]),
        ("p", T["data"].format(name=spec.name, n_train=f"{spec.files['train'][0].count:,}",
                               n_test=f"{sum(map(sum, cm)):,}", n_classes=len(spec.classes), extras=data_extras)),
        ("table", [T["col_file"], T["col_md5"], T["col_status"]],
         [[p.name, next(f.md5 for f in spec.all_files() if p.name.startswith(f.name)), s] for p, s in checked]),
        ("h", 3, T["h_setup"]),
        ("p", T["setup"].format(optimizer=cfg.train.optimizer, lr=cfg.train.lr,
                                schedule=T[f"schedule_{cfg.train.schedule}"], batch=cfg.train.batch_size,
                                epochs=cfg.train.epochs, loss=T[f"loss_{cfg.train.loss}"], seed=cfg.train.seed,
                                device=meta.get("device", "?"))),
        ("pre", json.dumps(cfg.to_dict(), indent=2)),
        ("h", 2, T["h_results"]),
        ("h", 3, T["h_metrics"]),
        ("p", T["final"].format(acc=_pct(final["test_acc"]), loss=f"{final['test_loss']:.4f}", epoch=final["epoch"],
                                best=_pct(best["test_acc"]), best_epoch=best["epoch"], total=seconds,
                                per=seconds / len(rows))),
        ("img", rel(figures["curves"]), T["cap_curves"] + (T["cap_curves_reference"] if classic_mnist else "")),
        ("table", [T[f"col_{k}"] for k in ("epoch", "test_loss", "test_acc", "train_loss", "train_acc", "lr", "seconds")],
         [[r["epoch"], f"{r['test_loss']:.4f}", _pct(r["test_acc"]), f"{r['train_loss']:.4f}",
           _pct(r["train_acc"]), f"{r['lr']:.2e}", f"{r['seconds']:.1f}"] for r in rows]),
    ]
    if cfg.data.dataset == "mnist":
        cmp_rows = []
        for e, (loss, acc) in LAB_REPORT_POINTS.items():
            mine = next((r for r in rows if r["epoch"] == e), None)
            cmp_rows.append([e, f"{loss:.4f}", _pct(acc), f"{mine['test_loss']:.4f}" if mine else T["not_run"],
                             _pct(mine["test_acc"]) if mine else T["not_run"]])
        b += [("h", 4, T["h_vs_report"]),
              ("table", [T[f"col_{k}"] for k in ("epoch", "report_loss", "report_acc", "run_loss", "run_acc")], cmp_rows)]
    if cfg.model.name == "lecun1998" and cfg.data.dataset == "mnist":
        b += _paper_comparison(T, cfg, final)
    b += [
        ("h", 3, T["h_features"]),
        ("img", rel(figures["feature_maps"]), T["cap_feature_maps"]),
        ("p", T["features"].format(c1=c1, h1=h1, w1=w1, c2=c2, h2=h2, w2=w2)),
        ("img", rel(figures["channels"]), T["cap_channels"].format(k=model.conv1.weight.shape[0])),
        ("h", 3, T["h_errors"]),
        ("p", T["errors"].format(acc=_pct(ev["accuracy"]), worst=ev["classes"][worst],
                                 worst_acc=_pct(ev["per_class_accuracy"][worst]), true=ev["classes"][pair[0]],
                                 pred=ev["classes"][pair[1]], n=cm[pair[0]][pair[1]])),
        ("img", rel(figures["confusion"]), T["cap_confusion"]),
        ("img", rel(figures["mistakes"]), T["cap_mistakes"]),
        ("h", 2, T["h_summary"]),
        ("p", T["summary"].format(preset=cfg.preset, acc=_pct(final["test_acc"]), name=spec.name, epochs=len(rows),
                                  reference=T["summary_reference"].format(acc=_pct(LAB_REPORT_POINTS[29][1]))
                                  if cfg.data.dataset == "mnist" else "")),
        ("p", T["outlook"]),
    ]
    return b, title


def write_report(run_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                 out_dir: str | os.PathLike | None = None, lang: str = "en") -> tuple[Path, Path]:
    """Draw the figures and write report.md and report.html (`run.report_layout` names them per
    language) into out_dir (default: the run folder)."""
    strings(lang)  # an unknown language fails before anything is drawn
    run = RunFolder(run_dir).require().path
    out = Path(out_dir) if out_dir is not None else run
    out.mkdir(parents=True, exist_ok=True)
    md, page, figures_dir = report_layout(out, lang)
    figures, ev = draw_run(run, data_dir, figures_dir, lang=lang)
    blocks, title = build_blocks(run, data_dir, figures, ev, out, lang)
    write_text_atomic(md, _md(blocks))
    write_text_atomic(page, _html(blocks, out, title, HTML_LANG[lang]))
    return md, page
