"""Fit the feature codecs on the TRAIN split only, then encode every row as of its own time.

Leakage rules, each covered by a test (tests/test_features.py, tests/test_eval_modes.py):
- vocabularies and numeric scalers see only entities that occur in train rows;
- every interaction statistic a train row sees - the user's and the item's ordered target
  statistic (smoothed positive rate and event count), the user's recent positive items - comes
  from train events strictly earlier than the row (ties excluded; training.as_of). A train row
  never sees its own label. Event sequences (an events table, training.event_sequences) follow
  the same rule over the behaviour log, their vocabularies fitted on events before the cutoff;
- the entity tables (what a bundle stores and serving reads) hold each entity's state after all
  its train events (the cutoff);
- held-out rows are encoded as a bundle would serve them (training.split.EvalMode): `cutoff`,
  users and items as stored; `online`, the user's state from every logged event strictly before
  the row (a caller's fresh user_features), items as stored. No row sees its own label, and no
  valid / test label moves a train row's feature or a stored table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from model.features import (
    EncodedTable,
    HistoryCodec,
    NumericCodec,
    TargetStatCodec,
    TokenCodec,
    TowerCodec,
)
from model.layout import ID, TableLayout
from training.as_of import AFTER_ALL, PriorEvents, prior_events, recent_tokens
from training.encoded import EncodedData, EncodedSplit, RowHistory
from training.event_sequences import SequenceEvents, fit_event_sequences, train_cutoff
from training.schema import DatasetSchema, EntityTable, FeatureColumn, FeatureKind
from training.split import EvalMode, HeldOut
from training.tables import RawData
from training.user_state import coded_users_as_of

SMOOTHING = 20.0  # pseudo-count pulling the positive rate of rare entities toward the prior


def _fit_tokens(spec_column: FeatureColumn, values: pd.Series) -> TokenCodec:
    multi = spec_column.kind is FeatureKind.multi
    codec = TokenCodec(spec_column.column, (), multi, spec_column.sep,
                       spec_column.max_len if multi else 1, spec_column.prefix)
    tokens = codec.tokens(values)
    if multi:
        tokens = tokens.str.split(spec_column.sep).explode()
    vocab = sorted(set(tokens.dropna()) - {""})
    return replace(codec, vocab=tuple(vocab))


def _fit_numeric(column: str, values: pd.Series) -> NumericCodec:
    x = pd.to_numeric(values, errors="coerce")
    std = float(x.std(ddof=0)) if x.notna().sum() > 1 else 0.0
    return NumericCodec(column, float(x.mean()) if x.notna().any() else 0.0, std or 1.0)


def _fit_label_stat(count: np.ndarray, positives: np.ndarray, prior: float) -> TargetStatCodec:
    """Standardisation of the statistic over the train rows' own as-of values."""
    rate = (positives + SMOOTHING * prior) / (count + SMOOTHING)
    log_count = np.log1p(count.astype(np.float64))
    return TargetStatCodec(prior, SMOOTHING, float(rate.mean()), float(rate.std()) or 1.0,
                           float(log_count.mean()), float(log_count.std()) or 1.0)


def fit_tower(table: EntityTable, train_entities: pd.DataFrame,
              label_stat: TargetStatCodec | None = None,
              history: HistoryCodec | None = None,
              sequences: tuple[TokenCodec, ...] = ()) -> TowerCodec:
    """Codec from the raw rows of the entities seen in train (index = raw id)."""
    ids = tuple(sorted(train_entities.index.astype(str)))
    return TowerCodec(
        id=TokenCodec(table.id, ids),
        tokens=tuple(_fit_tokens(f, train_entities[f.column])
                     for f in table.features if f.kind is not FeatureKind.numeric),
        numeric=tuple(_fit_numeric(f.column, train_entities[f.column])
                      for f in table.features if f.kind is FeatureKind.numeric),
        label_stat=label_stat,
        history=history,
        label_stat_in=table.label_rate_in,
        sequences=sequences,
    )


@dataclass
class _Side:
    """One tower's encoding: its codec, its table, and every interaction row's as-of values."""

    codec: TowerCodec
    table: EncodedTable
    row: np.ndarray  # (N_inter,) int64 table row of each interaction
    stat: np.ndarray | None  # (N_inter, 2) float32 as-of label statistic columns
    history: RowHistory | None
    sequences: tuple[RowHistory, ...] = ()  # per event sequence, every interaction row's window


@dataclass(frozen=True)
class CodedRows:
    """The interaction rows coded against the entity tables: what encoding needs of them."""

    user_row: np.ndarray  # (N,) int64 row of the users table
    item_row: np.ndarray  # (N,) int64 row of the items table
    label: np.ndarray  # (N,) float32 0/1
    timestamp: np.ndarray  # (N,) int64

    @classmethod
    def of(cls, raw: RawData) -> CodedRows:
        inter = raw.interactions
        return cls(
            pd.Index(raw.users.index).get_indexer(inter["user_id"].to_numpy()).astype(np.int64),
            pd.Index(raw.items.index).get_indexer(inter["item_id"].to_numpy()).astype(np.int64),
            inter["label"].to_numpy(np.float32), inter["timestamp"].to_numpy(np.int64))

    def __len__(self) -> int:
        return len(self.label)


# Per event sequence: its codec, and its events keyed by user row - or None when the caller
# fills the windows itself (the out-of-core builder, user bucket by user bucket).
Sequences = tuple[tuple[TokenCodec, SequenceEvents | None], ...]


def _prior(rows: CodedRows, row: np.ndarray, train_rows: np.ndarray,
           entities: int) -> PriorEvents:
    """As-of counts for every interaction row, then for every entity after all train events
    (the last `entities` queries)."""
    return prior_events(
        row[train_rows], rows.timestamp[train_rows], rows.label[train_rows],
        np.concatenate([row, np.arange(entities)]),
        np.concatenate([rows.timestamp, np.full(entities, AFTER_ALL)]),
    )


def _encode_side(rows: CodedRows, table: EntityTable, entities: pd.DataFrame, row: np.ndarray,
                 train_rows: np.ndarray, prior: float, items: _Side | None = None,
                 sequences: Sequences = ()) -> _Side:
    """One tower; `row`, each interaction's row of `entities`; `items`, the encoded item side,
    for the user tower's history field; `sequences`, the user tower's event sequences."""
    train_entities = entities.iloc[np.unique(row[train_rows])]
    spec = table.history if items is not None else None
    codecs = tuple(c for c, _ in sequences)
    if not table.label_rate and spec is None:  # no interaction statistic to compute
        codec = fit_tower(table, train_entities, sequences=codecs)
        windows, stored = _sequence_windows(rows, row, train_rows, len(entities), sequences,
                                            codec.layout)
        return _Side(codec, codec.encode(entities, sequences=stored), row, None, None, windows)
    events = _prior(rows, row, train_rows, len(entities))
    n = len(rows)  # queries [0, n) are the interaction rows, [n, n + entities) the cutoff
    stat_codec = (_fit_label_stat(events.count[train_rows], events.positives[train_rows], prior)
                  if table.label_rate else None)
    history_codec = (HistoryCodec(spec.name, spec.max_len, items.codec.id.size)
                     if spec is not None and items is not None else None)
    codec = fit_tower(table, train_entities, stat_codec, history_codec, codecs)
    windows, stored = _sequence_windows(rows, row, train_rows, len(entities), sequences,
                                        codec.layout)

    history = cutoff_history = None
    if history_codec is not None and items is not None:
        event_tokens = items.table.cat[items.row[train_rows], ID]  # each train event's item id
        length = np.minimum(events.positives, history_codec.max_len)
        field = codec.layout.history
        assert field is not None
        history = RowHistory(event_tokens[events.positive_order], events.positive_end[:n],
                             length[:n], field)
        cutoff_history = recent_tokens(events.select(slice(n, None)), event_tokens,
                                       history_codec.max_len)
    encoded = codec.encode(entities, (events.count[n:], events.positives[n:]), cutoff_history,
                           stored)
    stat = (stat_codec.columns(events.count[:n], events.positives[:n])
            if stat_codec is not None else None)
    return _Side(codec, encoded, row, stat, history, windows)


def _sequence_windows(rows: CodedRows, row: np.ndarray, train_rows: np.ndarray, users: int,
                      sequences: Sequences, layout: TableLayout
                      ) -> tuple[tuple[RowHistory, ...], list[np.ndarray] | None]:
    """Per event sequence: every interaction row's window of the events strictly before it,
    and the stored (cutoff) tokens of every user (`users` rows). Nothing for deferred
    sequences: their tables hold empty sequences until the caller fills them."""
    if not sequences or any(events is None for _, events in sequences):
        return (), None
    cutoff = np.full(users, train_cutoff(rows.timestamp, train_rows), np.int64)
    windows, stored = [], []
    for codec, events in sequences:
        assert events is not None
        before = events.as_of(row, rows.timestamp)
        windows.append(RowHistory(events.token[before.positive_order], before.positive_end,
                                  np.minimum(before.count, codec.max_len),
                                  layout.sequences[codec.column]))
        stored.append(events.recent(np.arange(users), cutoff))
    return tuple(windows), stored


def _as_of(side: _Side, rows: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, RowHistory | None]:
    """(table rows, numerics and score features with the as-of statistic, history windows) of
    interaction `rows`."""
    table_row = side.row[rows]
    num = side.table.num[table_row]
    score = None if side.table.score is None else side.table.score[table_row]
    if side.stat is not None:
        num, score = side.codec.layout.with_label_stat(num, score, side.stat[rows])
    history = side.history.take(rows) if side.history is not None else None
    return table_row, num, score, history


def _held_out(rows: CodedRows, users: _Side, items: _Side, held: np.ndarray, mode: EvalMode,
              sequences: Sequences) -> EncodedSplit:
    """Held-out rows `held` as served: the stored tables (cutoff), and in `online` mode the
    user's statistic, history and event sequences from every logged event strictly before the
    row (deferred sequences are left to the caller)."""
    user_row, item_row = users.row[held], items.row[held]
    user_num, history, layout = users.table.num[user_row], None, users.codec.layout
    windows: tuple[RowHistory, ...] = ()
    if mode is EvalMode.online:
        state = coded_users_as_of(users.codec, rows.user_row, rows.timestamp, rows.label,
                                  items.table.cat[rows.item_row, ID], user_row,
                                  rows.timestamp[held])
        if state.stat is not None:
            user_num, _ = layout.with_label_stat(user_num, None, state.stat)
        if state.history is not None and layout.history is not None:
            history = RowHistory.from_padded(state.history, layout.history)
        if not any(events is None for _, events in sequences):
            windows = tuple(RowHistory.from_padded(events.recent(user_row, rows.timestamp[held]),
                                                   layout.sequences[codec.column])
                            for codec, events in sequences if events is not None)
    item_score = None if items.table.score is None else items.table.score[item_row]
    return EncodedSplit(user_row, item_row, user_num, items.table.num[item_row],
                        rows.label[held], history, item_score, windows)


def encode_dataset(raw: RawData, split_rows: dict[str, np.ndarray]) -> EncodedData:
    """Fit on split_rows["train"]; encode the train rows as of their time and the valid / test
    rows in both evaluation modes."""
    rows = CodedRows.of(raw)
    cutoff = train_cutoff(rows.timestamp, split_rows["train"])
    return encode_rows(raw.schema, raw.users, raw.items, rows, split_rows,
                       fit_event_sequences(raw, cutoff))


def encode_rows(schema: DatasetSchema, users: pd.DataFrame, items: pd.DataFrame, rows: CodedRows,
                split_rows: dict[str, np.ndarray], sequences: Sequences = ()) -> EncodedData:
    """encode_dataset on interaction rows already coded against `users` and `items` (the
    tables of RawData); deferred `sequences` leave their windows and stored tokens empty."""
    train_rows = split_rows["train"]
    prior = float(rows.label[train_rows].mean())
    item_side = _encode_side(rows, schema.items, items, rows.item_row, train_rows, prior)
    user_side = _encode_side(rows, schema.users, users, rows.user_row, train_rows, prior,
                             item_side, sequences)
    user_row, user_num, _, history = _as_of(user_side, train_rows)
    item_row, item_num, item_score, _ = _as_of(item_side, train_rows)
    train = EncodedSplit(user_row, item_row, user_num, item_num, rows.label[train_rows], history,
                         item_score, tuple(w.take(train_rows) for w in user_side.sequences))
    held_out = {mode: {split: _held_out(rows, user_side, item_side, split_rows[split.value],
                                        mode, sequences)
                       for split in HeldOut} for mode in EvalMode}
    return EncodedData(user_side.codec, item_side.codec, user_side.table, item_side.table, train,
                       held_out, prior)
