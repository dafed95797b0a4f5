"""Train / validation / test splits of the interaction rows (docs/data.md)."""

from __future__ import annotations

from enum import StrEnum

import numpy as np

FRACTIONS = (0.8, 0.1, 0.1)


class SplitKind(StrEnum):
    random = "random"  # seeded shuffle, 80/10/10: comparable with the paper
    temporal = "temporal"  # stable sort by timestamp, global 80/10/10: later rows are test


class HeldOut(StrEnum):
    """The splits a model is scored on."""

    valid = "valid"
    test = "test"


class EvalMode(StrEnum):
    """How a held-out row's features are formed: as a bundle would serve that row."""

    # No request features: users and items in their state at the train cutoff (all their train
    # events), item vectors as stored. Early stopping and every model choice use this mode.
    cutoff = "cutoff"
    # A caller sends fresh user_features: the user's state as of the row from ALL logged events
    # strictly earlier (train and earlier valid / test events, ties excluded); items at the cutoff.
    online = "online"


def split_rows(timestamp: np.ndarray, kind: SplitKind, seed: int) -> dict[str, np.ndarray]:
    """Row positions of each split, from every interaction's (N,) timestamp: {"train", "valid",
    "test"} -> int64 arrays."""
    n = len(timestamp)
    if kind is SplitKind.random:
        order = np.random.default_rng(seed).permutation(n)
    else:
        order = np.argsort(timestamp, kind="stable")
    cut_train = int(n * FRACTIONS[0])
    cut_valid = int(n * (FRACTIONS[0] + FRACTIONS[1]))
    return {
        "train": order[:cut_train],
        "valid": order[cut_train:cut_valid],
        "test": order[cut_valid:],
    }
