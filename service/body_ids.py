"""A request's item ids kept as they lie in its body until the response is written.

Response ids are strings, the catalogue's own, in request order. The common request's ids are
escape-free ASCII strings or JSON integers, and for those the id is the text in the body (an
integer id is its decimal string; model.kernels.json_ids finds the bounds), so the ids never
become Python strings: the id index looks them up in place and the response writes them from the
same bytes, a compiled copy with quotes around each, or, when the response lists every id as
sent and all were strings, the request's array itself. Making a string per id and having orjson read
each one back cost ~100 µs a request at 1,000 candidates on a 100,000-item catalogue (measured with
py-spy under load): the strings lie scattered through memory, cold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np
import orjson

from model.kernels.json_ids import id_bounds, spell


class BodyIds(Sequence[str]):
    def __init__(self, text: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 verbatim: bool = False) -> None:
        self.text = text  # (bytes,) uint8: the request body's array of ids, or more of the body
        self.starts = starts  # (N,) int64: where id i begins in `text`
        self.ends = ends  # (N,) int64: where it ends
        self.verbatim = verbatim  # `text` is exactly these ids' JSON array of strings

    def __len__(self) -> int:
        return len(self.starts)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> BodyIds: ...

    def __getitem__(self, index: int | slice) -> str | BodyIds:
        if isinstance(index, slice):
            return BodyIds(self.text, self.starts[index], self.ends[index])
        return self.text[self.starts[index]:self.ends[index]].tobytes().decode()

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def take(self, positions: np.ndarray) -> BodyIds:
        """The ids at `positions` (K,), in that order."""
        return BodyIds(self.text, self.starts[positions], self.ends[positions])

    def json(self) -> orjson.Fragment:
        """The ids as a JSON array of strings, ready to embed in an orjson document."""
        if self.verbatim:
            return orjson.Fragment(self.text.tobytes())
        return orjson.Fragment(spell(self.text, self.starts, self.ends))


def body_ids(array: bytes | memoryview) -> BodyIds | None:
    """The ids of the JSON array `array` (valid JSON) kept in its bytes; None unless every id is
    an escape-free printable-ASCII string or an integer (model.kernels.json_ids)."""
    text = np.frombuffer(array, np.uint8)
    found = id_bounds(text)
    if found is None:
        return None
    starts, ends, strings = found
    return BodyIds(text, starts, ends, verbatim=strings)
