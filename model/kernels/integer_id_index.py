"""Raw item ids -> catalogue rows when every catalogue id is a canonical decimal integer (ASCII
digits, no sign, no leading zero but in "0", at most int64's maximum: MovieLens and most
production catalogues); model.kernels.id_index chooses it.

The loop parses each id's digits straight to an int64 and looks the value up; an id that is not
canonical ("007", "+7", " 7", "1e3", and a request's negative JSON integers) is unknown, since no
catalogue id is written so. Values map to rows through a dense int32 array indexed by value
when the largest id is below max(8 x catalogue size, 2**20): 4 bytes per possible value, so at
most the 32-64 bytes per item the alternative takes (or 4 MiB, for a small catalogue), and one
read with no hashing. Sparser ids (say up to 10**15) go through an open-addressing table of
(value, row) slots, 16 bytes each, at most half full, probed linearly from a murmur3 mix of the
value and a random seed. Building for 1,000,000 ids took 40-100 ms (IdIndex: ~450 ms).

The hash takes a random seed per index, so nobody can pick ids that collide on purpose;
collisions cost a longer probe, never a wrong row. A duplicated catalogue id answers its first
row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from model.kernels.aligned import aligned_empty
from model.kernels.joined_ids import AHEAD, EMPTY, id_texts
from model.kernels.prefetch import prefetch

# A hash slot: [catalogue id (>= 0; EMPTY when unused), row].
_INT_SLOT_WORDS = 2
_MAX_DIGITS = 19  # int64's maximum, 9223372036854775807, has 19 digits
_INT64_MAX = np.uint64(np.iinfo(np.int64).max)
_ZERO_CHAR = 48  # ord("0")
_DENSE_PER_ITEM = 8  # dense when the largest id < max(this x catalogue size, _DENSE_FLOOR)
_DENSE_FLOOR = 1 << 20  # 4 MiB of int32 rows


@njit(nogil=True, cache=True)
def _decimal(data: np.ndarray, start: int, end: int) -> np.int64:
    """The value of data[start:end] (uint8) if it is a canonical decimal integer in int64, else
    EMPTY: no sign, no leading zero but in "0", ASCII digits only."""
    length = end - start
    if length == 0 or length > _MAX_DIGITS or (data[start] == _ZERO_CHAR and length > 1):
        return np.int64(EMPTY)
    value = np.uint64(0)  # 19 digits stay below 2**64: no overflow before the final check
    for k in range(start, end):
        digit = np.int64(data[k]) - _ZERO_CHAR
        if digit < 0 or digit > 9:
            return np.int64(EMPTY)
        value = value * np.uint64(10) + np.uint64(digit)
    return np.int64(value) if value <= _INT64_MAX else np.int64(EMPTY)


@njit(nogil=True, cache=True)
def _decimals(text: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(N,) int64: the _decimal value of each id text[starts[i]:ends[i]]."""
    values = np.empty(starts.shape[0], np.int64)
    for i in range(starts.shape[0]):
        values[i] = _decimal(text, starts[i], ends[i])
    return values


@njit(nogil=True, cache=True)
def _home(value: int, seed: np.uint64, mask: int) -> np.int64:
    """The home slot of `value`: murmur3's 64-bit finaliser of value ^ seed, low bits."""
    h = np.uint64(value) ^ seed
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return np.int64(h & np.uint64(mask))


@njit(nogil=True, cache=True)
def _place_dense(dense: np.ndarray, values: np.ndarray) -> None:
    """dense[value] = the first row holding each catalogue id in `values` (N,)."""
    for row in range(values.shape[0]):
        if dense[values[row]] == EMPTY:
            dense[values[row]] = row


@njit(nogil=True, cache=True)
def _place_hashed(table: np.ndarray, values: np.ndarray, seed: np.uint64) -> None:
    """The first row holding each catalogue id in `values` (N,) into `table` (S, 2) int64, S a
    power of two, by linear probing."""
    mask = table.shape[0] - 1
    for row in range(values.shape[0]):
        slot = _home(values[row], seed, mask)
        while table[slot, 0] != EMPTY and table[slot, 0] != values[row]:
            slot = (slot + 1) & mask
        if table[slot, 0] == EMPTY:
            table[slot, 0], table[slot, 1] = values[row], row


@njit(nogil=True, cache=True)
def _dense_rows(dense: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    n, size = values.shape[0], dense.shape[0]
    for i in range(n):
        ahead = values[i + AHEAD] if i + AHEAD < n else -1
        if 0 <= ahead < size:
            prefetch(dense, ahead)
        value = values[i]
        out[i] = dense[value] if 0 <= value < size else EMPTY


@njit(nogil=True, cache=True)
def _hashed_rows(table: np.ndarray, seed: np.uint64, values: np.ndarray,
                 out: np.ndarray) -> None:
    n, mask, flat = values.shape[0], table.shape[0] - 1, table.reshape(-1)
    homes = np.empty(n, np.int64)
    for i in range(n):
        homes[i] = _home(values[i], seed, mask)
    for i in range(n):
        if i + AHEAD < n:
            prefetch(flat, homes[i + AHEAD] * _INT_SLOT_WORDS)
        value, slot = values[i], homes[i]
        out[i] = EMPTY
        if value < 0:  # no catalogue id is negative, and EMPTY marks an unused slot
            continue
        while table[slot, 0] != EMPTY:
            if table[slot, 0] == value:
                out[i] = table[slot, 1]
                break
            slot = (slot + 1) & mask


@njit(nogil=True, cache=True)
def _lookup(dense: np.ndarray, table: np.ndarray, seed: np.uint64, values: np.ndarray,
            out: np.ndarray) -> None:
    """out[i] = the row of catalogue id values[i], or EMPTY: from `table` unless it is empty,
    else from `dense`."""
    if table.shape[0]:
        _hashed_rows(table, seed, values, out)
    else:
        _dense_rows(dense, values, out)


def integer_ids(ids: Sequence[str]) -> np.ndarray | None:
    """(N,) int64: the value of each id if every one is a canonical decimal integer, else None."""
    values = _decimals(*id_texts(ids))
    return values if (values >= 0).all() else None


class IntegerIdIndex:
    def __init__(self, values: np.ndarray) -> None:
        """`values` (N,) int64 >= 0: the catalogue id of each row."""
        values = np.ascontiguousarray(values, np.int64)
        if len(values) and values.min() < 0:
            raise ValueError("integer catalogue ids are >= 0")
        self._seed = np.uint64(np.random.default_rng().integers(1 << 63))
        size = int(values.max()) + 1 if len(values) else 0
        # Dense: 4 bytes per possible id, at most the 32-64 per item the table would take.
        if size <= max(_DENSE_PER_ITEM * len(values), _DENSE_FLOOR):
            self._dense = np.full(size, EMPTY, np.int32)
            self._table = np.empty((0, _INT_SLOT_WORDS), np.int64)
            _place_dense(self._dense, values)
        else:
            slots = 1 << max(4, (2 * len(values) - 1).bit_length())
            self._dense = np.empty(0, np.int32)
            self._table = aligned_empty((slots, _INT_SLOT_WORDS), np.int64)  # 4 slots a line
            self._table[:] = EMPTY
            _place_hashed(self._table, values, self._seed)

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """(N,) int64: the catalogue row of each id, -1 where the catalogue lacks it. Ids count
        only in canonical form ("007" is not 7)."""
        return self.rows_in(*id_texts(ids))

    def rows_in(self, text: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """rows() of the ids text[starts[i]:ends[i]] (UTF-8 bytes, uint8), (N,) int64."""
        rows = np.empty(len(starts), np.int64)
        _lookup(self._dense, self._table, self._seed, _decimals(text, starts, ends), rows)
        return rows
