"""The training loop: a step is a function of (model, batch, optimizer); fitting early-stops on
validation AUC and restores the best epoch (SPEC §2.7)."""

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
from training.dataset import BatchSource
from training.metrics import evaluate

log = logging.getLogger(__name__)

# (model, batch) -> (loss to minimise, detached parts to log)
Objective = Callable[[nn.Module, Batch], tuple[Tensor, dict[str, Tensor]]]


def train_step(model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer,
               objective: Objective) -> dict[str, Tensor]:
    optimizer.zero_grad(set_to_none=True)
    loss, parts = objective(model, batch)
    loss.backward()
    optimizer.step()
    return {"loss": loss.detach(), **parts}


@torch.no_grad()
def predict(model: nn.Module, source: BatchSource, batch_size: int) -> np.ndarray:
    """Probabilities for every row of `source`, in row order, with the model in eval mode."""
    model.eval()
    logits = [model(batch).logit for batch in source.batches(batch_size)]
    return torch.sigmoid(torch.cat(logits)).cpu().numpy()


def score_split(model: nn.Module, source: BatchSource, batch_size: int) -> dict[str, float]:
    prob = predict(model, source, batch_size)
    return evaluate(source.label.cpu().numpy(), prob, source.user_keys())


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 10
    batch_size: int = 2048
    lr: float = 1e-3
    patience: int = 2  # epochs without a better validation AUC before stopping
    seed: int = 1
    progress: bool = True


@dataclass
class FitResult:
    best_epoch: int
    epochs_run: int
    train_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def best(self) -> dict[str, float]:
        return self.history[self.best_epoch - 1]


def fit(model: nn.Module, train: BatchSource, valid: BatchSource, objective: Objective,
        config: FitConfig) -> FitResult:
    """Adam, shuffled epochs, early stopping on validation AUC; leaves the best weights loaded."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    best_auc, best_state, best_epoch = -1.0, None, 0
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()  # every epoch: evaluation below switches to eval mode
        totals: dict[str, float] = {}
        bar = tqdm(train.batches(config.batch_size, generator), total=train.num_batches(
            config.batch_size), desc=f"epoch {epoch}", disable=not config.progress, leave=False)
        for step, batch in enumerate(bar, start=1):
            parts = train_step(model, batch, optimizer, objective)
            for key, value in parts.items():
                totals[key] = totals.get(key, 0.0) + float(value)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{totals['loss'] / step:.4f}")
        steps = train.num_batches(config.batch_size)
        valid_metrics = score_split(model, valid, config.batch_size * 4)
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
    return FitResult(best_epoch, len(history), time.perf_counter() - started, history)
