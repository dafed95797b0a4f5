"""A request's ids as one buffer: the UTF-8 bytes of every id, joined by a zero byte.

Turning N Python strings into a buffer costs two C calls (join, encode); the compiled index
lookups (model.kernels.string_id_index, model.kernels.integer_id_index) then answer them all in
one call instead of one Python step per id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SEPARATOR = "\x00"
EMPTY = -1  # "no row": an unknown id, an unused table slot
AHEAD = 8  # ids: how far ahead a lookup prefetches its table slot


def joined_ids(ids: Sequence[str]) -> np.ndarray | None:
    """(bytes,) uint8: `ids` encoded and joined by SEPARATOR; None when an id holds SEPARATOR
    itself, since the buffer could not then be split back into the same ids."""
    joined = SEPARATOR.join(ids)
    if joined.count(SEPARATOR) != max(len(ids) - 1, 0):
        return None
    return np.frombuffer(joined.encode(), np.uint8)


def is_integer_array(ids: Sequence[str] | np.ndarray) -> bool:
    """Whether `ids` are a request's JSON integers (an int64 array, service.schemas.ItemIds)."""
    return isinstance(ids, np.ndarray) and ids.dtype.kind in "iu"
