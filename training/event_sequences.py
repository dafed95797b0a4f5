"""User sequence fields from an events table (a behaviour log, training.schema.EventsTable).

A sequence is the tokens (a category, a brand) of a user's most recent events of some types,
most recent first: the same as-of rule as the history of positive items (training.as_of), each
query seeing the events strictly before its time, ties excluded. Its vocabulary is fitted on the
events before the train cutoff only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.features import TokenCodec
from training.as_of import PriorEvents, prior_events, recent_tokens
from training.schema import EventSequence
from training.tables import RawData


def counted_events(events: pd.DataFrame, spec: EventSequence) -> pd.DataFrame:
    """The events of the events table (training.tables.read_events) that count for `spec` (its
    types, or every type; a token present): user_id, timestamp, token."""
    token = events[f"token:{spec.column}"]
    keep = (token != "").to_numpy()
    if spec.types is not None:
        keep = keep & events["type"].isin(spec.types).to_numpy()
    return pd.DataFrame({"user_id": events["user_id"].to_numpy()[keep],
                         "timestamp": events["timestamp"].to_numpy()[keep],
                         "token": token.to_numpy()[keep]})


def fit_sequence(counted: pd.DataFrame, spec: EventSequence, cutoff: int) -> TokenCodec:
    """The sequence's vocabulary: the tokens of its `counted` events strictly before `cutoff`."""
    vocab = sorted(set(counted["token"][counted["timestamp"].to_numpy() < cutoff]))
    return TokenCodec(spec.field, tuple(vocab), multi=True, max_len=spec.max_len)


class SequenceEvents:
    """One sequence's counted events as integers, keyed by user row, ready for as-of queries:
    user (E,) int64 row of the users table, time (E,) int64, token (E,) int64 codes."""

    def __init__(self, user: np.ndarray, time: np.ndarray, token: np.ndarray,
                 max_len: int) -> None:
        self.user, self.time, self.token, self.max_len = user, time, token, max_len

    @classmethod
    def of(cls, counted: pd.DataFrame, codec: TokenCodec, users: pd.Index) -> SequenceEvents:
        """From `counted` events (counted_events) of raw ids: those of users outside `users`
        dropped, tokens read with `codec`."""
        user = users.get_indexer(counted["user_id"])  # -1: a user the table does not hold
        known = user >= 0
        return cls(user[known].astype(np.int64), counted["timestamp"].to_numpy(np.int64)[known],
                   codec.lookup(counted["token"][known]), codec.max_len)

    def as_of(self, users: np.ndarray, times: np.ndarray) -> PriorEvents:
        """For queries (users (Q,) rows, times (Q,) int64): the events strictly before."""
        return prior_events(self.user, self.time, np.ones(len(self.user), np.float32),
                            users, times)

    def recent(self, users: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(Q, max_len) int64 tokens of each query's most recent events strictly before its
        time, most recent first, 0-padded."""
        return recent_tokens(self.as_of(users, times), self.token, self.max_len)


def train_cutoff(timestamp: np.ndarray, train_rows: np.ndarray) -> int:
    """The time a stored table's state is at: just after the last train row (`timestamp`, (N,)
    int64 of every interaction row)."""
    return int(timestamp[train_rows].max()) + 1


def fit_event_sequences(raw: RawData, cutoff: int
                        ) -> tuple[tuple[TokenCodec, SequenceEvents], ...]:
    """Each event sequence of the schema: its codec (fitted on the events before `cutoff`) and
    its events, keyed by the rows of raw.users."""
    spec = raw.schema.events
    if spec is None or raw.events is None:
        return ()
    users = pd.Index(raw.users.index)
    fitted = []
    for sequence in spec.sequences:
        counted = counted_events(raw.events, sequence)  # filtered once for both uses
        codec = fit_sequence(counted, sequence, cutoff)
        fitted.append((codec, SequenceEvents.of(counted, codec, users)))
    return tuple(fitted)
