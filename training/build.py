"""`inttower data build`: a split's features built out of core and written as shards.

Row for row the features of training.features.encode_dataset (tests/test_build.py), from a
pipeline that never holds the behaviour log or a Python string per row:
- ids are coded with Arrow compute (hash lookups into the entity tables), so the interaction
  rows become integer arrays (CodedRows, about 30 bytes a row) and the string columns go;
- the interaction-level statistics (the as-of positive rates, the history of positive items)
  are computed in memory on those integers by training.as_of's sorts and binary searches;
- the events table (training.event_buckets) is streamed twice and spilled to disk by user
  bucket; each bucket's event sequences are computed with only its own events in memory;
- rows go to disk shard by shard, one shard per (split, user bucket) (training.shards).

Why Arrow and numpy rather than DuckDB or Polars: the reading is Arrow's already
(training.tables), coding by hash lookup is one Arrow call per column, and the as-of windows
(each row's last `max_len` events strictly before it) are one sort plus binary searches in
numpy, where SQL would build a list per row; measured in docs/benchmarks/train-cpu.md.
The folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from training.data import DataConfig, resolve_schema
from training.encoded import EncodedData, EncodedSplit
from training.event_buckets import EventBuckets, fit_vocabularies
from training.event_sequences import train_cutoff
from training.features import CodedRows, encode_rows
from training.shards import FORMAT, MANIFEST, held_out_name, write_shard, write_table
from training.split import EvalMode, HeldOut, split_rows
from training.tables import read_entities, read_interaction_columns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildConfig:
    data: DataConfig = field(default_factory=DataConfig)
    # Train rows per shard (and so the number of user buckets); a bucket's events are what
    # the sequences hold in memory at once.
    shard_rows: int = 500_000
    progress: bool = True
    command: str = ""  # recorded in build.json


def build(config: BuildConfig, out: Path) -> Path:
    """Build the split's features into the folder `out` (which must not exist yet)."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists: remove it or build into another folder")
    started = time.perf_counter()
    schema, data_dir = resolve_schema(config.data)
    columns = read_interaction_columns(schema, data_dir)
    users = read_entities(schema.users, data_dir, columns.user_id, "user_id")
    items = read_entities(schema.items, data_dir, columns.item_id, "item_id")
    rows = CodedRows(_rows_of(users, columns.user_id), _rows_of(items, columns.item_id),
                     columns.label, columns.timestamp)
    del columns  # the string ids: the largest thing read
    split = split_rows(rows.timestamp, config.data.split, config.data.seed)
    buckets = max(1, math.ceil(len(split["train"]) / config.shard_rows))
    log.info("%s: %d rows (train %d), %d users, %d items, %d user buckets", schema.name,
             len(rows), len(split["train"]), len(users), len(items), buckets)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as work:
        events = None
        cutoff = train_cutoff(rows.timestamp, split["train"])
        if schema.events is not None:
            codecs = fit_vocabularies(schema, data_dir, cutoff, config.progress)
            events = EventBuckets(Path(work) / "events", buckets, codecs)
            events.spill(schema, data_dir, pd.Index(users.index), config.progress)
        data = encode_rows(schema, users, items, rows, split,
                           tuple((c, None) for c in events.codecs) if events else ())
        staged = Path(work) / "built"
        shards = _write_shards(staged, data, rows, split, buckets, events, cutoff,
                               config.progress)
        write_table(staged / "users.parquet", data.users, data.user_codec)
        write_table(staged / "items.parquet", data.items, data.item_codec)
        (staged / "codecs.json").write_text(json.dumps(
            {"user": data.user_codec.to_dict(), "item": data.item_codec.to_dict()}))
        manifest: dict[str, Any] = {
            "format": FORMAT, "dataset": schema.name,
            "schema": schema.model_dump(mode="json"), "split": config.data.split.value,
            "seed": config.data.seed, "prior": data.prior, "rows": len(rows),
            "buckets": buckets, "splits": shards, "command": config.command,
            "seconds": round(time.perf_counter() - started, 1)}
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=1))
        staged.rename(out)
    log.info("built %s in %.1f s", out, time.perf_counter() - started)
    return out


def _rows_of(entities: pd.DataFrame, ids: pa.ChunkedArray) -> np.ndarray:
    """(N,) int64 row of each id in `entities` (every id is there: read_entities adds them)."""
    known = pa.array(entities.index.to_numpy(dtype=object), pa.string())
    return pc.index_in(ids, value_set=known).to_numpy().astype(np.int64)


def _by_bucket(positions: np.ndarray, user_row: np.ndarray, buckets: int) -> list[np.ndarray]:
    """Per bucket, the positions of a split whose user is in it, in split order."""
    bucket = user_row[positions] % buckets
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1))
    return [order[bounds[b]:bounds[b + 1]] for b in range(buckets)]


def _write_shards(folder: Path, data: EncodedData, rows: CodedRows,
                  split: dict[str, np.ndarray], buckets: int, events: EventBuckets | None,
                  cutoff: int, progress: bool) -> dict[str, list[dict[str, Any]]]:
    """Every split's shards, bucket by bucket; fills the users table's event sequences (its
    cutoff state). Returns split -> [{name, rows}] for build.json."""
    layout = data.user_codec.layout
    history_len = data.user_codec.history.max_len if data.user_codec.history else 0
    splits: dict[str, tuple[np.ndarray, EncodedSplit, EvalMode | None]] = {
        "train": (split["train"], data.train, None)}
    for mode in EvalMode:
        for held in HeldOut:
            splits[held_out_name(held, mode)] = (split[held.value], data.held_out[mode][held],
                                                 mode)
    parts = {name: _by_bucket(positions, rows.user_row, buckets)
             for name, (positions, _, _) in splits.items()}
    fields = [layout.sequences[c.column] for c in data.user_codec.sequences]
    as_of_rows = [name for name, (_, _, mode) in splits.items() if mode is not EvalMode.cutoff]
    shards: dict[str, list[dict[str, Any]]] = {name: [] for name in splits}
    for bucket in tqdm(range(buckets), desc="shards", disable=not progress):
        taken = {name: parts[name][bucket] for name in splits}
        source_rows = {name: positions[taken[name]] for name, (positions, _, _) in splits.items()}
        users = np.arange(bucket, len(data.users), buckets)  # the bucket's users
        windows_of = _bucket_sequences(events, bucket, fields, rows,
                                       [source_rows[name] for name in as_of_rows], users, cutoff)
        for field_index, tokens in windows_of[-1].items():  # the stored (cutoff) state
            data.users.seq[field_index][users] = tokens
        for name, (_, encoded, _) in splits.items():
            part = encoded.take(taken[name])
            windows = windows_of[as_of_rows.index(name)] if name in as_of_rows else {}
            if part.history is not None:
                windows[part.history.field] = part.history.padded(history_len)
            shard = f"part-{bucket:05d}"
            write_shard(folder / name / shard, source_rows[name], part, windows)
            shards[name].append({"name": shard, "rows": len(taken[name])})
    return shards


def _bucket_sequences(events: EventBuckets | None, bucket: int, fields: list[int],
                      rows: CodedRows, groups: list[np.ndarray], users: np.ndarray,
                      cutoff: int) -> list[dict[int, np.ndarray]]:
    """The bucket's event sequences for each group of interaction rows (as of each row's time),
    then for its `users` at the cutoff: per group, field -> (n, max_len) tokens. Every query of
    the bucket in one call per sequence, so its events are sorted once."""
    if events is None:
        return [{} for _ in range(len(groups) + 1)]
    query_user = np.concatenate([*(rows.user_row[g] for g in groups), users])
    query_time = np.concatenate([*(rows.timestamp[g] for g in groups),
                                 np.full(len(users), cutoff, np.int64)])
    bounds = np.cumsum([0, *(len(g) for g in groups), len(users)])
    recent = [sequence.recent(query_user, query_time) for sequence in events.load(bucket)]
    return [{field: tokens[bounds[k]:bounds[k + 1]] for field, tokens in
             zip(fields, recent, strict=True)} for k in range(len(groups) + 1)]
