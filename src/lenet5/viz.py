"""Every figure, from arrays and run folders (matplotlib, PNG).

    from lenet5 import viz
    paths = viz.visualize("runs/classic-mnist-s0", out_dir="runs/classic-mnist-s0/figures")
    maps = viz.feature_maps(model, images)      # {"pool1": N×6×14×14, "pool2": N×16×5×5}

Feature maps come from forward hooks on the model's own layers, so they stay right for every
preset (ReLU, max-pooling, batch norm) without re-implementing a layer here.

Every figure takes `lang` ("en" or "zh", words from lenet5.i18n). Chinese needs a CJK font: one is
looked for on the system (Debian: fonts-noto-cjk); without one the figure falls back to English
labels with a `NoCJKFont` warning, never to boxes in place of characters.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .errors import UserError
from .evaluate import metrics_from_logits, predict_logits
from .losses import criterion
from .files import atomic_path
from .i18n import strings
from .models import FEATURE_LAYERS, evaluating
from .reference import LAB_REPORT_POINTS
from .run import RunFolder

DPI = 150
MAX_MISTAKES = 40  # gallery size: enough to see patterns, small enough to read the labels
MISTAKE_COLS = 8
# Font files that may hold Chinese (Noto/Source Han, WenQuanYi, Droid, Windows' and macOS' Hei and
# Song faces); each candidate is then checked to hold every character of CJK_SAMPLE.
CJK_FILE_HINTS = ("cjk", "sourcehan", "wqy", "droidsansfallback", "simhei", "simsun", "msyh", "yahei",
                  "pingfang", "heiti", "notosanssc", "notoserifsc", "uming", "ukai")
CJK_SAMPLE = "实验目的卷积层池化激活函数学习率准确率损失轮次测试训练预测真实"


class NoCJKFont(UserWarning):
    """A figure asked for Chinese labels on a system without a font that has the characters."""


def pyplot():
    """pyplot with a file-only backend, imported on first use (importing lenet5.viz draws nothing).

    A backend chosen by the environment (MPLBACKEND: Jupyter sets its inline one) is kept, so that
    a notebook using lenet5 still shows its own plots."""
    import matplotlib
    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@functools.cache
def cjk_font() -> str | None:
    """The family name of a font on this system that has Chinese characters, or None.

    Looked for among the system's font files as well as matplotlib's font list: matplotlib caches
    that list once, so a font installed later (apt-get install fonts-noto-cjk) is missing from it.
    """
    from matplotlib import font_manager, ft2font
    files = {f.fname for f in font_manager.fontManager.ttflist} | set(font_manager.findSystemFonts())
    squash = lambda p: Path(p).name.lower().replace("-", "").replace("_", "")
    # sans before serif, regular before bold: the figures' other text is DejaVu Sans
    candidates = sorted((p for p in files if any(h in squash(p) for h in CJK_FILE_HINTS)),
                        key=lambda p: ("serif" in squash(p), "bold" in squash(p), p))
    found = []
    for path in candidates:
        try:
            charmap = ft2font.FT2Font(path).get_charmap()
        except (OSError, RuntimeError):  # an unreadable or unsupported font file: try the next
            continue
        if all(ord(c) in charmap for c in CJK_SAMPLE):
            font_manager.fontManager.addfont(path)  # every weight, so bold text finds its face
            found.append(path)
    return font_manager.FontProperties(fname=found[0]).get_name() if found else None


def figure_language(lang: str) -> str:
    """`lang` if the figures can be drawn in it here, else "en" with a one-line `NoCJKFont` warning."""
    strings(lang)  # an unknown language is the user's mistake, said as such
    if lang == "zh" and cjk_font() is None:
        warnings.warn("no Chinese (CJK) font found, so the figures have English labels; install one "
                      "(Debian: apt-get install fonts-noto-cjk)", NoCJKFont, stacklevel=2)
        return "en"
    return lang


def localized(plot):
    """Draw `plot` with its words in `lang=` (keyword, default "en"): passes the strings as `T` and,
    for Chinese, puts the CJK font first with DejaVu Sans behind it for the symbols it lacks."""
    @functools.wraps(plot)
    def draw(*args, lang: str = "en", **kwargs):
        lang = figure_language(lang)
        font = {"font.family": [cjk_font(), "DejaVu Sans"], "axes.unicode_minus": False} if lang == "zh" else {}
        import matplotlib
        with matplotlib.rc_context(font):
            return plot(*args, T=strings(lang), **kwargs)
    return draw


def save_figure(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    return path


@torch.no_grad()
def feature_maps(model: nn.Module, images: torch.Tensor, layers: Sequence[str] = FEATURE_LAYERS
                 ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Outputs of `layers` (after pooling, by default) and the logits, for a batch of images."""
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise UserError(f"model has no layer(s) {', '.join(missing)}")
    captured: dict[str, torch.Tensor] = {}
    hooks = [modules[name].register_forward_hook(
        lambda m, i, o, name=name: captured.__setitem__(name, o.detach().cpu())) for name in layers]
    try:
        with evaluating(model):
            logits = model(images)
    finally:
        for h in hooks:
            h.remove()
    return captured, logits


# ---------------------------------------------------------------- individual figures

@localized
def plot_curves(rows: list[dict[str, Any]], path: Path, reference: dict[int, tuple[float, float]] | None = None,
                title: str = "Training curves", loss: str = "cross-entropy", *, T: dict[str, str]) -> Path:
    """Loss and accuracy per epoch, train and test; `reference` marks {epoch: (loss, acc)} points;
    `loss` names the run's criterion (lenet5.losses) for the axis."""
    plt = pyplot()
    epochs = [r["epoch"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.plot(epochs, [r["train_loss"] for r in rows], "o-", ms=3, label=T["fig_train"])
    ax1.plot(epochs, [r["test_loss"] for r in rows], "o-", ms=3, label=T["fig_test"])
    ax2.plot(epochs, [100 * r["train_acc"] for r in rows], "o-", ms=3, label=T["fig_train"])
    ax2.plot(epochs, [100 * r["test_acc"] for r in rows], "o-", ms=3, label=T["fig_test"])
    if reference:
        ref_e = [e for e in reference if e <= max(epochs)]
        ax1.plot(ref_e, [reference[e][0] for e in ref_e], "k*", ms=11, label=T["fig_reference"])
        ax2.plot(ref_e, [100 * reference[e][1] for e in ref_e], "k*", ms=11, label=T["fig_reference"])
        for e in ref_e:
            ax2.annotate(f"{100 * reference[e][1]:.2f}%", (e, 100 * reference[e][1]), textcoords="offset points",
                         xytext=(6, -12), fontsize=8)
    final = rows[-1]
    ax1.set(xlabel=T["fig_epoch"], ylabel=T[f"fig_loss_{loss}"], title=T["fig_loss_title"], yscale="log")
    ax2.set(xlabel=T["fig_epoch"], ylabel=T["fig_acc_axis"], title=T["fig_acc_title"].format(acc=100 * final["test_acc"]))
    low = min(100 * r["test_acc"] for r in rows[min(len(rows) - 1, 3):])  # zoom past the first epochs
    ax2.set_ylim(max(0.0, min(low, 100 * final["train_acc"]) - 1.0), 100.2)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return save_figure(fig, path)


@localized
def plot_feature_maps(images: torch.Tensor, maps1: torch.Tensor, maps2: torch.Tensor, labels: Sequence[int],
                      preds: Sequence[int], classes: Sequence[str], path: Path, *, T: dict[str, str]) -> Path:
    """The report's figure 3: input, conv1 and conv2 maps (after pooling) summed over channels."""
    plt = pyplot()
    n = len(images)
    fig, ax = plt.subplots(3, n, figsize=(2.1 * n, 6.8), squeeze=False)
    rows = [(T["fig_input"], images[:, 0])] + [
        (T["fig_conv_sum"].format(layer=T[layer], n=m.shape[1], h=m.shape[2], w=m.shape[3]), m.sum(1))
        for layer, m in (("fig_conv1", maps1), ("fig_conv2", maps2))]
    for r, (name, arr) in enumerate(rows):
        for i in range(n):
            a = ax[r, i]
            a.imshow(arr[i].numpy(), cmap="gray", interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                ok = "" if labels[i] == preds[i] else " ✗"
                a.set_title(T["fig_true_pred"].format(true=classes[labels[i]], pred=classes[preds[i]], mark=ok),
                            fontsize=9)
            if i == 0:
                a.set_ylabel(name, fontsize=8)
    fig.suptitle(T["fig_maps_title"])
    fig.tight_layout()
    return save_figure(fig, path)


@localized
def plot_channels(image: torch.Tensor, maps1: torch.Tensor, maps2: torch.Tensor, kernels: torch.Tensor,
                  title: str, path: Path, *, T: dict[str, str]) -> Path:
    """One digit: every conv1 map, every conv2 map and the conv1 kernels, each group on one colour scale."""
    plt = pyplot()
    fig = plt.figure(figsize=(13, 8.2))
    grid = fig.add_gridspec(4, 9, height_ratios=[1, 1, 1, 1], width_ratios=[1] * 8 + [0.12])

    def group(arrays, cells, label, cmap):
        lo, hi = float(min(a.min() for a in arrays)), float(max(a.max() for a in arrays))
        im = None
        for k, (arr, (r, c)) in enumerate(zip(arrays, cells)):
            a = fig.add_subplot(grid[r, c])
            im = a.imshow(arr.numpy(), cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            a.set_title(f"{label} {k}", fontsize=8)
        return im, cells[0][0]

    a = fig.add_subplot(grid[0, 0])
    a.imshow(image[0].numpy(), cmap="gray", interpolation="nearest")
    a.set_title(T["fig_input_short"], fontsize=8)
    a.set_xticks([])
    a.set_yticks([])
    im_k, _ = group(list(kernels[:, 0]), [(0, 2 + k) for k in range(len(kernels))], T["fig_kernel"], "RdBu_r")
    fig.colorbar(im_k, cax=fig.add_subplot(grid[0, 8])).set_label(T["fig_kernel_scale"], fontsize=8)
    im_1, _ = group(list(maps1), [(1, k) for k in range(len(maps1))], T["fig_conv1"], "viridis")
    fig.colorbar(im_1, cax=fig.add_subplot(grid[1, 8])).set_label(T["fig_pool1_scale"], fontsize=8)
    im_2, _ = group(list(maps2), [(2 + k // 8, k % 8) for k in range(len(maps2))], T["fig_conv2"], "viridis")
    fig.colorbar(im_2, cax=fig.add_subplot(grid[2:, 8])).set_label(T["fig_pool2_scale"], fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


@localized
def plot_confusion(confusion: list[list[int]], per_class: list[float], classes: Sequence[str], path: Path, *,
                   T: dict[str, str]) -> Path:
    plt = pyplot()
    cm = np.array(confusion)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [1.25, 1]})
    off = cm.copy()
    np.fill_diagonal(off, 0)
    im = ax.imshow(off, cmap="Reds")  # colour the errors; the diagonal would swamp the scale
    for i in range(len(cm)):
        for j in range(len(cm)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="black" if i == j or off[i, j] < off.max() * 0.6 else "white",
                    fontweight="bold" if i == j else "normal")
    short = [c if len(c) <= 8 else c[:7] + "…" for c in classes]
    ax.set(xticks=range(len(cm)), yticks=range(len(cm)), xlabel=T["fig_predicted"], ylabel=T["fig_true"],
           title=T["fig_confusion_title"])
    ax.set_xticklabels(short, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(short, fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046).set_label(T["fig_misclassified"])
    acc = 100 * np.array(per_class)
    bars = bx.barh(range(len(acc)), acc, color="tab:blue")
    bx.bar_label(bars, labels=[f"{a:.2f}%" for a in acc], fontsize=8, padding=2)
    bx.set(yticks=range(len(acc)), xlabel=T["fig_acc_axis"], title=T["fig_per_class"],
           xlim=(max(0.0, acc.min() - 5), 100.8))
    bx.set_yticklabels(short, fontsize=8)
    bx.invert_yaxis()
    bx.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


@localized
def plot_mistakes(images: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor, classes: Sequence[str],
                  path: Path, limit: int = MAX_MISTAKES, *, T: dict[str, str]) -> Path:
    """Misclassified images, most confident wrong answers first, labelled true → predicted (confidence)."""
    plt = pyplot()
    conf, pred = probs.max(1)
    wrong = (pred != labels).nonzero().flatten()
    order = wrong[conf[wrong].argsort(descending=True)][:limit]
    n = max(1, len(order))
    cols = min(MISTAKE_COLS, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.75 * cols, 2.05 * rows + 0.6), squeeze=False)
    for a in axes.flat:
        a.axis("off")
    for a, i in zip(axes.flat, order.tolist()):
        a.imshow(images[i, 0].numpy(), cmap="gray", interpolation="nearest")
        a.set_title(f"#{i}\n{classes[labels[i]]} → {classes[pred[i]]}\n({100 * conf[i]:.1f}%)", fontsize=7.5)
    if not len(order):
        axes[0, 0].text(0.5, 0.5, T["fig_no_mistakes"], ha="center")
    fig.suptitle(T["fig_mistakes_title"].format(n=len(order), total=len(wrong)))
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------- from a run folder

def visualize(run_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
              out_dir: str | os.PathLike | None = None, n_images: int = 5,
              indices: Sequence[int] | None = None, which: str = "last", lang: str = "en") -> dict[str, Path]:
    """Draw every figure of a run into out_dir (default RUN/figures); return {name: path}."""
    return draw_run(run_dir, data_dir, out_dir, n_images, indices, which, lang)[0]


def draw_run(run_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
             out_dir: str | os.PathLike | None = None, n_images: int = 5,
             indices: Sequence[int] | None = None, which: str = "last", lang: str = "en"
             ) -> tuple[dict[str, Path], dict[str, Any]]:
    """`visualize`, also returning the test-set evaluation the figures were drawn from
    (classes, loss, accuracy, per_class_accuracy, confusion_matrix), so a report need not run it again."""
    lang = figure_language(lang)  # said once, here, when the figures cannot be in `lang`
    T = strings(lang)
    run = RunFolder(run_dir).require()
    rows = run.metrics()
    model, cfg = run.model(which)
    test = run.data("test", data_dir)
    out = Path(out_dir) if out_dir is not None else run.figures_dir(lang)
    if indices is None:
        if n_images < 1:
            raise UserError(f"the number of images must be >= 1, got {n_images}")
        indices = list(range(n_images))
    bad = [i for i in indices if not 0 <= i < len(test)]
    if bad:
        raise UserError(f"test image index {bad[0]} is out of range: the test set has images 0..{len(test) - 1}")
    classic_mnist = cfg.preset == "classic" and cfg.data.dataset == "mnist"
    paths = {"curves": plot_curves(rows, out / "curves.png", LAB_REPORT_POINTS if classic_mnist else None,
                                   T["fig_curves_title"].format(preset=cfg.preset, dataset=cfg.data.dataset),
                                   cfg.train.loss, lang=lang)}
    idx = torch.tensor(list(indices))
    x = test.images[idx]
    maps, logits = feature_maps(model, x)
    preds = logits.argmax(1).tolist()
    paths["feature_maps"] = plot_feature_maps(x, maps["pool1"], maps["pool2"], test.labels[idx].tolist(), preds,
                                              test.classes, out / "feature_maps.png", lang=lang)
    k = int(idx[0])
    paths["channels"] = plot_channels(
        x[0], maps["pool1"][0], maps["pool2"][0], model.conv1.weight.detach().cpu(),
        T["fig_channels_title"].format(index=k, true=test.classes[test.labels[k]], pred=test.classes[preds[0]]),
        out / "channels.png", lang=lang)
    all_logits = predict_logits(model, test.images)
    m = metrics_from_logits(all_logits, test.labels, len(test.classes), criterion(cfg.train.loss))
    paths["confusion"] = plot_confusion(m["confusion_matrix"], m["per_class_accuracy"], test.classes,
                                        out / "confusion.png", lang=lang)
    paths["mistakes"] = plot_mistakes(test.images, test.labels, all_logits.softmax(1), test.classes,
                                      out / "mistakes.png", lang=lang)
    return paths, {"classes": list(test.classes), **m}
