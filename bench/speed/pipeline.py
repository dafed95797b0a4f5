"""The offline side's speed, for `inttower bench serve`: item refresh (items per second through
the item tower, as `inttower refresh-items` runs it) and training throughput (samples per second
of the default configuration)."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Iterable
from itertools import chain, count, islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model import store
from model.bundle import load_bundle
from model.config import ModelConfig
from model.features import TowerCodec
from model.inttower import IntTower
from model.losses import LossConfig
from training.data import DataConfig, prepare_data
from training.dataset import BatchSource
from training.encoded import EncodedData, RowHistory
from training.export import item_vectors
from training.fetch import FetchError
from training.loop import FitConfig, train_step
from training.objectives import inttower_objective
from training.optim import RowwiseAdam, set_sparse_gradients
from training.shards import BuiltData
from training.stream import ShardSource

WARM_UP_STEPS = 3  # not timed: first steps allocate and pick kernels


def _with_threads(threads: int, work: Callable[[], object]) -> float:
    """Seconds `work()` takes with `threads` torch threads (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        started = time.perf_counter()
        work()
        return time.perf_counter() - started
    finally:
        torch.set_num_threads(before)


def refresh_rate(artifacts: Path, repeats: int = 3) -> dict[str, Any]:
    """Items per second through the item tower over the bundle's whole catalogue, with the
    default torch threads (what refresh-items uses) and with one: the median of `repeats` runs."""
    bundle = load_bundle(store.current_path(artifacts))
    item_vectors(bundle.model, bundle.items.take(np.arange(min(1_000, len(bundle.items)))),
                 progress=False)  # warm-up
    default = torch.get_num_threads()
    rates = {}
    for threads in dict.fromkeys((default, 1)):
        seconds = statistics.median(
            _with_threads(threads, lambda: item_vectors(bundle.model, bundle.items,
                                                        progress=False))
            for _ in range(repeats))
        rates[f"items_per_s_{threads}_threads"] = len(bundle.items) / seconds
    return {"items": len(bundle.items), "default_threads": default, "repeats": repeats, **rates,
            "items_per_s": rates[f"items_per_s_{default}_threads"]}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _megabytes(arrays: Iterable[Any]) -> float:
    return sum(a.nbytes for a in arrays if a is not None) / 2**20


def _history(history: RowHistory | None) -> tuple[np.ndarray, ...]:
    return (history.tokens, history.end, history.length) if history else ()


def _encoded_mb(data: EncodedData) -> float:
    """The encoded user and item tables and interaction rows, as the batches read them."""
    tables = [a for t in (data.users, data.items) for a in (t.cat, t.num, *t.seq)]
    rows = [a for split in data.every_split()
            for a in (split.user_row, split.item_row, split.user_num, split.item_num, split.label,
                      *(_history(split.history)),
                      *(a for window in split.sequences for a in _history(window)))]
    return _megabytes(tables + rows)


def training_rate(source: DataConfig, steps: int, device: str,
                  sparse_embeddings: bool = True) -> dict[str, Any]:
    """Samples per second of the default IntTower configuration on the train split of `source`
    (batch 2048, the trainer's optimiser, BCE + CIR), over `steps` steps after a short warm-up."""
    dataset = str(source.schema or source.dataset)
    try:
        schema, data = prepare_data(source)
    except FetchError as exc:  # offline and not cached
        return {"dataset": dataset, "skipped": str(exc)}
    memory = {"train_rows": len(data.train), "data_peak_rss_mb": peak_rss_mb(),
              "encoded_mb": _encoded_mb(data)}
    train = BatchSource(data.users, data.items, data.train, device)
    return {"dataset": schema.name, **memory,
            **_timed_steps(data.user_codec, data.item_codec, train, steps, device,
                           sparse_embeddings)}


def streaming_rate(built: Path, steps: int, device: str,
                   sparse_embeddings: bool = True) -> dict[str, Any]:
    """training_rate's measure, the rows streamed from the shards of a built folder."""
    data = BuiltData(built)
    train = ShardSource(data.users, data.items, data.split("train"), device)
    return {"dataset": data.manifest["dataset"], "train_rows": len(train),
            "data_peak_rss_mb": peak_rss_mb(),
            **_timed_steps(data.user_codec, data.item_codec, train, steps, device,
                           sparse_embeddings)}


def _timed_steps(user_codec: TowerCodec, item_codec: TowerCodec, train: BatchSource | ShardSource,
                 steps: int, device: str, sparse_embeddings: bool) -> dict[str, Any]:
    """`steps` training steps of the default model over shuffled epochs of `train`, timed after
    WARM_UP_STEPS (batch assembly included); the model's and optimiser's memory."""
    batch_size = FitConfig().batch_size
    torch.manual_seed(0)
    model = IntTower(ModelConfig(user=user_codec.spec, item=item_codec.spec))
    model.to(device).train()
    set_sparse_gradients(model, sparse_embeddings)
    optimizer = RowwiseAdam(model, FitConfig().lr)
    objective = inttower_objective(LossConfig())
    generator = torch.Generator().manual_seed(0)
    batches = chain.from_iterable(train.batches(batch_size, generator) for _ in count())  # epochs
    for batch in islice(batches, WARM_UP_STEPS):
        train_step(model, batch, optimizer, objective)
    started = time.perf_counter()
    for batch in islice(batches, steps):  # batch assembly included
        train_step(model, batch, optimizer, objective)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    states = [v for o in optimizer.optimizers for state in o.state.values() for v in state.values()
              if isinstance(v, torch.Tensor)]
    return {"parameters_mb": _megabytes(model.parameters()),
            "optimizer_state_mb": _megabytes(states), "batch_size": batch_size, "steps": steps,
            "torch_threads": torch.get_num_threads(), "sparse_embeddings": sparse_embeddings,
            "samples_per_s": steps * batch_size / seconds}
