"""A user's interaction features from an interaction log, with a bundle's codecs (nothing refitted).

The label statistic (count and smoothed positive rate), the recent positive items and the event
sequences (from a behaviour log) of users at given times, counted from the events strictly
earlier (training.as_of), with the vocabularies, prior and scalers the bundle was trained with.
`inttower refresh-users` asks for the state after the whole log; `inttower evaluate` for each
held-out row's state as of its time, as training saw it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.features import OOV, EncodedTable, TowerCodec
from model.layout import ID, TableLayout
from training.as_of import prior_events, recent_tokens
from training.event_sequences import SequenceEvents, counted_events
from training.schema import EventSequence


@dataclass(frozen=True)
class UserState:
    stat: np.ndarray | None  # (Q, 2) float32 label statistic columns (codec.label_stat)
    history: np.ndarray | None  # (Q, max_len) int64 item tokens (codec.history)
    sequences: tuple[np.ndarray, ...] = ()  # per codec.sequences: (Q, max_len) int64 tokens

    def take(self, queries: np.ndarray) -> UserState:
        return UserState(*(None if part is None else part[queries]
                           for part in (self.stat, self.history)),
                         tuple(tokens[queries] for tokens in self.sequences))


def users_as_of(codec: TowerCodec, items: EncodedTable, log: pd.DataFrame,
                users: np.ndarray, times: np.ndarray, events: pd.DataFrame | None = None,
                specs: Sequence[EventSequence] = ()) -> UserState:
    """State of `users` (Q,) raw ids at `times` (Q,) int64 from `log` (user_id, item_id, label,
    timestamp); `items` maps the log's item ids to the item id tokens the history uses. A codec
    with event sequences also needs the `events` table (training.tables.read_events) and the
    schema's sequence `specs`."""
    codes, _ = pd.factorize(np.concatenate([log["user_id"].to_numpy(), users]))
    item_rows = pd.Index(items.ids).get_indexer(log["item_id"].to_numpy())
    state = coded_users_as_of(codec, codes[: len(log)], log["timestamp"].to_numpy(np.int64),
                              log["label"].to_numpy(), np.where(item_rows >= 0,
                                                                items.cat[item_rows, ID], OOV),
                              codes[len(log):], times)
    return UserState(state.stat, state.history, _sequences(codec, users, times, events, specs))


def coded_users_as_of(codec: TowerCodec, log_user: np.ndarray, log_time: np.ndarray,
                      log_label: np.ndarray, log_item_token: np.ndarray, users: np.ndarray,
                      times: np.ndarray) -> UserState:
    """The label statistic and history of `users` (Q,) at `times` (Q,) from a log coded as
    integers: each event's user code (the same codes as `users`), time, 0/1 label and item id
    token. No event sequences."""
    prior = prior_events(log_user, log_time, log_label, users, times)
    stat = (codec.label_stat.columns(prior.count, prior.positives)
            if codec.label_stat is not None else None)
    history = (recent_tokens(prior, log_item_token, codec.history.max_len)
               if codec.history is not None else None)
    return UserState(stat, history)


def _sequences(codec: TowerCodec, users: np.ndarray, times: np.ndarray,
               events: pd.DataFrame | None, specs: Sequence[EventSequence]
               ) -> tuple[np.ndarray, ...]:
    """Per event sequence of the codec, (Q, max_len) tokens of each user's latest events
    strictly before its time, read with the codec's vocabulary (nothing refitted)."""
    if not codec.sequences:
        return ()
    by_field = {spec.field: spec for spec in specs}
    missing = [q.column for q in codec.sequences if q.column not in by_field]
    if events is None or missing:
        names = [q.column for q in codec.sequences]
        raise ValueError(f"this model reads the event sequences {names}: it needs the events "
                         "table and the schema that names them")
    index = pd.Index(pd.unique(users))
    queries = index.get_indexer(users).astype(np.int64)
    return tuple(SequenceEvents.of(counted_events(events, by_field[q.column]), q, index)
                 .recent(queries, times) for q in codec.sequences)


def with_state(layout: TableLayout, table: EncodedTable, state: UserState) -> EncodedTable:
    """`table`'s rows (aligned with the state's queries, laid out as `layout` says) with their
    statistic and history replaced."""
    num, score, seq = table.num, table.score, list(table.seq)
    if state.stat is not None:
        num, score = layout.with_label_stat(num, score, state.stat)
    if state.history is not None and layout.history is not None:
        seq[layout.history] = state.history
    if state.sequences:  # in layout order, as the codec lists them
        for field, tokens in zip(layout.sequences.values(), state.sequences, strict=True):
            seq[field] = tokens
    return EncodedTable(table.ids, table.cat, seq, num, score)
