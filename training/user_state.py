"""A user's interaction features from an interaction log, with a bundle's codecs (nothing refitted).

The label statistic (count and smoothed positive rate) and the recent positive items of users at
given times, counted from the log's events strictly earlier (training.as_of), with the vocabulary,
prior and scalers the bundle was trained with. `inttower refresh-users` asks for the state after
the whole log; `inttower evaluate` for each held-out row's state as of its time, as training saw it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.features import OOV, EncodedTable, TowerCodec
from model.layout import ID, TableLayout
from training.as_of import prior_events, recent_tokens


@dataclass(frozen=True)
class UserState:
    stat: np.ndarray | None  # (Q, 2) float32 label statistic columns (codec.label_stat)
    history: np.ndarray | None  # (Q, max_len) int64 item tokens (codec.history)

    def take(self, queries: np.ndarray) -> UserState:
        return UserState(*(None if part is None else part[queries]
                           for part in (self.stat, self.history)))


def users_as_of(codec: TowerCodec, items: EncodedTable, log: pd.DataFrame,
                users: np.ndarray, times: np.ndarray) -> UserState:
    """State of `users` (Q,) raw ids at `times` (Q,) int64 from `log` (user_id, item_id, label,
    timestamp); `items` maps the log's item ids to the item id tokens the history uses."""
    codes, _ = pd.factorize(np.concatenate([log["user_id"].to_numpy(), users]))
    events = prior_events(codes[: len(log)], log["timestamp"].to_numpy(np.int64),
                          log["label"].to_numpy(), codes[len(log):], times)
    stat = (codec.label_stat.columns(events.count, events.positives)
            if codec.label_stat is not None else None)
    history = None
    if codec.history is not None:
        item_rows = pd.Index(items.ids).get_indexer(log["item_id"].to_numpy())
        event_tokens = np.where(item_rows >= 0, items.cat[item_rows, ID], OOV)
        history = recent_tokens(events, event_tokens, codec.history.max_len)
    return UserState(stat, history)


def with_state(layout: TableLayout, table: EncodedTable, state: UserState) -> EncodedTable:
    """`table`'s rows (aligned with the state's queries, laid out as `layout` says) with their
    statistic and history replaced."""
    num, score, seq = table.num, table.score, list(table.seq)
    if state.stat is not None:
        num, score = layout.with_label_stat(num, score, state.stat)
    if state.history is not None and layout.history is not None:
        seq[layout.history] = state.history
    return EncodedTable(table.ids, table.cat, seq, num, score)
