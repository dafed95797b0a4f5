"""Raw item ids -> catalogue rows when every catalogue id is a canonical decimal integer (ASCII
digits, no sign, no leading zero but in "0", at most int64's maximum: MovieLens and most
production catalogues); model.kernels.id_index chooses it.

The loop parses each string id's digits straight to an int64 and looks the value up; a string
that is not canonical ("007", "+7", " 7", "1e3") is unknown, since no catalogue id is written so.
An int64 array skips the parse. Values map to rows through a dense int32 array indexed by value
when the largest id is below max(8 x catalogue size, 2**20): 4 bytes per possible value, so at
most the 32-64 bytes per item the alternative takes (or 4 MiB, for a small catalogue), and one
read with no hashing. Sparser ids (say up to 10**15) go through an open-addressing table of
(value, row) slots, 16 bytes each, at most half full, probed linearly from a murmur3 mix of the
value and a random seed. 10,000 ids of a 100,000-item catalogue took ~15 µs as an int64 array and
~180 µs as strings (IdIndex: ~400 µs); building for 1,000,000 ids, 40-100 ms (IdIndex: ~450 ms).

The hash takes a random seed per index, so nobody can pick ids that collide on purpose;
collisions cost a longer probe, never a wrong row. A duplicated catalogue id answers its first
row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from model.kernels.aligned import aligned_empty
from model.kernels.joined_ids import AHEAD, EMPTY, SEPARATOR, is_integer_array, joined_ids
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
def _parse_joined(joined: np.ndarray, count: int) -> np.ndarray:
    """(count,) int64: the _decimal value of each of the `count` ids in `joined`, separated by
    single zero bytes."""
    values = np.empty(count, np.int64)
    if count:
        token, start, end = 0, 0, joined.shape[0]
        for k in range(end + 1):
            if k == end or joined[k] == 0:
                values[token] = _decimal(joined, start, k)
                token += 1
                start = k + 1
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


@njit(nogil=True, cache=True)
def _lookup_joined(dense: np.ndarray, table: np.ndarray, seed: np.uint64, joined: np.ndarray,
                   count: int, out: np.ndarray) -> None:
    """_lookup for `count` string ids joined by zero bytes: parse and look up in one call."""
    _lookup(dense, table, seed, _parse_joined(joined, count), out)


def integer_ids(ids: Sequence[str]) -> np.ndarray | None:
    """(N,) int64: the value of each id if every one is a canonical decimal integer, else None."""
    joined = joined_ids(ids)
    if joined is None:  # an id holds the separator: not an integer
        return None
    values = _parse_joined(joined, len(ids))
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

    def rows(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """(N,) int64: the catalogue row of each id, -1 where the catalogue lacks it. Strings
        count only in canonical form ("007" is not 7); negative integers are unknown."""
        rows = np.empty(len(ids), np.int64)
        if is_integer_array(ids):  # uint64 beyond int64 wraps negative: unknown, rightly
            values = np.ascontiguousarray(ids, np.int64)
            _lookup(self._dense, self._table, self._seed, values, rows)
            return rows
        wanted = joined_ids(ids)
        if wanted is None:  # "" for the ids holding the separator: unknown, as they should be
            wanted = joined_ids(["" if SEPARATOR in i else i for i in ids])
        _lookup_joined(self._dense, self._table, self._seed, wanted, len(ids), rows)
        return rows
