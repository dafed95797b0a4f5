"""The FE-Block score of one user against N candidates, fused with the candidate gather (CPU).

    s(u, i) = Σ_r max_k <U*_r, V_i[k]>          (model.interaction.score_one_vs_n)

`score_one_vs_n` after `index_select` makes four passes over memory: copy the N candidates' item
heads out of the catalogue, write the (N, Hi, R) similarities, reduce them twice. This kernel makes
one: it reads each candidate's heads in place and keeps its similarities in registers. Random
catalogue rows are cold in cache, so it prefetches the rows of the candidate PREFETCH_AHEAD places
further on while it computes the current one; the memory wait then overlaps the arithmetic, and
the whole score costs little more than merely gathering the rows (`inttower bench kernel`).

It is the same sum as `score_one_vs_n`, in another order: tests/test_fused.py holds them equal.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from model.prefetch import prefetch

PREFETCH_AHEAD = 4  # candidates: enough to cover a DRAM round trip with one candidate's maths
_LINE_FLOATS = 16  # one 64-byte cache line of float32


@njit(fastmath=True, nogil=True, boundscheck=False, cache=True)
def _maxsim_rows(items: np.ndarray, rows: np.ndarray, user: np.ndarray, out: np.ndarray) -> None:
    """(Nc, Hi, d) catalogue, (N,) rows, (R, d) user stack -> out (N,): Σ_r max_k <user_r, v_k>."""
    n, heads, dim, rows_u = rows.shape[0], items.shape[1], items.shape[2], user.shape[0]
    width = heads * dim
    flat = items.reshape(-1)
    for i in range(n):
        if i + PREFETCH_AHEAD < n:
            start = rows[i + PREFETCH_AHEAD] * width
            for offset in range(0, width, _LINE_FLOATS):
                prefetch(flat, start + offset)
        v = items[rows[i]]  # (Hi, d), read in place
        total = np.float32(0.0)
        # Register blocks of two user rows x four item heads: each load of v[k, j] or user[r, j]
        # feeds two or four multiply-adds, and the j loop vectorises. Indices past the last row or
        # head repeat it: a head counted twice does not change a max; a row is added once.
        for r in range(0, rows_u, 2):
            r1 = min(r + 1, rows_u - 1)
            best0 = best1 = np.float32(-np.inf)
            for k in range(0, heads, 4):
                k1, k2, k3 = min(k + 1, heads - 1), min(k + 2, heads - 1), min(k + 3, heads - 1)
                a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = np.float32(0.0)
                for j in range(dim):
                    u0, u1 = user[r, j], user[r1, j]
                    x0, x1, x2, x3 = v[k, j], v[k1, j], v[k2, j], v[k3, j]
                    a0 += x0 * u0
                    a1 += x1 * u0
                    a2 += x2 * u0
                    a3 += x3 * u0
                    b0 += x0 * u1
                    b1 += x1 * u1
                    b2 += x2 * u1
                    b3 += x3 * u1
                best0 = max(best0, max(max(a0, a1), max(a2, a3)))
                best1 = max(best1, max(max(b0, b1), max(b2, b3)))
            total += best0 + best1 if r1 != r else best0
        out[i] = total


def maxsim_rows(items: np.ndarray, rows: np.ndarray, user_stack: np.ndarray) -> np.ndarray:
    """FE-Block MaxSim of the catalogue rows `rows` against one user: (N,) float32.

    items: (N_items, Hi, d) float32, C-contiguous (rows on 64-byte boundaries are fastest:
    model.aligned); rows: (N,) int64, each in [0, N_items) - unchecked; user_stack: (L*Hu, d).
    """
    out = np.empty(len(rows), np.float32)
    _maxsim_rows(items, rows, np.ascontiguousarray(user_stack, np.float32), out)
    return out

