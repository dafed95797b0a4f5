"""Arrays whose rows start on cache-line boundaries.

An item row of Hi·d float32 (512 bytes by default) that starts mid-line spans one cache line more
than it needs; random-row gathers (model.kernels.fused) then read 9 lines per candidate instead of
8. numpy's allocator only promises 16-byte alignment, so the catalogue is copied into one of these.
"""

from __future__ import annotations

import numpy as np

CACHE_LINE = 64


def aligned_empty(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array whose first byte sits on a cache-line boundary."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = np.empty(size + CACHE_LINE, np.uint8)
    start = -buffer.ctypes.data % CACHE_LINE
    return buffer[start:start + size].view(dtype).reshape(shape)


def aligned_copy(array: np.ndarray) -> np.ndarray:
    """`array` copied into cache-line-aligned memory (its dtype and shape)."""
    out = aligned_empty(array.shape, array.dtype.type)
    out[...] = array
    return out
