"""The behaviour log out of core: streamed twice in record batches, never held in memory.

Pass 1 fits each event sequence's vocabulary (its counted tokens strictly before the train
cutoff, as training.event_sequences.fit_sequence does). Pass 2 codes every event with Arrow
compute (user row and token codes by hash lookup, no Python string per event) and appends it
to the files of its user bucket (user row % buckets), in the log's order. A bucket then loads
as the SequenceEvents of its users alone: the as-of kernels see one bucket's events at a time.

Bucket files (`bucket-00007/user.bin`, `time.bin`, `seq-0.bin`, ...) are flat arrays: user
int32, time int64 and per sequence an int32 token code, 0 where the event does not count for
that sequence (type not picked, or no token).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from model.features import OOV, TokenCodec
from training.event_sequences import SequenceEvents
from training.schema import DatasetSchema, EventSequence
from training.table_files import iter_batches
from training.tables import id_array, number_array, string_array

BATCH_ROWS = 1 << 21  # events per record batch: ~60 MB of coded columns


@dataclass(frozen=True)
class _EventBatch:
    user_id: pa.Array | None  # (B,) str, prefix stripped (None when not asked for)
    time: np.ndarray  # (B,) int64
    kind: pa.Array  # (B,) str event type, "" without a type column
    tokens: dict[str, pa.Array]  # token column -> (B,) str, "" where missing


class _LogReader:
    """The events table of a schema, batch by batch, as Arrow columns."""

    def __init__(self, schema: DatasetSchema, data_dir: Path, progress: bool) -> None:
        spec = schema.events
        if spec is None:
            raise ValueError("the schema has no events table")
        self.spec, self.user_prefix = spec, schema.users.id_prefix
        self.path = data_dir / spec.file
        self.progress = progress

    def batches(self, what: str, with_user: bool) -> Iterator[_EventBatch]:
        """The log in record batches, a progress bar named `what` counting the events."""
        spec = self.spec
        tokens = list(dict.fromkeys(s.column for s in spec.sequences))
        columns = [*([spec.user_id] if with_user else []), spec.timestamp,
                   *([spec.type] if spec.type is not None else []), *tokens]
        bar = tqdm(desc=what, unit=" events", unit_scale=True, disable=not self.progress)
        for batch in iter_batches(self.path, spec.format, columns, BATCH_ROWS):
            user = (id_array(batch.column(spec.user_id), self.user_prefix, spec.user_id,
                             self.path) if with_user else None)
            time = number_array(batch.column(spec.timestamp), spec.timestamp,
                            self.path).astype(np.int64)
            kind = (string_array(batch.column(spec.type)) if spec.type is not None
                    else pa.nulls(batch.num_rows, pa.string()).fill_null(""))
            yield _EventBatch(user, time, kind,
                              {c: string_array(batch.column(c)) for c in tokens})
            bar.update(batch.num_rows)
        bar.close()


def _counted(sequence: EventSequence, kind: pa.Array, token: pa.Array) -> pa.Array:
    """(B,) bool: the events that count for `sequence` (its types; a token present)."""
    present = pc.not_equal(token, "")
    if sequence.types is None:
        return present
    return pc.and_(present, pc.is_in(kind, value_set=pa.array(sequence.types, pa.string())))


def fit_vocabularies(schema: DatasetSchema, data_dir: Path, cutoff: int,
                     progress: bool = True) -> tuple[TokenCodec, ...]:
    """Each event sequence's codec: the sorted tokens of its counted events before `cutoff`."""
    assert schema.events is not None
    sequences = schema.events.sequences
    seen: list[set[str]] = [set() for _ in sequences]
    for batch in _LogReader(schema, data_dir, progress).batches("vocabularies",
                                                                with_user=False):
        early = pa.array(batch.time < cutoff)
        for found, sequence in zip(seen, sequences, strict=True):
            token = batch.tokens[sequence.column]
            keep = pc.and_(early, _counted(sequence, batch.kind, token))
            found.update(pc.unique(pc.filter(token, keep)).to_pylist())
    return tuple(TokenCodec(s.field, tuple(sorted(found)), multi=True, max_len=s.max_len)
                 for s, found in zip(sequences, seen, strict=True))


class EventBuckets:
    """The coded behaviour log on disk, one folder per user bucket."""

    def __init__(self, folder: Path, buckets: int, codecs: tuple[TokenCodec, ...]) -> None:
        self.folder, self.buckets, self.codecs = folder, buckets, codecs

    def _file(self, bucket: int, column: str) -> Path:
        return self.folder / f"bucket-{bucket:05d}" / f"{column}.bin"

    def spill(self, schema: DatasetSchema, data_dir: Path, users: pd.Index,
              progress: bool = True) -> None:
        """Pass 2: code each event (user row of `users`, time, token codes) and append it to
        its bucket; events of users outside `users`, and events no sequence counts, dropped."""
        assert schema.events is not None
        sequences = schema.events.sequences
        user_ids = pa.array(users.to_numpy(dtype=object), pa.string())
        vocabs = [pa.array(c.vocab, pa.string()) for c in self.codecs]
        columns = ["user", "time", *(f"seq-{i}" for i in range(len(sequences)))]
        for bucket in range(self.buckets):
            self._file(bucket, "user").parent.mkdir(parents=True, exist_ok=True)
        handles = {(b, c): self._file(b, c).open("wb")
                   for b in range(self.buckets) for c in columns}
        try:
            for batch in _LogReader(schema, data_dir, progress).batches("behaviour log",
                                                                        with_user=True):
                user = pc.index_in(batch.user_id, value_set=user_ids).fill_null(-1).to_numpy()
                codes = []
                for sequence, vocab in zip(sequences, vocabs, strict=True):
                    token = batch.tokens[sequence.column]
                    code = pc.add(pc.index_in(token, value_set=vocab), 2).fill_null(OOV)
                    counted = _counted(sequence, batch.kind, token)
                    codes.append(np.where(counted.to_numpy(zero_copy_only=False),
                                          code.to_numpy(), 0).astype(np.int32))
                keep = (user >= 0) & np.any(np.stack(codes) > 0, axis=0)
                bucket = user[keep] % self.buckets
                order = np.argsort(bucket, kind="stable")  # keeps the log's order per bucket
                bounds = np.searchsorted(bucket[order], np.arange(self.buckets + 1))
                arrays = [user[keep].astype(np.int32), batch.time[keep],
                          *(code[keep] for code in codes)]
                for b in range(self.buckets):
                    rows = order[bounds[b]:bounds[b + 1]]
                    for column, values in zip(columns, arrays, strict=True):
                        values[rows].tofile(handles[b, column])
        finally:
            for handle in handles.values():
                handle.close()

    def load(self, bucket: int) -> tuple[SequenceEvents, ...]:
        """The bucket's events, per sequence (those that count for it), keyed by user row."""
        user = np.fromfile(self._file(bucket, "user"), np.int32).astype(np.int64)
        time = np.fromfile(self._file(bucket, "time"), np.int64)
        loaded = []
        for i, codec in enumerate(self.codecs):
            code = np.fromfile(self._file(bucket, f"seq-{i}"), np.int32)
            keep = code > 0
            loaded.append(SequenceEvents(user[keep], time[keep], code[keep].astype(np.int64),
                                         codec.max_len))
        return tuple(loaded)
