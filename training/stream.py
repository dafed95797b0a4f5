"""Mini-batches streamed from a built split's shards (training.shards): one shard in memory at a
time, whatever the row count.

The epoch's order, the same on every rank (one seeded generator): the shards in a random order,
each shard's rows in a random order of its own. Shards are user buckets, each a uniform sample
of the users, so a batch drawn from one is a random batch of the data; across epochs both the
shard order and the rows' order change. Under torchrun, rank r trains on its contiguous part of
that order (the parts padded with the order's first rows to equal length, as DistributedSampler
pads), so it reads about 1/world of the shards; scoring takes the shards in order and each rank
its contiguous part, which gathered in rank order is the split's order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from model.features import EncodedTable
from model.inputs import Batch
from training.dataset import TableTensors
from training.distributed import SINGLE, Ranks
from training.shards import ShardedSplit

_Rows = dict[str, Tensor]  # one block of rows: column -> (n, ...) tensor


class ShardSource:
    """Iterates a ShardedSplit in batches (the interface of training.dataset.BatchSource)."""

    def __init__(self, users: EncodedTable | TableTensors, items: EncodedTable | TableTensors,
                 split: ShardedSplit, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.users = TableTensors.of(users, self.device)
        self.items = TableTensors.of(items, self.device)
        self.split = split
        self.sizes = [s.rows for s in split.shards]

    def __len__(self) -> int:
        return len(self.split)

    def labels(self) -> np.ndarray:
        return self.split.column("label")

    def user_keys(self) -> np.ndarray:
        return self.split.column("user_row")

    def num_batches(self, batch_size: int, ranks: Ranks = SINGLE) -> int:
        return math.ceil(math.ceil(len(self) / ranks.world) / batch_size)

    def batches(self, batch_size: int, generator: torch.Generator | None = None,
                ranks: Ranks = SINGLE) -> Iterator[Batch]:
        """This rank's batches: of a fresh random order when a generator is given, else of the
        rows in order (see the module's docstring)."""
        n = len(self)
        if generator is not None:
            shard_order = torch.randperm(len(self.sizes), generator=generator).tolist()
            # one seed per shard, its rows' order drawn when it is read: O(shards) memory
            row_seeds = dict(zip(shard_order, torch.randint(
                2**62, (len(shard_order),), generator=generator).tolist(), strict=True))
            per_rank = math.ceil(n / ranks.world)
            ranges = _wrapped(ranks.rank * per_rank, per_rank, n)  # the last part wraps
        else:
            shard_order = list(range(len(self.sizes)))
            row_seeds = {}
            # torch.tensor_split's parts: the first n % world ranks take one row more
            part, extra = divmod(n, ranks.world)
            start = ranks.rank * part + min(ranks.rank, extra)
            ranges = [(start, start + part + (ranks.rank < extra))]
        pending: list[_Rows] = []
        held = 0
        for rows in self._blocks(shard_order, row_seeds, ranges):
            pending.append(rows)
            held += len(rows["label"])
            while held >= batch_size:
                block = _concat(pending)
                yield self._batch(_slice(block, 0, batch_size))
                rest = _slice(block, batch_size, held)
                pending, held = [rest], held - batch_size
        if held:
            yield self._batch(_concat(pending))

    def _blocks(self, shard_order: list[int], row_seeds: dict[int, int],
                ranges: list[tuple[int, int]]) -> Iterator[_Rows]:
        """The rows of `ranges` of the epoch's order, a shard's part at a time (a shard with a
        seed in `row_seeds` in the random order that seed draws, else in order)."""
        offsets = np.cumsum([0, *(self.sizes[s] for s in shard_order)])
        for start, stop in ranges:
            for k, shard in enumerate(shard_order):
                lo, hi = max(start, offsets[k]), min(stop, offsets[k + 1])
                if lo >= hi:
                    continue
                seed = row_seeds.get(shard)
                order = (torch.randperm(self.sizes[shard],
                                        generator=torch.Generator().manual_seed(seed))
                         if seed is not None else torch.arange(self.sizes[shard]))
                rows = _to_tensors(self.split.shards[shard].arrays(), self.device)
                picked = order[lo - offsets[k]:hi - offsets[k]]
                yield {key: value.index_select(0, picked.to(self.device))
                       for key, value in rows.items()}

    def _batch(self, rows: _Rows) -> Batch:
        windows = tuple((int(key.removeprefix("window-")), tokens)
                        for key, tokens in rows.items() if key.startswith("window-"))
        return Batch(
            user=self.users.gather(rows["user_row"], rows["user_num"], windows=windows),
            item=self.items.gather(rows["item_row"], rows["item_num"], rows.get("item_score")),
            item_key=rows["item_row"],
            label=rows["label"],
        )


def _to_tensors(columns: dict[str, np.ndarray], device: torch.device) -> _Rows:
    """A shard's columns as tensors; windows widened to int64 (the embedding lookups' type)."""
    return {key: torch.from_numpy(value.astype(np.int64) if key.startswith("window-")
                                  else value).to(device)
            for key, value in columns.items() if key != "row"}


def _wrapped(start: int, length: int, n: int) -> list[tuple[int, int]]:
    """Positions start, start + 1, ... (`length` of them) modulo n, as contiguous ranges."""
    ranges = []
    while length > 0 and n > 0:
        lo = start % n
        hi = min(n, lo + length)
        ranges.append((lo, hi))
        length, start = length - (hi - lo), hi
    return ranges


def _concat(blocks: list[_Rows]) -> _Rows:
    if len(blocks) == 1:
        return blocks[0]
    return {key: torch.cat([b[key] for b in blocks]) for key in blocks[0]}


def _slice(rows: _Rows, start: int, stop: int) -> _Rows:
    return {key: value[start:stop] for key, value in rows.items()}
