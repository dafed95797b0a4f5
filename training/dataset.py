"""Mini-batches of encoded interaction rows, gathered from the encoded user / item tables.

Kept apart from the loop so that a distributed run only changes which rows a worker iterates.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from model.features import EncodedTable
from model.inputs import Batch, TowerInputs
from training.distributed import SINGLE, Ranks, shard_in_order, shard_of_epoch
from training.encoded import EncodedSplit, RowHistory


class TableTensors:
    """An EncodedTable as tensors on the training device, for row gathers."""

    def __init__(self, table: EncodedTable, device: torch.device) -> None:
        self.cat = torch.tensor(table.cat).to(device)
        self.seq = [torch.tensor(s).to(device) for s in table.seq]
        self.device = device

    @classmethod
    def of(cls, table: EncodedTable | TableTensors, device: torch.device) -> TableTensors:
        """`table` on `device` (tensors already there are shared, not copied)."""
        if isinstance(table, TableTensors) and table.device == device:
            return table
        if isinstance(table, TableTensors):
            raise ValueError(f"tables on {table.device}, rows on {device}")
        return cls(table, device)

    def gather(self, rows: Tensor, num: Tensor, score: Tensor | None = None,
               windows: tuple[tuple[int, Tensor], ...] = ()) -> TowerInputs:
        """The table's rows with the split's `num` and `score` features; each of `windows`
        (field, (B, M) tokens) replaces that multi-valued field (the history, event sequences)."""
        seq = [s.index_select(0, rows) for s in self.seq]
        for field, tokens in windows:
            seq[field] = tokens
        return TowerInputs(self.cat.index_select(0, rows), tuple(seq), num, score)


class HistoryWindows:
    """A split's RowHistory as tensors: each row's most recent positives (or event tokens),
    gathered per batch."""

    def __init__(self, history: RowHistory, max_len: int, device: torch.device) -> None:
        self.field = history.field
        self.tokens = torch.tensor(history.tokens).to(device)
        self.end = torch.tensor(history.end).to(device)
        self.length = torch.tensor(history.length).to(device)
        self.offsets = torch.arange(max_len, device=device)  # 0 = the most recent

    def gather(self, idx: Tensor) -> Tensor:
        """(B,) split rows -> (B, max_len) int64 tokens, most recent first, 0-padded."""
        positions = self.end.index_select(0, idx)[:, None] - 1 - self.offsets  # (B, M)
        padding = self.offsets >= self.length.index_select(0, idx)[:, None]
        if not len(self.tokens):  # no train positives at all: every window is padding
            return torch.zeros_like(positions)
        return self.tokens[positions.clamp(min=0)].masked_fill(padding, 0)


class BatchSource:
    """Iterates one split in batches; `shuffle` reorders rows every epoch (seeded generator)."""

    def __init__(self, users: EncodedTable | TableTensors, items: EncodedTable | TableTensors,
                 split: EncodedSplit, device: torch.device | str = "cpu") -> None:
        device = torch.device(device)
        self.users = TableTensors.of(users, device)
        self.items = TableTensors.of(items, device)
        self.user_row = torch.tensor(split.user_row).to(device)
        self.item_row = torch.tensor(split.item_row).to(device)
        self.user_num = torch.tensor(split.user_num).to(device)
        self.item_num = torch.tensor(split.item_num).to(device)
        self.item_score = (torch.tensor(split.item_score).to(device)
                           if split.item_score is not None else None)
        self.label = torch.tensor(split.label).to(device)
        row_windows = (*([split.history] if split.history is not None else []), *split.sequences)
        self.windows = [HistoryWindows(w, self.users.seq[w.field].shape[1], device)
                        for w in row_windows]
        self.device = device

    def __len__(self) -> int:
        return len(self.label)

    def num_batches(self, batch_size: int, ranks: Ranks = SINGLE) -> int:
        """Batches of one rank's shuffled epoch (all of it when run alone)."""
        rows = math.ceil(len(self) / ranks.world)  # shard_of_epoch pads to equal parts
        return math.ceil(rows / batch_size)

    def batches(self, batch_size: int, generator: torch.Generator | None = None,
                ranks: Ranks = SINGLE) -> Iterator[Batch]:
        """Batches in row order, or in a fresh random order when a generator is given. In a
        data-parallel job, this rank's part: of the epoch's order (training.distributed
        shard_of_epoch), or a contiguous part of the rows (shard_in_order)."""
        if generator is not None:
            order = shard_of_epoch(torch.randperm(len(self), generator=generator), ranks)
        else:
            order = shard_in_order(torch.arange(len(self)), ranks)
        order = order.to(self.device)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            user_row = self.user_row.index_select(0, idx)
            item_row = self.item_row.index_select(0, idx)
            windows = tuple((w.field, w.gather(idx)) for w in self.windows)
            score = (self.item_score.index_select(0, idx)
                     if self.item_score is not None else None)
            yield Batch(
                user=self.users.gather(user_row, self.user_num.index_select(0, idx),
                                       windows=windows),
                item=self.items.gather(item_row, self.item_num.index_select(0, idx), score),
                item_key=item_row,
                label=self.label.index_select(0, idx),
            )

    def labels(self) -> np.ndarray:
        return self.label.cpu().numpy()

    def user_keys(self) -> np.ndarray:
        """(N,) user row of each example, for GAUC."""
        return self.user_row.cpu().numpy()
