"""Fit the feature codecs and label-rate features on the TRAIN split only, then encode all rows.

Leakage rules (SPEC §3), each covered by a test:
- vocabularies and numeric scalers see only entities that occur in train rows;
- an entity's positive rate uses train labels only, smoothed toward the global train rate;
- on a train row that rate leaves the row's own label out (otherwise the feature leaks the target).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from model.features import EncodedTable, LabelRateCodec, NumericCodec, TokenCodec, TowerCodec
from training.schema import EntityTable, FeatureColumn, FeatureKind
from training.tables import RawData

SMOOTHING = 20.0  # pseudo-count pulling the positive rate of rare entities toward the prior


@dataclass(frozen=True)
class LabelCounts:
    """Train positives and rows per entity id."""

    positives: pd.Series
    rows: pd.Series

    @classmethod
    def of(cls, keys: pd.Series, labels: pd.Series) -> LabelCounts:
        grouped = labels.groupby(keys.to_numpy())
        return cls(grouped.sum(), grouped.size())

    def rates(self, keys: pd.Index | pd.Series, prior: float,
              own_label: np.ndarray | None = None) -> np.ndarray:
        """Smoothed rate per key; with `own_label`, the row's own label is left out."""
        pos = self.positives.reindex(keys).fillna(0.0).to_numpy(dtype=np.float64)
        cnt = self.rows.reindex(keys).fillna(0.0).to_numpy(dtype=np.float64)
        if own_label is not None:
            pos, cnt = pos - own_label, cnt - 1
        return (pos + SMOOTHING * prior) / (cnt + SMOOTHING)


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


def fit_tower(table: EntityTable, train_entities: pd.DataFrame,
              train_row_rates: np.ndarray | None, prior: float) -> TowerCodec:
    """Codec from the raw rows of the entities seen in train (index = raw id)."""
    ids = tuple(sorted(train_entities.index.astype(str)))
    rate = None
    if train_row_rates is not None:
        std = float(train_row_rates.std()) or 1.0
        rate = LabelRateCodec(prior, SMOOTHING, float(train_row_rates.mean()), std)
    return TowerCodec(
        id=TokenCodec(table.id, ids),
        tokens=tuple(_fit_tokens(f, train_entities[f.column])
                     for f in table.features if f.kind is not FeatureKind.numeric),
        numeric=tuple(_fit_numeric(f.column, train_entities[f.column])
                      for f in table.features if f.kind is FeatureKind.numeric),
        label_rate=rate,
    )


@dataclass
class EncodedSplit:
    """Interaction rows of one split, pointing into the encoded user / item tables."""

    user_row: np.ndarray  # (N,) int64 row of EncodedData.users
    item_row: np.ndarray  # (N,) int64 row of EncodedData.items
    user_num: np.ndarray  # (N, F_num_u) float32: the table's numerics, row-level label rate
    item_num: np.ndarray  # (N, F_num_i) float32
    label: np.ndarray  # (N,) float32

    def __len__(self) -> int:
        return len(self.label)


@dataclass
class EncodedData:
    user_codec: TowerCodec
    item_codec: TowerCodec
    users: EncodedTable  # every known user; label rate as of the train cutoff
    items: EncodedTable  # every known item
    splits: dict[str, EncodedSplit]
    prior: float  # global train positive rate


def encode_dataset(raw: RawData, split_rows: dict[str, np.ndarray]) -> EncodedData:
    """Fit on split_rows["train"], encode every split."""
    inter = raw.interactions
    train = inter.iloc[split_rows["train"]]
    prior = float(train["label"].mean())
    tower_data = {}
    for side, table, entities in (("user", raw.schema.users, raw.users),
                                  ("item", raw.schema.items, raw.items)):
        key = f"{side}_id"
        counts = LabelCounts.of(train[key], train["label"])
        loo = (counts.rates(train[key], prior, own_label=train["label"].to_numpy())
               if table.label_rate else None)
        train_entities = entities.loc[entities.index.isin(train[key].unique())]
        codec = fit_tower(table, train_entities, loo, prior)
        rates = counts.rates(entities.index, prior) if table.label_rate else None
        encoded = codec.encode(entities, rates)
        tower_data[side] = (codec, encoded, loo)

    splits = {}
    for name, rows in split_rows.items():
        part = inter.iloc[rows]
        label = part["label"].to_numpy(dtype=np.float32)
        nums, positions = [], []
        for side in ("user", "item"):
            codec, encoded, train_loo = tower_data[side]
            row = pd.Index(encoded.ids).get_indexer(part[f"{side}_id"].to_numpy())
            num = encoded.num[row]  # fancy indexing copies
            if codec.label_rate is not None and name == "train":
                num[:, -1] = codec.label_rate.standardise(train_loo)
            nums.append(num)
            positions.append(row.astype(np.int64))
        splits[name] = EncodedSplit(positions[0], positions[1], nums[0], nums[1], label)

    (user_codec, users, _), (item_codec, items, _) = tower_data["user"], tower_data["item"]
    return EncodedData(user_codec, item_codec, users, items, splits, prior)
