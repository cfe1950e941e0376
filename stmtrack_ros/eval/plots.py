"""Success and precision plots (OTB style) and the long-term tracking precision-recall plot
as small PNG files, drawn with matplotlib's Agg
backend so they work without a display."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import IOU_THRESHOLDS, PIXEL_THRESHOLDS, PRECISION_PX

LINESTYLES = ("-", "--", "-.", ":")


def _figure():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.0, 3.4), dpi=90)
    return plt, fig, ax


def _plot(curves: dict, x, score_key: str, xlabel: str, title: str, path: Path) -> Path:
    plt, fig, ax = _figure()
    order = sorted(curves, key=lambda k: -curves[k][score_key])
    for i, name in enumerate(order):
        ax.plot(x, curves[name]["curve"], LINESTYLES[(i // 10) % len(LINESTYLES)], linewidth=1.6,
                label=f"{name} [{curves[name][score_key]:.3f}]")
    ax.set(xlabel=xlabel, ylabel="fraction of frames", title=title, xlim=(x[0], x[-1]), ylim=(0, 1))
    return _save(plt, fig, ax, "lower left" if score_key == "auc" else "lower right", path)


def _save(plt, fig, ax, legend_loc: str, path) -> Path:
    ax.grid(True, alpha=0.4)
    ax.legend(loc=legend_loc, fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def success_plot(overall: dict, path, title: str = "Success plot (one-pass)") -> Path:
    """`overall`: {tracker: aggregate dict with success_curve and auc}."""
    curves = {k: {"curve": np.asarray(v["success_curve"]), "auc": v["auc"]} for k, v in overall.items()}
    return _plot(curves, IOU_THRESHOLDS, "auc", "overlap (IoU) threshold", f"{title}, legend: AUC", path)


def precision_plot(overall: dict, path, title: str = "Precision plot (one-pass)") -> Path:
    curves = {k: {"curve": np.asarray(v["precision_curve"]), "precision": v["precision"]}
              for k, v in overall.items()}
    return _plot(curves, PIXEL_THRESHOLDS, "precision", "centre error threshold (px)",
                 f"{title}, legend: P@{PRECISION_PX}px", path)


def pr_plot(longterm: dict, path, title: str = "Tracking precision/recall (long-term)") -> Path:
    """`longterm`: {tracker: eval.longterm.summarize dict}; one curve per tracker over its
    confidence thresholds, the best-F point marked, legend: F-score."""
    plt, fig, ax = _figure()
    order = sorted(longterm, key=lambda k: -(longterm[k]["f_score"] or 0))
    for i, name in enumerate(order):
        lt = longterm[name]
        line, = ax.plot(lt["pr_recall"], lt["pr_precision"], LINESTYLES[(i // 10) % len(LINESTYLES)],
                        linewidth=1.6, label=f"{name} [{lt['f_score']:.3f}]")
        ax.plot([lt["lt_recall"]], [lt["lt_precision"]], "o", color=line.get_color(), markersize=4)
    ax.set(xlabel="tracking recall", ylabel="tracking precision", title=f"{title}, legend: F",
           xlim=(0, 1), ylim=(0, 1))
    return _save(plt, fig, ax, "lower left", path)
