"""The trade-off a pre-ranking user looks at first: each model's test AUC (cutoff mode, mean ±
std over seeds) against what one candidate costs to serve once the user side has run (FLOPs,
log scale), one panel per results file. Drawn from the results JSON alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FLOOR_FLOPS = 1  # LR's one addition; a log axis needs a positive value
# One colour per model in every panel (matplotlib's cycle C0, C1, ... in this order)
MODELS = ("LR", "Two-Tower", "DAT", "COLD", "DeepFM", "IntTower")


def _panel(ax: Any, doc: dict[str, Any]) -> None:
    for model in doc["models"]:
        flops = max(model["serving"]["flops"], FLOOR_FLOPS)
        auc = model["test"]["auc"]
        color = f"C{MODELS.index(model['model'])}" if model["model"] in MODELS else None
        ax.errorbar(flops, auc["mean"], yerr=auc["std"], fmt="o", capsize=3, color=color)
        ax.annotate(model["model"], (flops, auc["mean"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per candidate (log)")
    ax.set_ylabel("test AUC, cutoff mode")
    ax.set_title(f"{doc['dataset']}, {doc['split']} split ({len(doc['seeds'])} seeds)",
                 fontsize=10)
    ax.grid(alpha=0.3)


def plot(results: list[Path], out: Path) -> Path:
    """Write the figure of `results` (quality-*.json files) to `out` (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: files only
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("the figure needs matplotlib: pip install 'matplotlib>=3.8'") from exc
    if not results:
        raise ValueError("no results files to plot")
    docs = [json.loads(path.read_text(encoding="utf-8")) for path in results]
    columns = min(len(docs), 2)
    rows = -(-len(docs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4.2 * rows), squeeze=False)
    for ax, doc in zip(axes.flat, docs, strict=False):
        _panel(ax, doc)
    for ax in list(axes.flat)[len(docs):]:
        ax.set_visible(False)
    fig.suptitle("Quality against serving cost per candidate (docs/results)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
