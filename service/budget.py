"""A request's latency budget: the candidates are scored in slices, in request order, until the
next slice would overrun it (the rate measured on the slices so far), and the response says how
many were scored - what a pre-ranker does when retrieval sends more than it can afford.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FIRST_SLICE = 256  # candidates scored before a budgeted request's rate is known (~30 µs on a CPU)
# One user's heads (L, Hu, d) and catalogue rows (N,) -> their logits (N,): Backend.logits.
Logits = Callable[[np.ndarray, np.ndarray], np.ndarray]


def logits_within(logits: Logits, heads: np.ndarray, rows: np.ndarray, deadline: float,
                  clock: Callable[[], float]) -> np.ndarray:
    """Logits of the first rows, in order, that fit before `deadline` (seconds of `clock`):
    slices sized by the rate measured so far, none started that would end past it."""
    parts, done = [], 0
    size = min(FIRST_SLICE, len(rows)) if clock() < deadline else 0
    while done < len(rows) and size > 0:
        started = clock()
        parts.append(logits(heads, rows[done: done + size]))
        done += size
        now = clock()
        per_row = max(now - started, 1e-9) / size
        size = min(len(rows) - done, int((deadline - now) / per_row))
    return np.concatenate(parts) if parts else np.empty(0, np.float32)
