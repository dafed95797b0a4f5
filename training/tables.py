"""Read the three tables a `DatasetSchema` describes into normalised pandas frames.

Every id and feature is read as a string, so ids never turn into floats and "05201" keeps its
zero; turning strings into model inputs is the encoders' job, fitted on the train split only.
Text files go through pyarrow's CSV reader (several times faster than pandas' on ml-1m) with
every column typed as a string and empty fields kept as "".

Formats and folders of Parquet parts: training.table_files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from training.schema import DatasetSchema, EntityTable, LabelSpec
from training.table_files import DataError, read_columns

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class RawData:
    """A dataset as read, before any split or encoding."""

    schema: DatasetSchema
    # user_id, item_id (str), label (float32, 0/1), timestamp (int64; the file's row number when
    # the schema names no timestamp); default RangeIndex.
    interactions: pd.DataFrame
    # Index "user_id" / "item_id" (str, unique): every id of the entity file plus every id seen in
    # the interactions; one raw-string column per schema feature, "" where missing.
    users: pd.DataFrame
    items: pd.DataFrame
    # The schema's events table (read_events), None without one.
    events: pd.DataFrame | None = None


def load_dataset(schema: DatasetSchema, data_dir: Path) -> RawData:
    """Read interactions, users, items (and events); file paths in `schema` are relative to
    `data_dir`."""
    columns = read_interaction_columns(schema, data_dir)
    interactions = columns.frame()
    users = read_entities(schema.users, data_dir, columns.user_id, "user_id")
    items = read_entities(schema.items, data_dir, columns.item_id, "item_id")
    log.info(
        "%s: %d interactions (%.1f%% positive), %d users, %d items",
        schema.name,
        len(interactions),
        100 * interactions["label"].mean(),
        len(users),
        len(items),
    )
    return RawData(schema=schema, interactions=interactions, users=users, items=items,
                   events=read_events(schema, data_dir) if schema.events is not None else None)


def read_entity_table(table: EntityTable, path: Path) -> pd.DataFrame:
    """One users or items file: indexed by id (named `table.id`, `id_prefix` stripped), one
    raw-string column per feature."""
    features = list(dict.fromkeys(f.column for f in table.features))
    raw = read_columns(path, table.format, [table.id, *features])
    ids = _ids(raw.column(table.id), table.id_prefix, table.id, path)
    if pc.count_distinct(pa.array(ids)).as_py() < len(ids):
        duplicated = ids[ids.duplicated()]
        examples = ", ".join(repr(i) for i in duplicated.unique()[:5])
        raise DataError(f"{path}: {len(duplicated)} duplicate ids in {table.id!r}: {examples}")
    return pd.DataFrame(
        # Arrays, not Series: a Series would be aligned on (and emptied by) the new index.
        {column: _strings(raw.column(column)).array for column in features},
        index=pd.Index(ids, name=table.id),
    )


@dataclass(frozen=True)
class InteractionColumns:
    """The interactions file with its ids left in Arrow (no Python string per row): what the
    out-of-core builder (training.build) codes into integer rows."""

    user_id: pa.ChunkedArray  # str, id_prefix stripped
    item_id: pa.ChunkedArray
    label: np.ndarray  # (N,) float32 0/1
    timestamp: np.ndarray  # (N,) int64; the file's row number when the schema names no timestamp

    def frame(self) -> pd.DataFrame:
        """user_id, item_id (str), label (float32 0/1), timestamp (int64)."""
        return pd.DataFrame({"user_id": self.user_id.to_pandas(),
                             "item_id": self.item_id.to_pandas(),
                             "label": self.label, "timestamp": self.timestamp})


def read_interaction_columns(schema: DatasetSchema, data_dir: Path) -> InteractionColumns:
    """The interactions file, labels dropped and binarised as the schema says."""
    spec = schema.interactions
    path = data_dir / spec.file
    columns = [spec.user_id, spec.item_id, spec.label.column]
    if spec.timestamp is not None:
        columns.append(spec.timestamp)
    raw = read_columns(path, spec.format, columns)

    label = number_array(raw.column(spec.label.column), spec.label.column, path)
    keep = ~np.isin(label, spec.label.drop)
    if not keep.all():
        raw = raw.filter(pa.array(keep))
    if not raw.num_rows:
        raise DataError(f"{path}: no interactions left after dropping labels {spec.label.drop}")
    if spec.timestamp is None:
        # The file's own row order stands in for time, so the temporal split still has one.
        timestamp = np.flatnonzero(keep).astype(np.int64)
    else:
        timestamp = number_array(raw.column(spec.timestamp), spec.timestamp, path).astype(np.int64)
    return InteractionColumns(
        user_id=id_array(raw.column(spec.user_id), schema.users.id_prefix, spec.user_id, path),
        item_id=id_array(raw.column(spec.item_id), schema.items.id_prefix, spec.item_id, path),
        label=_binary_label(label[keep], spec.label, path),
        timestamp=timestamp,
    )


def read_interactions(schema: DatasetSchema, data_dir: Path) -> pd.DataFrame:
    """The interactions file: user_id, item_id (str), label (float32 0/1), timestamp (int64)."""
    return read_interaction_columns(schema, data_dir).frame()


def read_events(schema: DatasetSchema, data_dir: Path) -> pd.DataFrame:
    """The events table: user_id (str), timestamp (int64), type (str, "" without a type
    column) and each sequence's token column as `token:<column>` (str, "" where missing), in the
    file's order."""
    spec = schema.events
    if spec is None:
        raise ValueError("the schema has no events table")
    path = data_dir / spec.file
    tokens = list(dict.fromkeys(s.column for s in spec.sequences))
    type_column = [spec.type] if spec.type is not None else []
    raw = read_columns(path, spec.format, [spec.user_id, spec.timestamp, *type_column, *tokens])
    frame = pd.DataFrame({
        "user_id": _ids(raw.column(spec.user_id), schema.users.id_prefix, spec.user_id, path),
        "timestamp": number_array(raw.column(spec.timestamp), spec.timestamp,
                                  path).astype(np.int64),
        "type": (_strings(raw.column(spec.type)) if spec.type is not None
                 else pd.Series("", index=range(raw.num_rows))),
    })
    for column in tokens:
        frame[f"token:{column}"] = _strings(raw.column(column)).to_numpy()
    return frame


def _binary_label(values: np.ndarray, spec: LabelSpec, path: Path) -> np.ndarray:
    if spec.positive_above is not None:
        return (values > spec.positive_above).astype(np.float32)
    invalid = np.unique(values[(values != 0) & (values != 1)])
    if len(invalid):
        found = ", ".join(f"{v:g}" for v in invalid[:5])
        raise DataError(
            f"{path}: label column {spec.column!r} must hold 0/1 (or set positive_above in the "
            f"schema); found {found}"
        )
    return values.astype(np.float32)


def read_entities(table: EntityTable, data_dir: Path, seen: pa.ChunkedArray,
                  name: str) -> pd.DataFrame:
    """The users or items of a dataset (RawData.users / .items): the entity file's rows, then a
    row of empty features for each id that only the interactions (`seen`) mention, in order of
    first appearance; the index is named `name` (user_id, item_id)."""
    frame = (read_entity_table(table, data_dir / table.file) if table.file is not None
             else pd.DataFrame(index=pd.Index([], dtype=str, name=table.id)))
    return _complete(frame, seen, name)


def _complete(frame: pd.DataFrame, seen: pa.ChunkedArray, name: str) -> pd.DataFrame:
    """Add a row of empty features for every id that only the interactions mention."""
    # Set operations in pyarrow: pandas' isin / difference on string ids are several times slower.
    ids = pc.unique(seen)
    known = pa.array(frame.index).cast(ids.type)
    extra = pd.Index(ids.filter(pc.invert(pc.is_in(ids, value_set=known))).to_pandas(), name=name)
    if len(extra) and len(frame.columns):
        log.info("%d %s values only in the interactions get empty features", len(extra), name)
    filler = pd.DataFrame("", index=extra, columns=frame.columns)
    return pd.concat([frame.rename_axis(name), filler]) if len(extra) else frame.rename_axis(name)


def id_array(column: pa.ChunkedArray | pa.Array, prefix: str, name: str,
             path: Path) -> pa.ChunkedArray | pa.Array:
    """An id column as Arrow strings, `prefix` stripped; an empty id is an error."""
    ids = string_array(column)
    if prefix:
        ids = pc.if_else(pc.starts_with(ids, prefix),
                         pc.utf8_slice_codeunits(ids, len(prefix)), ids)
    empty = pc.sum(pc.equal(ids, "")).as_py() or 0
    if empty:
        raise DataError(f"{path}: {empty} rows have an empty {name!r}")
    return ids


def _ids(column: pa.ChunkedArray, prefix: str, name: str, path: Path) -> pd.Series:
    return id_array(column, prefix, name, path).to_pandas()


def string_array(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A column as Arrow strings, "" where missing."""
    # Parquet may hold numbers or dictionaries; text columns are strings already (a no-op cast).
    return pc.fill_null(pc.cast(column, pa.string()), "")


def _strings(column: pa.ChunkedArray) -> pd.Series:
    return string_array(column).to_pandas()


def number_array(column: pa.ChunkedArray | pa.Array, name: str, path: Path) -> np.ndarray:
    """A numeric (or datetime) column as float64; an empty or infinite value is an error."""
    if pa.types.is_temporal(column.type):
        column = pc.cast(column, pa.int64())  # Parquet datetimes: ticks since the epoch
    try:
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowException as exc:
        raise DataError(f"{path}: column {name!r} must be numeric: {exc}") from exc
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{path}: column {name!r} has {bad.sum()} empty or infinite values")
    return values
