"""The training loop: a step is a function of (model, batch, optimizer); fitting early-stops on
validation AUC and restores the best epoch."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from model.inputs import Batch
from training.dataset import BatchSource, TableTensors
from training.distributed import SINGLE, Ranks, broadcast_buffers, from_main, gather_on_main, wrap
from training.encoded import EncodedData, EncodedSplit
from training.metrics import evaluate
from training.optim import RowwiseAdam, set_sparse_gradients
from training.shards import BuiltData, ShardedSplit
from training.stream import ShardSource

log = logging.getLogger(__name__)

Source = BatchSource | ShardSource  # a split's rows in memory, or streamed from its shards
# (model, batch) -> (loss to minimise, detached parts to log)
Objective = Callable[[nn.Module, Batch], tuple[Tensor, dict[str, Tensor]]]
Metrics = dict[str, float]  # auc, logloss, gauc of one split
# evaluation mode ("cutoff", "online") -> held-out split ("valid", "test") -> metrics
HeldOutMetrics = dict[str, dict[str, Metrics]]


def train_step(model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer | RowwiseAdam,
               objective: Objective) -> dict[str, Tensor]:
    optimizer.zero_grad(set_to_none=True)
    loss, parts = objective(model, batch)
    loss.backward()
    optimizer.step()
    return {"loss": loss.detach(), **parts}


@torch.no_grad()
def predict(model: nn.Module, source: Source, batch_size: int,
            ranks: Ranks = SINGLE) -> np.ndarray:
    """Probabilities of the rows of `source` in row order (in a data-parallel job, of this
    rank's contiguous part), with the model in eval mode."""
    model.eval()
    logits = [model(batch).logit for batch in source.batches(batch_size, ranks=ranks)]
    return torch.sigmoid(torch.cat(logits)).cpu().numpy() if logits else np.empty(0, np.float32)


def score_split(model: nn.Module, source: Source, batch_size: int,
                ranks: Ranks = SINGLE) -> dict[str, float]:
    """AUC, logloss and GAUC over the whole split: each rank scores its part, rank 0 computes
    the metrics, every rank gets them."""
    prob = gather_on_main(predict(model, source, batch_size, ranks), ranks)
    metrics = (evaluate(source.labels(), prob, source.user_keys())
               if prob is not None else None)
    return from_main(metrics, ranks)


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 10
    batch_size: int = 2048
    lr: float = 1e-3
    patience: int = 2  # epochs without a better validation AUC before stopping
    seed: int = 1
    progress: bool = True
    # Embedding tables with sparse gradients and SparseAdam (training.optim); False: dense Adam.
    sparse_embeddings: bool = True


@dataclass
class FitResult:
    best_epoch: int
    epochs_run: int
    train_seconds: float  # the whole loop: steps and validation
    history: list[dict[str, float]] = field(default_factory=list)
    samples_per_s: float = 0.0  # training steps alone (batch assembly included), this rank's

    @property
    def best(self) -> dict[str, float]:
        return self.history[self.best_epoch - 1]


def fit(model: nn.Module, train: Source, valid: Source, objective: Objective,
        config: FitConfig, ranks: Ranks = SINGLE) -> FitResult:
    """Adam (row-wise on the embedding tables), shuffled epochs, early stopping on validation AUC;
    leaves the best weights loaded. In a data-parallel job (`ranks`), `config.batch_size` is the
    global batch: each rank steps on its share of it, and every rank takes the same decisions
    from the same gathered metrics."""
    set_sparse_gradients(model, config.sparse_embeddings)
    trained = wrap(model, ranks, str(train.device))  # what the steps call; shares the weights
    optimizer = RowwiseAdam(model, config.lr, ranks)
    batch_size = -(-config.batch_size // ranks.world)
    generator = torch.Generator().manual_seed(config.seed)
    best_auc, best_state, best_epoch = -1.0, None, 0
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    samples, step_seconds = 0, 0.0
    for epoch in range(1, config.epochs + 1):
        trained.train()  # every epoch: evaluation below switches to eval mode
        totals: dict[str, float] = {}
        steps = train.num_batches(batch_size, ranks)
        bar = tqdm(train.batches(batch_size, generator, ranks), total=steps,
                   desc=f"epoch {epoch}", disable=not (config.progress and ranks.is_main),
                   leave=False)
        epoch_started = time.perf_counter()
        for step, batch in enumerate(bar, start=1):
            samples += len(batch.label)
            parts = train_step(trained, batch, optimizer, objective)
            for key, value in parts.items():
                totals[key] = totals.get(key, 0.0) + float(value)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{totals['loss'] / step:.4f}")
        step_seconds += time.perf_counter() - epoch_started
        broadcast_buffers(model, ranks)
        valid_metrics = score_split(model, valid, config.batch_size * 4, ranks)
        row = {"epoch": epoch, **{f"train_{k}": v / steps for k, v in totals.items()},
               **{f"valid_{k}": v for k, v in valid_metrics.items()}}
        history.append(row)
        log.info("epoch %d  loss %.4f  valid auc %.4f  logloss %.4f", epoch, row["train_loss"],
                 valid_metrics["auc"], valid_metrics["logloss"])
        if best_state is None or valid_metrics["auc"] > best_auc:
            best_auc, best_epoch = valid_metrics["auc"], epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= config.patience:
            log.info("early stop: no better validation AUC for %d epochs", config.patience)
            break
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch, len(history), time.perf_counter() - started, history,
                     samples / step_seconds if step_seconds else 0.0)


def fit_and_score(model: nn.Module, objective: Objective, data: EncodedData | BuiltData,
                  fit_config: FitConfig, device: str, ranks: Ranks = SINGLE
                  ) -> tuple[FitResult, HeldOutMetrics]:
    """Fit on train with early stopping on valid (`cutoff` mode, as a bundle serves by default);
    return the fit and the valid / test metrics in every evaluation mode. `data` in memory, or
    built into shards and streamed (training.build)."""
    users, items = TableTensors(data.users, torch.device(device)), TableTensors(
        data.items, torch.device(device))

    def source(split: EncodedSplit | ShardedSplit) -> Source:
        if isinstance(split, ShardedSplit):
            return ShardSource(users, items, split, device)
        return BatchSource(users, items, split, device)

    valid = source(data.split("valid"))
    result = fit(model.to(device), source(data.split("train")), valid, objective, fit_config,
                 ranks)
    eval_batch = fit_config.batch_size * 4
    return result, {mode.value: {split.value: score_split(model, source(encoded), eval_batch,
                                                          ranks)
                                 for split, encoded in splits.items()}
                    for mode, splits in data.held_out.items()}
