"""A request's `user_features` -> one encoded user row, by the bundle codec's rules, in µs.

The row starts from the user's stored row (a known user: its state at the training cutoff) or
from the bundle's default row (an unknown user: OOV id, missing features, no events), and each
field the request gives replaces that field's encoded value:
- a categorical or multi-valued column: a string (multi-valued ones joined by the column's
  separator), or an integer or number, which counts as its decimal string, as in training;
- a numeric column: a number, or null for missing (the train mean);
- the history: a list of raw item ids, most recent first; ids the item vocabulary lacks are OOV,
  and only the `max_len` most recent are kept;
- an event sequence (a schema's `events`, e.g. the categories of the latest behaviour): a list
  of raw tokens, most recent first, read the same way against the sequence's vocabulary.
The label statistic is not a request field: it stays the stored one (the prior for an unknown
user) until `inttower refresh-users` recomputes it from the interaction log.

`TowerCodec.encode` does the same through pandas, for whole tables, in about a millisecond per
call; here a field costs a dict lookup or a little arithmetic. tests/test_user_features.py holds the
two equal field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from model.features import OOV, EncodedTable, NumericCodec, TokenCodec, TowerCodec
from service.errors import InvalidUserFeatures
from service.schemas import MAX_FEATURE_CHARS, MAX_HISTORY

FeatureValue = str | int | float | list[str] | None
# One field's encoder: (request value, the row's arrays) -> None, writing the field's slot.
_Write = Callable[[Any, "_Row"], None]
# What each kind of field accepts, as JSON Schema (the OpenAPI document, service.openapi).
_TEXT = {"anyOf": [{"type": "string", "maxLength": MAX_FEATURE_CHARS}, {"type": "number"},
                   {"type": "null"}]}
_RECENT = {"type": "array", "items": {"type": ["string", "integer"]}, "maxItems": MAX_HISTORY}


class _Row:
    """One user's encoded arrays, writable copies: cat (F_cat,), seq per field (M_f,), num."""

    def __init__(self, table: EncodedTable, row: int) -> None:
        self.cat = table.cat[row].copy()
        self.seq = [s[row].copy() for s in table.seq]
        self.num = table.num[row].copy()

    def table(self, user_id: str) -> EncodedTable:
        return EncodedTable(np.array([user_id], dtype=object), self.cat[None],
                            [s[None] for s in self.seq], self.num[None])


def _field_error(column: str, message: str) -> InvalidUserFeatures:
    return InvalidUserFeatures(message, f"user_features.{column}")


def _text(column: str, value: Any) -> str:
    """The string training would have read for a raw value (None: missing, the empty string)."""
    if value is None:
        return ""
    if type(value) in (str, int, float):  # not bool: JSON true is not a feature value
        return str(value)
    raise _field_error(column, f"expected a string or a number, got {type(value).__name__}")


def _token_writer(codec: TokenCodec, position: int) -> _Write:
    lookup = {token: index + 2 for index, token in enumerate(codec.vocab)}

    def token(text: str) -> int:
        return lookup.get(text[: codec.prefix] if codec.prefix else text, OOV)

    if not codec.multi:
        def write_one(value: Any, row: _Row) -> None:
            row.cat[position] = token(_text(codec.column, value))
        return write_one

    def write_many(value: Any, row: _Row) -> None:
        parts = [t for t in _text(codec.column, value).split(codec.sep) if t][: codec.max_len]
        row.seq[position][:] = 0
        row.seq[position][: len(parts)] = [lookup.get(t, OOV) for t in parts]
    return write_many


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _numeric_range(codec: NumericCodec) -> tuple[float, float]:
    """The raw values whose standardised value fits a float32 (the tower's input)."""
    return codec.mean - codec.std * _FLOAT32_MAX, codec.mean + codec.std * _FLOAT32_MAX


def _numeric_writer(codec: NumericCodec, position: int) -> _Write:
    low, high = _numeric_range(codec)

    def write(value: Any, row: _Row) -> None:
        if value is not None and type(value) not in (int, float):
            raise _field_error(codec.column, f"expected a number or null, got "
                                             f"{type(value).__name__}")
        if value is not None and not low <= value <= high:
            raise _field_error(codec.column, f"{value} is out of range [{low:.6g}, {high:.6g}]")
        row.num[position] = 0.0 if value is None else np.float32(
            (float(value) - codec.mean) / codec.std)
    return write


def _numeric_schema(codec: NumericCodec) -> dict[str, Any]:
    low, high = _numeric_range(codec)
    return {"type": ["number", "null"], "minimum": low, "maximum": high}


def _recent_writer(column: str, max_len: int, position: int,
                   tokens: Callable[[Sequence[str]], np.ndarray], what: str) -> _Write:
    """A list field, most recent first (the history's item ids, an event sequence's tokens)."""
    def write(value: Any, row: _Row) -> None:
        if not isinstance(value, list):
            raise _field_error(column, f"expected a list of {what}, most recent first")
        recent = [str(v) for v in value[:max_len]]  # the request model made them strings
        row.seq[position][:] = 0
        row.seq[position][: len(recent)] = tokens(recent)
    return write


def _sequence_writer(codec: TokenCodec, position: int) -> _Write:
    lookup = {token: index + 2 for index, token in enumerate(codec.vocab)}
    return _recent_writer(
        codec.column, codec.max_len, position,
        lambda recent: np.array([lookup.get(t, OOV) for t in recent], np.int64), "tokens")


class UserFeatureEncoder:
    """Stored or default user rows with a request's fields applied (see the module docstring)."""

    def __init__(self, codec: TowerCodec, users: EncodedTable,
                 item_tokens: Callable[[Sequence[str]], np.ndarray]) -> None:
        """`item_tokens`: raw item ids -> the item tower's id tokens (OOV for unknown ids)."""
        self._users = users
        self._columns = codec.columns
        # The default row is the codec's own encoding of a user with nothing known.
        self._default = codec.encode_unknown(["\x00default"])
        layout = codec.layout
        writers: dict[str, _Write] = {}
        writers |= {t.column: _token_writer(t, layout.seq[t.column] if t.multi
                                            else layout.cat[t.column]) for t in codec.tokens}
        writers |= {n.column: _numeric_writer(n, layout.num[n.column]) for n in codec.numeric}
        if codec.history is not None and layout.history is not None:
            writers[codec.history.column] = _recent_writer(
                codec.history.column, codec.history.max_len, layout.history, item_tokens,
                "item ids")
        writers |= {q.column: _sequence_writer(q, layout.sequences[q.column])
                    for q in codec.sequences}
        self._writers = writers
        self.history_field = codec.history.column if codec.history is not None else None
        # field -> the JSON Schema of the values it accepts
        self.json_schema: dict[str, dict[str, Any]] = {
            **{t.column: _TEXT for t in codec.tokens},
            **{n.column: _numeric_schema(n) for n in codec.numeric},
            **{column: _RECENT for column in writers.keys() - {t.column for t in codec.tokens}
               - {n.column for n in codec.numeric}}}

    def encode(self, user_id: str, row: int | None,
               features: Mapping[str, FeatureValue]) -> EncodedTable:
        """One user (stored row `row`, or None for an unknown user) with `features` applied."""
        foreign = sorted(features.keys() - self._writers.keys())
        if foreign:
            raise InvalidUserFeatures(f"{foreign} are not user features of this model; "
                                      f"it reads {self._columns}", f"user_features.{foreign[0]}")
        base = _Row(self._users, row) if row is not None else _Row(self._default, 0)
        for column, value in features.items():
            self._writers[column](value, base)
        return base.table(user_id)
