"""Raw item ids -> catalogue rows for a whole request at once, exactly.

A Python dict answers one id at a time, and on a large catalogue each answer is a chain of
dependent cache misses (hash slot, entry, key object, value object): a few hundred nanoseconds per
id once the catalogue outgrows the cache, about what the FE-Block score of that candidate costs.
Here the request's ids are joined into one UTF-8 buffer (two C calls), and one compiled loop
hashes them all, then probes a flat open-addressing table built at load and confirms each hit by
comparing the bytes with the catalogue's. A slot holds the id's row and where its bytes are, so a
lookup is two reads (slot, bytes); the loop prefetches both a few ids ahead, and since no lookup
waits for another, their memory round trips overlap.

The hash is FNV-1a with a per-process random seed, so nobody can pick ids that collide on purpose;
collisions cost a longer probe, never a wrong row. Memory: 32 bytes per table slot (at most half
full) plus the catalogue's ids as UTF-8.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from model.prefetch import prefetch

_EMPTY = -1  # the row of an unused table slot
_HASH, _ROW, _START, _END = range(4)  # the columns of a table slot
_AHEAD = 8  # ids: a slot is prefetched this far ahead, the bytes it points to half as far
_SEPARATOR = "\x00"  # joins a request's ids; requests whose ids contain it take the slow path
_FNV_PRIME = np.uint64(0x100000001B3)


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
def _insert(table: np.ndarray, data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
            seed: np.uint64) -> None:
    """Id i = data[starts[i]:ends[i]] into `table` (S, 4) int64 [hash, row, start, end], S a power
    of two, by linear probing."""
    mask = table.shape[0] - 1
    for row in range(starts.shape[0]):
        h = _hash(data, starts[row], ends[row], seed)
        slot = h & mask
        while table[slot, _ROW] != _EMPTY:
            slot = (slot + 1) & mask
        table[slot, _HASH], table[slot, _ROW] = h, row
        table[slot, _START], table[slot, _END] = starts[row], ends[row]


@njit(nogil=True, cache=True)
def _same(a: np.ndarray, a_start: int, a_end: int, b: np.ndarray, b_start: int,
          b_end: int) -> bool:
    if a_end - a_start != b_end - b_start:
        return False
    for k in range(a_end - a_start):  # noqa: SIM110 - numba compiles loops, not generators
        if a[a_start + k] != b[b_start + k]:
            return False
    return True


@njit(nogil=True, cache=True)
def _find(table: np.ndarray, data: np.ndarray, wanted: np.ndarray, starts: np.ndarray,
          ends: np.ndarray, seed: np.uint64, out: np.ndarray) -> None:
    """out[i] = the catalogue row of the id wanted[starts[i]:ends[i]], or _EMPTY."""
    n, mask, slots = out.shape[0], table.shape[0] - 1, table.reshape(-1)
    hashes = np.empty(n, np.int64)
    for i in range(n):
        hashes[i] = _hash(wanted, starts[i], ends[i], seed)
    for i in range(n):
        if i + _AHEAD < n:
            prefetch(slots, (hashes[i + _AHEAD] & mask) * table.shape[1])
        if i + _AHEAD // 2 < n:  # that slot was prefetched a while ago: fetch the bytes it names
            prefetch(data, table[hashes[i + _AHEAD // 2] & mask, _START])
        h, slot = hashes[i], hashes[i] & mask
        out[i] = _EMPTY
        while table[slot, _ROW] != _EMPTY:
            if table[slot, _HASH] == h and _same(data, table[slot, _START], table[slot, _END],
                                                 wanted, starts[i], ends[i]):
                out[i] = table[slot, _ROW]
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
        self._table = np.full((slots, 4), _EMPTY, np.int64)
        _insert(self._table, data, starts, ends, self._seed)

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """(N,) int64: the catalogue row of each id, -1 where the catalogue lacks it."""
        rows = np.empty(len(ids), np.int64)
        joined = _SEPARATOR.join(ids)
        if joined.count(_SEPARATOR) == max(len(ids) - 1, 0):  # no id holds the separator
            wanted = np.frombuffer(joined.encode(), np.uint8)
            _find_joined(self._table, self._data, wanted, len(ids), self._seed, rows)
        else:
            _find(self._table, self._data, *_encode(ids), self._seed, rows)
        return rows
