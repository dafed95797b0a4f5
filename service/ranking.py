"""Logits -> what a response holds: the best first, and click probabilities."""

from __future__ import annotations

import numpy as np
from numba import njit


def best_first(logits: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` largest logits (all of them if fewer), largest first."""
    top = np.argpartition(-logits, k - 1)[:k] if k < len(logits) else np.arange(len(logits))
    return top[np.argsort(-logits[top], kind="stable")]


@njit(nogil=True, cache=True)
def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Click probabilities 1 / (1 + e^-x), float32, in one compiled pass (no temporaries; below
    x ≈ -88, e^-x is inf and the probability 0, as it should be)."""
    out = np.empty_like(logits)
    for i in range(logits.shape[0]):
        out[i] = 1 / (1 + np.exp(-logits[i]))
    return out
