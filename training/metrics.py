"""Offline metrics (docs/data.md): AUC, logloss, GAUC and RelaImpr."""

from __future__ import annotations

import numpy as np
import pandas as pd

EPS = 1e-7


def auc(label: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve via the rank-sum statistic (ties get average ranks)."""
    label = np.asarray(label) > 0.5
    pos, neg = int(label.sum()), int((~label).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def logloss(label: np.ndarray, prob: np.ndarray) -> float:
    p = np.clip(np.asarray(prob, dtype=np.float64), EPS, 1 - EPS)
    y = np.asarray(label, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def gauc(label: np.ndarray, score: np.ndarray, group: np.ndarray) -> float:
    """Per-group AUC weighted by the group's row count, over groups holding both classes."""
    frame = pd.DataFrame({"y": np.asarray(label) > 0.5, "s": score, "g": group})
    # Rank within each group; the rank-sum AUC per group follows from sums over the positives.
    frame["r"] = frame.groupby("g")["s"].rank(method="average")
    stats = frame.groupby("g").agg(n=("y", "size"), pos=("y", "sum"))
    stats["rank_pos"] = frame[frame["y"]].groupby("g")["r"].sum()
    stats = stats[(stats["pos"] > 0) & (stats["pos"] < stats["n"])]
    if stats.empty:
        return float("nan")
    neg = stats["n"] - stats["pos"]
    per_group = (stats["rank_pos"] - stats["pos"] * (stats["pos"] + 1) / 2) / (stats["pos"] * neg)
    return float(np.average(per_group, weights=stats["n"]))


def rela_impr(auc_model: float, auc_base: float) -> float:
    """RelaImpr = (AUC - 0.5) / (AUC_base - 0.5) - 1."""
    return (auc_model - 0.5) / (auc_base - 0.5) - 1


def evaluate(label: np.ndarray, prob: np.ndarray, group: np.ndarray) -> dict[str, float]:
    return {"auc": auc(label, prob), "logloss": logloss(label, prob),
            "gauc": gauc(label, prob, group)}
