"""The picture of `inttower bench serve`: /score p50 and p99 against the candidate count, at one
connection, for the service and both floors, drawn from the results JSON alone (the service and
the framework floor from the score section; the minimal floor from the paths section's
string-id, int8 rows, where it was measured)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

QUANTILES = ("p50_ms", "p99_ms")


def latency_series(doc: dict[str, Any]) -> dict[str, dict[int, dict[str, float]]]:
    """name -> candidate count -> {p50_ms, p99_ms}, one connection."""
    series: dict[str, dict[int, dict[str, float]]] = {"service": {}, "framework floor": {}}
    for row in doc["score"]:
        if row["connections"] == 1:
            series["service"][row["candidates"]] = row["service"]
            series["framework floor"][row["candidates"]] = row["floor"]
    minimal = {row["candidates"]: row["minimal_floor"] for row in (doc.get("paths") or {}).get(
        "rows", []) if row["connections"] == 1 and row["path"] == "main"}
    if minimal:
        series["minimal floor"] = minimal
    return series


def plot_latency(doc: dict[str, Any], out: Path) -> Path:
    """Write the figure of a serve results document to `out` (PNG); RuntimeError without
    matplotlib (a dev dependency)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: files only
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError as exc:
        raise RuntimeError("the figure needs matplotlib: pip install 'matplotlib>=3.8'") from exc
    series = latency_series(doc)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for ax, quantile in zip(axes, QUANTILES, strict=True):
        for name, points in series.items():
            counts = sorted(points)
            ax.plot(counts, [points[n][quantile] for n in counts], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("candidates per /score request (log)")
        ax.set_ylabel(f"{quantile.split('_')[0]} ms, one connection (log)")
        plain = FuncFormatter(lambda value, _: f"{value:g}")  # 0.5, not 5 x 10^-1
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    machine = doc["machine"]
    fig.suptitle(f"/score latency, {doc['config']['workers']} worker(s) for the service and the "
                 f"framework floor, 1 for the minimal floor; {machine.get('cpus', '?')} CPUs, "
                 f"{doc['date_utc']}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
