"""The data a run trains and evaluates on: a dataset (built-in or the user's schema), its split
and its features fitted on the train rows only. Training, evaluation and the benchmarks start here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from training.encoded import EncodedData
from training.features import encode_dataset
from training.fetch import fetch_movielens
from training.schema import DatasetSchema, HistorySpec, builtin_schema
from training.split import SplitKind, split_rows
from training.tables import RawData, load_dataset

log = logging.getLogger(__name__)


class ItemStat(StrEnum):
    """Where the item's ordered target statistic (positive rate, event count) goes."""

    tower = "tower"  # an input of the item tower: frozen into the stored vectors at the cutoff
    score = "score"  # an input of a per-candidate term added to the score (model.item_term)
    off = "off"  # not used


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "ml-100k"  # a built-in dataset name, used when `schema` is None
    schema: Path | None = None  # the user's own data: a schema file, paths relative to it
    split: SplitKind = SplitKind.random
    seed: int = 1
    # Overrides the schema's user history length (`users.history.max_len`); 0 turns it off.
    history_len: int | None = None
    item_stat: ItemStat | None = None  # overrides the schema's `items.label_rate`

    def apply(self, schema: DatasetSchema) -> DatasetSchema:
        """`schema` with this config's overrides."""
        users, items = schema.users, schema.items
        if self.history_len is not None:
            history = (HistorySpec(**{**(users.history or HistorySpec()).model_dump(),
                                      "max_len": self.history_len})
                       if self.history_len > 0 else None)
            users = users.model_copy(update={"history": history})
        if self.item_stat is not None:
            on = self.item_stat is not ItemStat.off
            items = items.model_copy(update={
                "label_rate": on, "label_rate_in": self.item_stat.value if on else "tower"})
        return DatasetSchema.model_validate({**schema.model_dump(), "users": users.model_dump(),
                                             "items": items.model_dump()})



def resolve_schema(config: DataConfig) -> tuple[DatasetSchema, Path]:
    """The schema with the config's overrides, and the folder its file paths are relative to
    (a built-in dataset is fetched first)."""
    if config.schema is not None:
        schema, data_dir = DatasetSchema.load(config.schema), Path(config.schema).parent
    else:
        schema, data_dir = builtin_schema(config.dataset), fetch_movielens(config.dataset)
    return config.apply(schema), data_dir


def load_split(config: DataConfig) -> tuple[DatasetSchema, RawData, dict[str, np.ndarray]]:
    """The raw tables and the row positions of each split; nothing fitted yet."""
    schema, data_dir = resolve_schema(config)
    raw = load_dataset(schema, data_dir)
    rows = split_rows(raw.interactions["timestamp"].to_numpy(np.int64), config.split,
                      config.seed)
    log.info("%s: %d rows (train %d / valid %d / test %d), %d users, %d items", schema.name,
             len(raw.interactions), *map(len, rows.values()), len(raw.users), len(raw.items))
    return schema, raw, rows


def prepare_data(config: DataConfig) -> tuple[DatasetSchema, EncodedData]:
    """The split, encoded with features fitted on its train rows."""
    schema, raw, rows = load_split(config)
    return schema, encode_dataset(raw, rows)
