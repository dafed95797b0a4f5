"""Data-parallel training under torchrun: torch.distributed, gloo on the CPU and NCCL on GPUs.

torchrun starts one process per rank and sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous
address. Without them every helper here does what a single process would, so the trainer has one
code path. What is sharded: each epoch's rows (a seeded permutation, the same on every rank, cut
into disjoint parts) and the scoring of validation and test rows. What is replicated: the data,
the model and its embedding tables, and every decision taken from the gathered metrics.

BatchNorm: torch's SyncBatchNorm runs only on GPU modules ("SyncBatchNorm layers only work with
GPU modules"), so on GPUs the batch statistics are synchronised, while on the CPU each rank
normalises by its own part of the batch (1,024 rows of 2,048 at two ranks) and DDP broadcasts
rank 0's running statistics at every forward, so every rank evaluates with the same ones.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.nn.functional import all_gather as all_gather_with_gradient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: rank `rank` of `world` (0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1
    backend: str | None = None  # "gloo" or "nccl" when distributed

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Ranks()


def join(device: str) -> tuple[Ranks, str]:
    """Join the torchrun job this process was started in (if any); the device this rank uses
    (a CUDA job runs rank r on cuda:LOCAL_RANK)."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return SINGLE, device
    cuda = device.startswith("cuda")
    if cuda:
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        torch.cuda.set_device(device)
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend)
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), backend)
    if not ranks.is_main:  # one log, one progress bar: rank 0's
        logging.getLogger().setLevel(logging.WARNING)
    log.info("rank %d of %d (%s) on %s", ranks.rank, ranks.world, backend, device)
    return ranks, device


def leave(ranks: Ranks) -> None:
    if ranks.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, ranks: Ranks, device: str) -> nn.Module:
    """`model` as this rank trains it: DistributedDataParallel (SyncBatchNorm on GPUs), or
    itself when run alone. The wrapper shares the module's parameters. Tables with sparse
    gradients are left out of DDP: gloo's sparse all-reduce, which DDP would call, kills a rank
    now and then (SIGSEGV or SIGABRT, 2 runs in 5 of 3,000 steps, torch 2.13) and NCCL has none;
    the optimiser averages them with `average_sparse_gradients`, and they start as rank 0's
    (DDP broadcasts only the parameters it manages)."""
    if not ranks.distributed:
        return model
    sparse = {f"{name}.weight": module.weight for name, module in model.named_modules()
              if isinstance(module, nn.Embedding) and module.sparse}
    nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
        model, list(sparse))
    for weight in sparse.values():
        dist.broadcast(weight.data, src=0)
    if device.startswith("cuda"):
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[torch.device(device)])
    return nn.parallel.DistributedDataParallel(model)


def average_sparse_gradients(params: list[nn.Parameter], ranks: Ranks) -> None:
    """Replace each sparse `.grad` by its mean over the ranks, as DDP averages dense ones, with
    dense all-gathers of one shape on every rank: the row counts, then every rank's rows and
    values padded to the largest count. The cost follows the rows the batches looked up."""
    if not ranks.distributed:
        return
    for param in params:
        grad = (param.grad if param.grad is not None
                else torch.sparse_coo_tensor(torch.empty(1, 0, dtype=torch.long),
                                             torch.empty(0, *param.shape[1:]), param.shape,
                                             check_invariants=True))
        grad = grad.to(param.device).coalesce()
        rows, values = grad.indices()[0], grad.values()  # (nnz,), (nnz, D)
        counts = _all_gather(torch.tensor([len(rows)], device=param.device), ranks)
        most = int(max(counts))
        rows = _all_gather(nn.functional.pad(rows, (0, most - len(rows))), ranks)
        values = _all_gather(nn.functional.pad(values, (0, 0, 0, most - len(values))), ranks)
        count = [int(c) for c in counts]
        param.grad = torch.sparse_coo_tensor(
            torch.cat([r[:c] for r, c in zip(rows, count, strict=True)])[None],
            torch.cat([v[:c] for v, c in zip(values, count, strict=True)]) / ranks.world,
            param.shape, check_invariants=True).coalesce()


def _all_gather(x: Tensor, ranks: Ranks) -> list[Tensor]:
    parts = [torch.empty_like(x) for _ in range(ranks.world)]
    dist.all_gather(parts, x.contiguous())
    return parts


def shard_of_epoch(order: Tensor, ranks: Ranks) -> Tensor:
    """This rank's rows of an epoch's order: ranks take every `world`-th row from their own
    offset. The order is padded with its own first rows to a multiple of `world` (as torch's
    DistributedSampler pads), so every rank runs the same number of equal steps."""
    if not ranks.distributed:
        return order
    padding = -len(order) % ranks.world
    padded = torch.cat([order, order[:padding]]) if padding else order
    return padded[ranks.rank::ranks.world]


def shard_in_order(order: Tensor, ranks: Ranks) -> Tensor:
    """This rank's contiguous part of `order` (for scoring: the parts, gathered in rank order,
    are `order` again)."""
    return torch.tensor_split(order, ranks.world)[ranks.rank] if ranks.distributed else order


def gather_on_main(part: np.ndarray, ranks: Ranks) -> np.ndarray | None:
    """On rank 0, every rank's `part` (N_r, ...) concatenated in rank order; None elsewhere."""
    if not ranks.distributed:
        return part
    parts: list[Any] | None = [None] * ranks.world if ranks.is_main else None
    dist.gather_object(part, parts, dst=0)
    return np.concatenate(parts) if parts is not None else None


def from_main(value: Any, ranks: Ranks) -> Any:
    """Rank 0's `value`, on every rank."""
    if not ranks.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_batch(x: Tensor, ranks: Ranks) -> tuple[Tensor, int]:
    """Every rank's `x` (B, ...) concatenated in rank order, (world*B, ...), and the offset of
    this rank's rows in it. Differentiable, as distributed contrastive losses gather: the
    backward sends each rank the gradient of every rank's loss for its own rows, so with DDP's
    averaging the step follows the global batch's loss (toy data, 3 seeds: valid AUC within
    0.005 of one process, while a gather whose other rows are constants fell 0.01-0.02 short).
    B must be the same on every rank (shard_of_epoch makes it so)."""
    if not ranks.distributed:
        return x, 0
    with warnings.catch_warnings():
        # torch 2.13 deprecates it for the private _functional_collectives.all_gather_single;
        # this one is what 20 of 20 two-rank runs were checked with.
        warnings.filterwarnings("ignore", "torch.distributed.nn.functional.all_gather",
                                FutureWarning)
        parts = all_gather_with_gradient(x.contiguous())
    return torch.cat(parts), ranks.rank * len(x)


def broadcast_buffers(model: nn.Module, ranks: Ranks) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank: each rank's last training
    forward moved its own copy, and scoring and export must all use the one rank 0 exports."""
    if ranks.distributed:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
