"""How a challenger's answer differs from the live bundle's, for one request (shadow rollouts).

Both score the same candidates; the figures are taken over the candidates both bundles know:
- top-k overlap: the share of the live top k that the challenger also ranks in its top k
  (k = 10 and 50, or every candidate when fewer): 1 for the same head of the list, 0 for none;
- rank correlation: Spearman's, the Pearson correlation of the two rankings (ties ranked by
  position): 1 for the same order, -1 for the reverse; None below two candidates;
- score shift: the mean of challenger - live probability (calibration drift).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from service.integer_ids import IntegerIds

OVERLAP_KS = (10, 50)


@dataclass(frozen=True)
class Comparison:
    candidates: int  # scored by both
    overlap: dict[int, float]  # k -> top-k overlap
    rank_correlation: float | None
    score_shift: float


def compare(live_ids: Sequence[str], live_scores: np.ndarray,
            challenger_ids: Sequence[str], challenger_scores: np.ndarray) -> Comparison | None:
    """The figures above for two answers over the same request (ids in any order, each with
    its (N,) scores); None when no candidate is scored by both."""
    live_scores, challenger_scores = _aligned(live_ids, live_scores, challenger_ids,
                                              challenger_scores)
    n = len(live_scores)
    if n == 0:
        return None
    overlap = {k: _overlap(live_scores, challenger_scores, min(k, n)) for k in OVERLAP_KS}
    shift = float(np.mean(challenger_scores.astype(np.float64) - live_scores))
    return Comparison(n, overlap, _spearman(live_scores, challenger_scores), shift)


def _aligned(live_ids: Sequence[str], live_scores: np.ndarray, challenger_ids: Sequence[str],
             challenger_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two score arrays over the ids both hold, in the live answer's order. Bundles of one
    catalogue answer with the same list, which one comparison finds; else an index join."""
    if _same(live_ids, challenger_ids):
        return live_scores, challenger_scores
    position = pd.Index(list(challenger_ids)).get_indexer(list(live_ids))  # -1: unknown there
    both = position >= 0
    return live_scores[both], challenger_scores[position[both]]


def _same(a: Sequence[str], b: Sequence[str]) -> bool:
    if isinstance(a, IntegerIds) and isinstance(b, IntegerIds):  # JSON-integer requests
        return np.array_equal(a.values, b.values)
    return len(a) == len(b) and list(a) == list(b)


def _overlap(a: np.ndarray, b: np.ndarray, k: int) -> float:
    return len(np.intersect1d(_top(a, k), _top(b, k))) / k


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores (ties: the earlier position first)."""
    return np.argsort(-scores, kind="stable")[:k]


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2:
        return None
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def _ranks(scores: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(scores), np.float64)
    ranks[np.argsort(scores, kind="stable")] = np.arange(len(scores))
    return ranks
