"""Run benchmark tasks (one model variant on one seed each), in this process or in worker
processes. Each process prepares a (dataset, split, seed) once and keeps it for the tasks after."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache

import torch

from bench.quality.cost import ServingCost
from bench.quality.zoo import Variant, build, serving_cost
from training.data import DataConfig, ItemStat, prepare_data
from training.encoded import EncodedData
from training.loop import FitConfig, Metrics, fit_and_score
from training.split import EvalMode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    data: DataConfig
    variant: Variant
    fit: FitConfig
    device: str


@dataclass(frozen=True)
class RunResult:
    family: str
    variant: str
    seed: int
    valid: Metrics  # cutoff mode: as a bundle serves without request features; chooses variants
    test: Metrics
    online: dict[str, Metrics]  # "valid" / "test" with the user's state fresh from the request
    best_epoch: int
    epochs_run: int
    train_seconds: float
    parameters: int
    serving: ServingCost


@lru_cache(maxsize=len(ItemStat) + 1)
def _encoded(config: DataConfig) -> EncodedData:
    # Tasks are queued seed by seed and workers take them in order, so the datasets of one seed
    # (one per item-statistic placement) are enough: a worker never returns to a seed it left.
    return prepare_data(config)[1]


def run_task(task: Task) -> RunResult:
    data = _encoded(task.data)
    torch.manual_seed(task.data.seed)  # the same initial weights wherever the task runs
    model, objective = build(task.variant, data.user_codec.spec, data.item_codec.spec)
    fit, metrics = fit_and_score(model, objective, data, task.fit, task.device)
    cutoff = metrics[EvalMode.cutoff]
    return RunResult(
        task.variant.family, task.variant.name, task.data.seed, cutoff["valid"], cutoff["test"],
        metrics[EvalMode.online], fit.best_epoch,
        fit.epochs_run, fit.train_seconds, sum(p.numel() for p in model.parameters()),
        serving_cost(task.variant, model),
    )


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _init_worker(threads: int, log_level: int) -> None:
    logging.basicConfig(level=log_level,
                        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    torch.set_num_threads(threads)


def run_tasks(tasks: list[Task], jobs: int = 1) -> Iterator[tuple[Task, RunResult]]:
    """(task, result) in completion order. jobs > 1: that many worker processes, each with an
    equal share of the cores as torch threads."""
    if jobs <= 1:
        try:
            yield from ((task, run_task(task)) for task in tasks)
        finally:
            _encoded.cache_clear()
        return
    threads = max(1, available_cores() // jobs)
    # spawn, not fork: a forked CUDA context is unusable, and so are torch's thread pools.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                             initargs=(threads, logging.getLogger().getEffectiveLevel())) as pool:
        futures = {pool.submit(run_task, task): task for task in tasks}
        for future in as_completed(futures):
            yield futures[future], future.result()
