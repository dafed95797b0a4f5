"""A request's string ids as one buffer for the compiled lookups: the UTF-8 bytes of every id
back to back, and where each starts and ends.

Turning N Python strings into a buffer costs two C calls (join with a zero byte, encode) and one
compiled pass that finds the zero bytes; the id indexes (model.kernels.string_id_index,
model.kernels.integer_id_index) then answer all the ids in one call (`rows_in`) instead of one
Python step per id. A request's body can hand them its own bytes instead (model.kernels.json_ids).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

SEPARATOR = "\x00"
EMPTY = -1  # "no row": an unknown id, an unused table slot
AHEAD = 8  # ids: how far ahead a lookup prefetches its table slot


@njit(nogil=True, cache=True)
def _split(joined: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (count,) of the `count` ids in `joined`, separated by single zero bytes."""
    starts, ends = np.empty(count, np.int64), np.empty(count, np.int64)
    if count:
        starts[0], ends[count - 1], token = 0, joined.shape[0], 0
        for k in range(joined.shape[0]):
            if joined[k] == 0:
                ends[token] = k
                token += 1
                starts[token] = k + 1
    return starts, ends


def id_texts(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes,) uint8: the UTF-8 bytes of `ids`; then each id's start and end in them, (N,) int64
    each. An id holding SEPARATOR itself could not be split back out of the joined buffer: then
    the ids are encoded one by one."""
    joined = SEPARATOR.join(ids)
    if joined.count(SEPARATOR) == max(len(ids) - 1, 0):
        text = np.frombuffer(joined.encode(), np.uint8)
        return text, *_split(text, len(ids))
    encoded = [i.encode() for i in ids]
    bounds = np.zeros(len(ids) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, encoded), np.int64, len(ids)), out=bounds[1:])
    return np.frombuffer(b"".join(encoded), np.uint8), bounds[:-1], bounds[1:]
