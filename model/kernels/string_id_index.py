"""Raw item ids -> catalogue rows for any catalogue (model.kernels.id_index chooses it).

A slot of the open-addressing table holds the id's row, its length and its first 24 bytes, packed
into four 64-bit words: for the ids of nearly every catalogue that is the whole id, so a lookup
reads one cache line and compares three words. (Longer ids are compared byte by byte with the
catalogue's copy.) The hash is FNV-1a with a random seed. An int64 array of ids is turned into
decimal strings first, so a catalogue that mixes "17" and "x" still finds 17. Memory: 32 bytes per
table slot (at most half full) plus the catalogue's ids as UTF-8.

The hash takes a random seed per index, so nobody can pick ids that collide on purpose;
collisions cost a longer probe, never a wrong row. A duplicated catalogue id answers its first
row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from model.kernels.aligned import aligned_empty
from model.kernels.joined_ids import AHEAD, EMPTY, is_integer_array, joined_ids
from model.kernels.prefetch import prefetch

# A slot: [row << 32 | length in bytes, then the id's first 24 bytes as three little-endian words,
# zero-padded]; an id longer than _INLINE bytes keeps its offset in the catalogue buffer in word 1.
_SLOT_WORDS = 4
_INLINE = 8 * (_SLOT_WORDS - 1)
_FNV_PRIME = np.uint64(0x100000001B3)
_LOW = np.int64(0xFFFFFFFF)


@njit(nogil=True, cache=True)
def _hash(data: np.ndarray, start: int, end: int, seed: np.uint64) -> np.int64:
    """FNV-1a of data[start:end] (uint8), finished with a murmur3 mix for the low bits that the
    table mask keeps."""
    h = seed
    for k in range(start, end):
        h = (h ^ np.uint64(data[k])) * _FNV_PRIME
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return np.int64(h)


@njit(nogil=True, cache=True)
def _key(data: np.ndarray, start: int, end: int, key: np.ndarray) -> None:
    """key (4,) int64 <- [length, then data[start:end] packed into three words if it fits, else
    its offset `start`] - a slot's layout, less the row."""
    length = end - start
    key[0], key[1], key[2], key[3] = length, 0, 0, 0
    if length > _INLINE:
        key[1] = start
        return
    for k in range(length):
        key[1 + (k >> 3)] |= np.int64(data[start + k]) << np.int64(8 * (k & 7))


@njit(nogil=True, cache=True)
def _insert(table: np.ndarray, data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
            seed: np.uint64) -> None:
    """Id `row` = data[starts[row]:ends[row]] into `table` (S, 4) int64, S a power of two, by
    linear probing."""
    mask = table.shape[0] - 1
    key = np.empty(_SLOT_WORDS, np.int64)
    for row in range(starts.shape[0]):
        slot = _hash(data, starts[row], ends[row], seed) & mask
        while table[slot, 0] != EMPTY:
            slot = (slot + 1) & mask
        _key(data, starts[row], ends[row], key)
        table[slot, :] = key
        table[slot, 0] |= np.int64(row) << np.int64(32)


@njit(nogil=True, cache=True)
def _same_bytes(a: np.ndarray, a_start: int, b: np.ndarray, b_start: int, length: int) -> bool:
    for k in range(length):  # noqa: SIM110 - numba compiles loops, not generators
        if a[a_start + k] != b[b_start + k]:
            return False
    return True


@njit(nogil=True, cache=True)
def _find(table: np.ndarray, data: np.ndarray, wanted: np.ndarray, starts: np.ndarray,
          ends: np.ndarray, seed: np.uint64, out: np.ndarray) -> None:
    """out[i] = the catalogue row of the id wanted[starts[i]:ends[i]], or EMPTY."""
    n, mask, flat = out.shape[0], table.shape[0] - 1, table.reshape(-1)
    homes, keys = np.empty(n, np.int64), np.empty((n, _SLOT_WORDS), np.int64)
    for i in range(n):
        homes[i] = _hash(wanted, starts[i], ends[i], seed) & mask
        _key(wanted, starts[i], ends[i], keys[i])
    for i in range(n):
        if i + AHEAD < n:
            prefetch(flat, homes[i + AHEAD] * _SLOT_WORDS)
        length, slot = keys[i, 0], homes[i]
        out[i] = EMPTY
        while table[slot, 0] != EMPTY:
            if (table[slot, 0] & _LOW) == length and (
                    _same_bytes(data, table[slot, 1], wanted, starts[i], length)
                    if length > _INLINE else
                    table[slot, 1] == keys[i, 1] and table[slot, 2] == keys[i, 2]
                    and table[slot, 3] == keys[i, 3]):
                out[i] = table[slot, 0] >> np.int64(32)
                break
            slot = (slot + 1) & mask


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


@njit(nogil=True, cache=True)
def _find_joined(table: np.ndarray, data: np.ndarray, joined: np.ndarray, count: int,
                 seed: np.uint64, out: np.ndarray) -> None:
    """_find for `count` ids joined by zero bytes: one compiled call per request."""
    starts, ends = _split(joined, count)
    _find(table, data, joined, starts, ends, seed, out)


def _encode(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UTF-8 bytes of all `ids` back to back (uint8), and where each starts and ends (N,)."""
    encoded = [i.encode() for i in ids]
    bounds = np.zeros(len(ids) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, encoded), np.int64, len(ids)), out=bounds[1:])
    return np.frombuffer(b"".join(encoded), np.uint8), bounds[:-1], bounds[1:]


class IdIndex:
    def __init__(self, ids: Sequence[str]) -> None:
        data, starts, ends = _encode(ids)  # every catalogue id, back to back
        self._data = data
        self._seed = np.uint64(np.random.default_rng().integers(1 << 63))
        slots = 1 << max(4, (2 * len(ids) - 1).bit_length())
        self._table = aligned_empty((slots, _SLOT_WORDS), np.int64)  # a slot in one cache line
        self._table[:] = EMPTY
        _insert(self._table, data, starts, ends, self._seed)

    def rows(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """(N,) int64: the catalogue row of each id, -1 where the catalogue lacks it. An integer
        array stands for its decimal strings ("-7" for -7)."""
        if is_integer_array(ids):
            ids = list(map(str, ids.tolist()))
        rows = np.empty(len(ids), np.int64)
        wanted = joined_ids(ids)
        if wanted is not None:
            _find_joined(self._table, self._data, wanted, len(ids), self._seed, rows)
        else:  # an id holds the separator: each id's own bounds
            _find(self._table, self._data, *_encode(ids), self._seed, rows)
        return rows
