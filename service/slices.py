"""Large requests on several cores: a compiled kernel that releases the GIL run over slices of its
input on a few threads at once.

A /score request computes on the event loop (service.routes), so a one-worker server gives each
request one core. That suits small requests, which a thread hand-off (~20-50 µs) would only slow
down, but at 10,000 candidates the FE-Block alone is milliseconds of one core while the others
idle. Above `min_rows` rows a call is cut into up to `threads` slices: pool threads take all but
the first, the calling thread computes the first, and the results are joined in order. The
kernels (model.kernels.fused) are numba `nogil` functions, so the slices really run side by side.

At saturation every core is busy with other requests anyway; slicing then costs the hand-offs
and gains nothing, which is why the threshold is high. On a machine whose cores are shared it
can cost more than it gains even for one large request: it is off unless INTTOWER_SCORE_THREADS
asks for it (service.settings has the figures).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class SlicePool:
    def __init__(self, threads: int, min_rows: int) -> None:
        self._threads = threads
        self._min_rows = min_rows
        self._pool = (ThreadPoolExecutor(threads - 1, thread_name_prefix="inttower-slice")
                      if threads > 1 else None)

    def map(self, kernel: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
        """kernel(rows), computed slice by slice when `rows` is long enough: (N,) in order."""
        slices = min(self._threads, len(rows) // self._min_rows)
        if self._pool is None or slices < 2:
            return kernel(rows)
        parts = np.array_split(rows, slices)
        others = [self._pool.submit(kernel, part) for part in parts[1:]]
        first = kernel(parts[0])
        return np.concatenate([first, *(future.result() for future in others)])
