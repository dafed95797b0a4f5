"""Raw item ids -> catalogue rows for any catalogue (model.kernels.id_index chooses it).

A slot of the open-addressing table holds the id's row, its length and its first 24 bytes, packed
into four 64-bit words: for the ids of nearly every catalogue that is the whole id, so a lookup
reads one cache line and compares three words. (Longer ids are compared byte by byte with the
catalogue's copy.) The hash is FNV-1a with a random seed. A JSON integer of a request is looked up
as its digits (model.kernels.json_ids), so a catalogue that mixes "17" and "x" still finds 17.
Memory: 32 bytes per table slot (at most half full) plus the catalogue's ids as UTF-8.

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

# A slot: [row << 32 | length in bytes, then the id's first 24 bytes as three little-endian words,
# zero-padded]; an id longer than _INLINE bytes keeps its offset in the catalogue buffer in word 1.
_SLOT_WORDS = 4
_INLINE = 8 * (_SLOT_WORDS - 1)
_FNV_PRIME = np.uint64(0x100000001B3)
_LOW = np.int64(0xFFFFFFFF)


@njit(nogil=True, cache=True)
def _hashes_and_keys(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, seed: np.uint64,
                     mask: int) -> tuple[np.ndarray, np.ndarray]:
    """Home slots (N,) and keys (N * 4,) of the ids data[starts[i]:ends[i]] (uint8). The hash:
    FNV-1a, finished with a murmur3 mix for the low bits that `mask` keeps. A key is a slot's
    layout less the row: [length, then the id packed into three little-endian words if it fits,
    else its offset `start`]. One pass over each id's bytes, written inline: a helper function
    writing each id's key into the keys array, called per id, made this 3-4x slower (23 against
    6 µs for 1,000 ids, measured in process)."""
    n = starts.shape[0]
    homes, keys = np.empty(n, np.int64), np.zeros(n * _SLOT_WORDS, np.int64)
    for i in range(n):
        start, end, at = starts[i], ends[i], i * _SLOT_WORDS
        keys[at] = end - start
        h = seed
        for k in range(start, end):
            h = (h ^ np.uint64(data[k])) * _FNV_PRIME
            p = k - start
            if p < _INLINE:
                keys[at + 1 + (p >> 3)] |= np.int64(data[k]) << np.int64(8 * (p & 7))
        if end - start > _INLINE:
            keys[at + 1], keys[at + 2], keys[at + 3] = start, 0, 0
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        homes[i] = np.int64(h) & mask
    return homes, keys


@njit(nogil=True, cache=True)
def _insert(table: np.ndarray, data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
            seed: np.uint64) -> None:
    """Id `row` = data[starts[row]:ends[row]] into `table` (S, 4) int64, S a power of two, by
    linear probing."""
    mask, flat = table.shape[0] - 1, table.reshape(-1)
    homes, keys = _hashes_and_keys(data, starts, ends, seed, mask)
    for row in range(starts.shape[0]):
        slot = homes[row]
        while flat[slot * _SLOT_WORDS] != EMPTY:
            slot = (slot + 1) & mask
        at, key = slot * _SLOT_WORDS, row * _SLOT_WORDS
        flat[at:at + _SLOT_WORDS] = keys[key:key + _SLOT_WORDS]
        flat[at] |= np.int64(row) << np.int64(32)


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
    homes, keys = _hashes_and_keys(wanted, starts, ends, seed, mask)
    for i in range(n):
        if i + AHEAD < n:
            prefetch(flat, homes[i + AHEAD] * _SLOT_WORDS)
        key, slot = i * _SLOT_WORDS, homes[i]
        length = keys[key]
        out[i] = EMPTY
        while flat[slot * _SLOT_WORDS] != EMPTY:
            at = slot * _SLOT_WORDS
            if (flat[at] & _LOW) == length and (
                    _same_bytes(data, flat[at + 1], wanted, starts[i], length)
                    if length > _INLINE else
                    flat[at + 1] == keys[key + 1] and flat[at + 2] == keys[key + 2]
                    and flat[at + 3] == keys[key + 3]):
                out[i] = flat[at] >> np.int64(32)
                break
            slot = (slot + 1) & mask


class IdIndex:
    def __init__(self, ids: Sequence[str]) -> None:
        data, starts, ends = id_texts(ids)  # every catalogue id
        self._data = data
        self._seed = np.uint64(np.random.default_rng().integers(1 << 63))
        slots = 1 << max(4, (2 * len(ids) - 1).bit_length())
        self._table = aligned_empty((slots, _SLOT_WORDS), np.int64)  # a slot in one cache line
        self._table[:] = EMPTY
        _insert(self._table, data, starts, ends, self._seed)

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """(N,) int64: the catalogue row of each id, -1 where the catalogue lacks it."""
        return self.rows_in(*id_texts(ids))

    def rows_in(self, text: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """rows() of the ids text[starts[i]:ends[i]] (UTF-8 bytes, uint8), (N,) int64."""
        rows = np.empty(len(starts), np.int64)
        _find(self._table, self._data, text, starts, ends, self._seed, rows)
        return rows
