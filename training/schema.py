"""The dataset schema: which column of which table is what (YAML file, validated by pydantic).

MovieLens is just one such schema, shipped in `training/schemas/`. A user's own data needs three
tables (interactions, users, items; CSV, TSV, Parquet or RecBole atomic files) and one schema file:

    name: my-shop
    interactions: {file: clicks.parquet, user_id: uid, item_id: sku, timestamp: ts,
                   label: {column: clicked}}
    users: {file: users.csv, id: uid, label_rate: true, history: {max_len: 20},
            features: [{column: city, kind: categorical}, {column: age, kind: numeric}]}
    items: {file: items.csv, id: sku, label_rate: true,
            features: [{column: tags, kind: multi, sep: "|", max_len: 8}]}

File paths are relative to the schema file (or to the data directory given when loading).

An optional fourth table, `events`, is a behaviour log whose tokens become user sequence fields:

    events: {file: behavior_log, user_id: user, timestamp: time_stamp, type: btag,
             sequences: [{column: cate, max_len: 50},
                         {column: brand, name: bought_brands, types: [cart, buy]}]}

`label_rate` and `history` are statistics of the interactions, each computed as of the row's time
from earlier train events only (training.as_of). Without a `timestamp` column, the file's row order
is the time: keep the rows in the order they happened, or leave `history` off.
"""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

TableFormat = Literal["auto", "csv", "tsv", "parquet", "recbole"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureKind(StrEnum):
    categorical = "categorical"  # one token per row -> one embedding
    multi = "multi"  # several tokens joined by `sep` -> mean-pooled embeddings
    numeric = "numeric"  # a number, standardised with train statistics


class FeatureColumn(_Strict):
    column: str
    kind: FeatureKind = FeatureKind.categorical
    sep: str = " "  # multi only
    max_len: int = Field(8, ge=1, le=256)  # multi only: tokens kept per row
    prefix: int | None = Field(None, ge=1)  # categorical only: keep the first N characters


class LabelSpec(_Strict):
    column: str
    # y = value > positive_above (e.g. rating > 3); None means the column is already 0/1.
    positive_above: float | None = None
    drop: list[float] = []  # values whose rows are removed first (e.g. rating 3)


class InteractionTable(_Strict):
    file: str
    format: TableFormat = "auto"
    user_id: str
    item_id: str
    label: LabelSpec
    timestamp: str | None = None  # needed by the temporal split


class HistorySpec(_Strict):
    """The user's most recent positive items as a multi-valued user field."""

    max_len: int = Field(20, ge=1, le=256)  # items kept, most recent first
    name: str = "history"  # its name in the bundle and in a request's user_features


class EventSequence(_Strict):
    """A user sequence field read from the events table: the `column` tokens of the user's most
    recent events (of the listed `types`, or of every type), most recent first."""

    column: str
    name: str | None = None  # the field's name in the bundle and in user_features (default: column)
    max_len: int = Field(50, ge=1, le=1024)
    types: list[str] | None = None  # event types that count (the `type` column's values)

    @property
    def field(self) -> str:
        return self.name or self.column


class EventsTable(_Strict):
    """A behaviour log (e.g. Taobao's behavior_log): events of users on tokens (categories,
    brands), the source of user sequence fields. Each training row sees the events strictly
    before its own time (ties excluded); a stored user, those before the train cutoff."""

    file: str
    format: TableFormat = "auto"
    user_id: str
    timestamp: str
    type: str | None = None  # the event type column, needed by sequences that pick `types`
    sequences: list[EventSequence] = Field(min_length=1)

    @model_validator(mode="after")
    def _types_need_a_type_column(self) -> EventsTable:
        if self.type is None and any(s.types is not None for s in self.sequences):
            raise ValueError("a sequence picks event `types`: name the events' `type` column")
        fields = [s.field for s in self.sequences]
        if len(set(fields)) < len(fields):
            raise ValueError(f"event sequence names must differ: {fields}")
        return self


class EntityTable(_Strict):
    file: str | None = None  # None: the tower sees only the id
    format: TableFormat = "auto"
    id: str
    id_prefix: str = ""  # stripped from raw ids here and in the interactions (ml-1m: "1m_")
    features: list[FeatureColumn] = []
    # The ordered target statistic: the smoothed positive rate of this user / item over its
    # train rows strictly before the row, and the number of those rows.
    label_rate: bool = False
    # Where the statistic goes: an input of the tower, or (items only) of a per-candidate term
    # added to the score (model.item_term), which keeps it out of the precomputed item vectors.
    label_rate_in: Literal["tower", "score"] = "tower"
    history: HistorySpec | None = None  # users only

    @model_validator(mode="after")
    def _needs_file_for_features(self) -> EntityTable:
        if self.features and self.file is None:
            raise ValueError("features need a file to read them from")
        return self


class DatasetSchema(_Strict):
    name: str
    interactions: InteractionTable
    users: EntityTable
    items: EntityTable
    events: EventsTable | None = None

    @model_validator(mode="after")
    def _history_is_a_user_field(self) -> DatasetSchema:
        if self.items.history is not None:
            raise ValueError("history is a user feature: set it under `users`, not `items`")
        if self.users.label_rate_in != "tower":
            raise ValueError("users.label_rate_in: the score term is per candidate item; a "
                             "user's statistic is a user tower input")
        names = {f.column for f in self.users.features}
        if self.users.history is not None and self.users.history.name in names:
            raise ValueError(f"the history name {self.users.history.name!r} is also a user "
                             "feature column; pick another `history.name`")
        if self.events is not None:
            taken = names | ({self.users.history.name} if self.users.history else set())
            clash = [s.field for s in self.events.sequences if s.field in taken]
            if clash:
                raise ValueError(f"event sequence {clash[0]!r} is also a user feature or the "
                                 "history; give it another `name`")
        return self

    @classmethod
    def load(cls, path: str | Path) -> DatasetSchema:
        with open(path, encoding="utf-8") as fh:
            return cls.model_validate(yaml.safe_load(fh))

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))


def builtin_schema(name: str) -> DatasetSchema:
    """A schema shipped with the project (`ml-100k`, `ml-1m`)."""
    ref = resources.files("training") / "schemas" / f"{name}.yaml"
    if not ref.is_file():
        raise ValueError(f"no built-in dataset {name!r}; known: {', '.join(builtin_names())}")
    return DatasetSchema.model_validate(yaml.safe_load(ref.read_text(encoding="utf-8")))


def builtin_names() -> list[str]:
    folder = resources.files("training") / "schemas"
    names = (p.name for p in folder.iterdir())
    return sorted(n.removesuffix(".yaml") for n in names if n.endswith(".yaml"))
