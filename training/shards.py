"""Encoded rows on disk: what `inttower data build` writes and training streams from.

A built folder holds the fitted codecs, the encoded user / item tables and, per split, shards
of encoded rows (training.features.EncodedSplit, windows materialised):

    build.json                    what was built and how: schema, split, seed, prior, shards
    codecs.json                   the user and item TowerCodec
    users.parquet, items.parquet  the encoded tables (EncodedTable.to_frame), at the cutoff
    train/part-00000/*.npy        one file per column, loadable with memory mapping
    valid.cutoff/..., test.cutoff/..., valid.online/..., test.online/...

A shard's columns: `row` (the interaction's row in the source file, for tests and joins),
user_row, item_row, user_num, item_num, label, item_score (when the items have a score term),
and each replaced multi-valued field of the user table as `window-<field>.npy`, (n, max_len)
int32 tokens most recent first (the history, the event sequences).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.features import EncodedTable, TowerCodec
from training.data import DataConfig
from training.encoded import EncodedSplit, RowHistory
from training.schema import DatasetSchema
from training.split import EvalMode, HeldOut, SplitKind

FORMAT = 1
MANIFEST = "build.json"


def split_names() -> list[str]:
    """Every split a build writes: train, then valid / test in each evaluation mode."""
    return ["train", *(held_out_name(split, mode) for mode in EvalMode for split in HeldOut)]


def held_out_name(split: HeldOut, mode: EvalMode) -> str:
    return f"{split.value}.{mode.value}"


def write_shard(folder: Path, rows: np.ndarray, split: EncodedSplit,
                windows: dict[int, np.ndarray]) -> None:
    """One shard: `split`'s columns (history and sequences left out) and `windows`, field ->
    (n, max_len) tokens, for the fields the rows replace."""
    folder.mkdir(parents=True)
    columns: dict[str, np.ndarray | None] = {
        "row": rows.astype(np.int64), "user_row": split.user_row, "item_row": split.item_row,
        "user_num": split.user_num, "item_num": split.item_num, "label": split.label,
        "item_score": split.item_score}
    columns |= {f"window-{field}": tokens.astype(np.int32) for field, tokens in windows.items()}
    for name, values in columns.items():
        if values is not None:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(values))


@dataclass(frozen=True)
class Shard:
    folder: Path
    rows: int

    def column(self, name: str, mmap: bool = True) -> np.ndarray:
        return np.load(self.folder / f"{name}.npy", mmap_mode="r" if mmap else None)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every column in memory: file name (without .npy) -> array."""
        return {path.stem: np.load(path) for path in sorted(self.folder.glob("*.npy"))}

    def read(self, history_field: int | None) -> EncodedSplit:
        """The shard in memory, its windows as RowHistory (the history is `history_field`)."""
        windows = {int(p.stem.removeprefix("window-")): RowHistory.from_padded(
            np.load(p).astype(np.int64), int(p.stem.removeprefix("window-")))
            for p in sorted(self.folder.glob("window-*.npy"))}
        score = self.folder / "item_score.npy"
        history = windows.pop(history_field, None) if history_field is not None else None
        return EncodedSplit(
            *(np.load(self.folder / f"{c}.npy") for c in
              ("user_row", "item_row", "user_num", "item_num", "label")),
            history=history, item_score=np.load(score) if score.exists() else None,
            sequences=tuple(windows[f] for f in sorted(windows)))


@dataclass(frozen=True)
class ShardedSplit:
    """One split's shards, in order; its rows are the shards' rows one after the other."""

    shards: tuple[Shard, ...]
    history_field: int | None

    def __len__(self) -> int:
        return sum(s.rows for s in self.shards)

    def column(self, name: str) -> np.ndarray:
        """One column of every row, in shard order (small columns: labels, user rows)."""
        return np.concatenate([s.column(name, mmap=False) for s in self.shards])


class BuiltData:
    """A built folder, opened: codecs and tables in memory, rows left on disk."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        manifest = folder / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(f"{folder} is not a built folder (no {MANIFEST}); "
                                    "make one with `inttower data build`")
        self.folder = folder
        self.manifest: dict[str, Any] = json.loads(manifest.read_text())
        if self.manifest.get("format") != FORMAT:
            raise ValueError(f"{folder}: build format {self.manifest.get('format')}, this "
                             f"version reads {FORMAT}: build it again")
        codecs = json.loads((folder / "codecs.json").read_text())
        self.user_codec = TowerCodec.from_dict(codecs["user"])
        self.item_codec = TowerCodec.from_dict(codecs["item"])
        self.users = _read_table(folder / "users.parquet", self.user_codec)
        self.items = _read_table(folder / "items.parquet", self.item_codec)
        self.prior: float = self.manifest["prior"]
        history = self.user_codec.layout.history
        self.splits = {name: ShardedSplit(tuple(Shard(folder / name / part["name"], part["rows"])
                                                for part in self.manifest["splits"][name]),
                                          history)
                       for name in split_names()}

    @property
    def schema(self) -> DatasetSchema:
        return DatasetSchema.model_validate(self.manifest["schema"])

    def data_config(self) -> DataConfig:
        """The dataset, split and seed this folder was built with."""
        return DataConfig(schema=None, dataset=self.manifest["dataset"],
                          split=SplitKind(self.manifest["split"]), seed=self.manifest["seed"])

    def split(self, name: str) -> ShardedSplit:
        """"train", or a held-out split in `cutoff` mode (as EncodedData.split)."""
        return self.splits[name if name == "train" else held_out_name(HeldOut(name),
                                                                        EvalMode.cutoff)]

    @property
    def held_out(self) -> dict[EvalMode, dict[HeldOut, ShardedSplit]]:
        return {mode: {split: self.splits[held_out_name(split, mode)] for split in HeldOut}
                for mode in EvalMode}


def write_table(path: Path, table: EncodedTable, codec: TowerCodec) -> None:
    table.to_frame(codec.id.column).to_parquet(path, index=False)


def _read_table(path: Path, codec: TowerCodec) -> EncodedTable:
    return EncodedTable.from_frame(pd.read_parquet(path), codec.id.column)
