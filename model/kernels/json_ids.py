"""A JSON array of ids read where it lies in a request body: the bounds of each id's text.

The common request sends its ids as ASCII strings without escapes, or as JSON integers. For those
the bytes between the quotes, or the integer's digits, are the id itself (an integer id is its
decimal string). So the id indexes look the ids up in the body's bytes (`rows_in` of
model.kernels.string_id_index and model.kernels.integer_id_index) and the response writes them
back from the same bytes (`spell`): no Python string is made per id. Making them was most of a
request's id cost: ~35 µs to validate 1,000 string ids into a list, ~10 µs to join and encode it
again for the lookup.

`id_bounds` answers None for anything else: an escape, a byte outside printable ASCII, a number
with a fraction or an exponent, "-0" (whose id is "0"), another JSON type, an empty array. The
caller then validates the body in full (service.schemas), which accepts it or names the error.
The text must already be valid JSON (service.fast_body has msgspec check it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_QUOTE, _BACKSLASH, _COMMA, _MINUS = 34, 92, 44, 45
_OPEN, _CLOSE = 91, 93  # [ ]
_ZERO, _NINE = 48, 57
# The bytes an id string holds as is: printable ASCII (JSON forbids raw bytes below 32; 127 and up
# is not ASCII) but the quote that ends it and the backslash that starts an escape.
_PLAIN = np.zeros(256, np.bool_)
_PLAIN[32:127] = True
_PLAIN[[_QUOTE, _BACKSLASH]] = False


@njit(nogil=True, cache=True)
def _blank(byte: int) -> bool:
    return byte == 32 or byte == 10 or byte == 13 or byte == 9  # JSON's whitespace


@njit(nogil=True, cache=True)
def _scan(text: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[int, bool]:
    """Bounds of each id of the JSON array `text` (uint8) into starts / ends; the count, or -1
    if `text` is not an array of the simple ids the module describes; and whether every id was
    a string."""
    end = text.shape[0]
    if end < 2 or text[0] != _OPEN:
        return -1, False
    count, i, strings = 0, 1, True
    while i < end:
        while i < end and _blank(text[i]):
            i += 1
        if i == end:
            return -1, False
        byte = text[i]
        if byte == _QUOTE:
            i += 1
            start = i
            while i < end and _PLAIN[text[i]]:
                i += 1
            if i == end or text[i] != _QUOTE:  # an escape, a byte outside printable ASCII
                return -1, False
            starts[count], ends[count] = start, i
            i += 1  # past the closing quote
        elif byte == _MINUS or _ZERO <= byte <= _NINE:
            start = i
            i += 1
            while i < end and _ZERO <= text[i] <= _NINE:
                i += 1
            if i - start < 2 and byte == _MINUS:
                return -1, False
            if byte == _MINUS and text[start + 1] == _ZERO:  # "-0", or JSON's own refusal "-01"
                return -1, False
            starts[count], ends[count] = start, i
            strings = False
        else:  # ], an empty array; or an object, an array, true, false, null
            return -1, False
        count += 1
        while i < end and _blank(text[i]):
            i += 1
        if i == end:
            return -1, False
        if text[i] == _CLOSE:
            return (count, strings) if i == end - 1 else (-1, False)
        if text[i] != _COMMA:  # ".", "e": a number that is not an integer
            return -1, False
        i += 1
    return -1, False


def id_bounds(text: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """Where each id of the JSON array `text` (bytes,) uint8 starts and ends, (N,) int64 each,
    and whether they were all strings (then `text` is already their JSON array of strings); None
    unless every id is an escape-free printable-ASCII string or an integer."""
    capacity = text.shape[0] // 2  # each id takes at least two bytes: a digit and a comma or ]
    starts, ends = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
    count, strings = _scan(text, starts, ends)
    return None if count < 0 else (starts[:count], ends[:count], strings)


@njit(nogil=True, cache=True)
def _spell(text: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    n = starts.shape[0]
    out = np.empty(int((ends - starts).sum()) + 3 * n + 2 - (n > 0), np.uint8)
    out[0], at = _OPEN, 1
    for i in range(n):
        if i:
            out[at] = _COMMA
            at += 1
        out[at] = _QUOTE
        at += 1
        for k in range(starts[i], ends[i]):
            out[at] = text[k]
            at += 1
        out[at] = _QUOTE
        at += 1
    out[at] = _CLOSE
    return out


def spell(text: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """The ids text[starts[i]:ends[i]] as a JSON array of strings, b'["a","17"]'. Each must
    need no escape (id_bounds' ids do not)."""
    return _spell(text, starts, ends).tobytes()
