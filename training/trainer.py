"""`train(config) -> TrainResult`: data -> leak-free features -> IntTower -> metrics -> bundle.

The CLI is a thin wrapper over this; tests call it at toy size.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from model.bundle import BundleContent
from model.config import ModelConfig
from model.inttower import IntTower
from model.item_vectors import DEFAULT_ITEM_DTYPE, ItemDtype, ItemVectors
from model.losses import LossConfig
from training.data import DataConfig, prepare_data
from training.distributed import Ranks, gather_batch, join, leave
from training.encoded import EncodedData
from training.export import item_vectors
from training.loop import FitConfig, FitResult, HeldOutMetrics, Metrics, fit_and_score
from training.objectives import inttower_objective
from training.publish import Challenger, publish
from training.shards import BuiltData
from training.split import EvalMode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    # Overrides of ModelConfig's architecture fields (embed_dim, hidden, user_heads, ...).
    model: dict[str, Any] = field(default_factory=dict)
    loss: LossConfig = field(default_factory=LossConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    artifacts: Path | None = Path("artifacts")  # None: do not publish a bundle
    challenger: Challenger | None = None  # publish as a rollout's challenger, CURRENT unchanged
    device: str = "cpu"
    item_dtype: ItemDtype = DEFAULT_ITEM_DTYPE  # how the bundle stores the item vectors
    # A folder `inttower data build` wrote: train streams from its shards (its dataset, split
    # and seed replace `data`'s).
    built: Path | None = None


@dataclass
class TrainResult:
    metrics: HeldOutMetrics  # mode -> valid / test -> auc, logloss, gauc
    fit: FitResult
    version: str | None
    model: torch.nn.Module
    data: EncodedData | BuiltData
    seconds: float
    main: bool = True  # False on the other ranks of a data-parallel job: they publish nothing

    @property
    def valid(self) -> Metrics:
        """Validation metrics as a bundle serves without request features (cutoff mode)."""
        return self.metrics[EvalMode.cutoff]["valid"]

    @property
    def test(self) -> Metrics:
        return self.metrics[EvalMode.cutoff]["test"]

    def summary(self) -> dict[str, Any]:
        return {"valid": self.valid, "test": self.test, "online": self.metrics[EvalMode.online],
                "best_epoch": self.fit.best_epoch,
                "epochs_run": self.fit.epochs_run,
                "train_seconds": round(self.fit.train_seconds, 1),
                "samples_per_s": round(self.fit.samples_per_s),
                "total_seconds": round(self.seconds, 1), "version": self.version}


def train(config: TrainConfig) -> TrainResult:
    """Train and publish; under torchrun, as one rank of a data-parallel job (rank 0 publishes)."""
    ranks, device = join(config.device)
    try:
        return _train(config, ranks, device)
    finally:
        leave(ranks)


def _train(config: TrainConfig, ranks: Ranks, device: str) -> TrainResult:
    started = time.perf_counter()
    data_config = config.data
    data: EncodedData | BuiltData
    if config.built is not None:
        data = BuiltData(config.built)
        schema, data_config = data.schema, data.data_config()
    else:
        schema, data = prepare_data(config.data)
    torch.manual_seed(data_config.seed)  # the same initial weights on every rank
    model_config = ModelConfig(user=data.user_codec.spec, item=data.item_codec.spec, **config.model)
    if config.loss.cir_weight > 0 and model_config.user_heads != model_config.item_heads:
        raise ValueError("CIR compares flattened head sets: it needs user_heads == item_heads "
                         "(or cir_weight 0)")
    model = IntTower(model_config)
    torch.manual_seed(data_config.seed + ranks.rank)  # ranks draw their own dropout masks
    objective = inttower_objective(config.loss, partial(gather_batch, ranks=ranks))
    result, metrics = fit_and_score(model, objective, data, config.fit, device, ranks)
    test, online = metrics[EvalMode.cutoff]["test"], metrics[EvalMode.online]["test"]
    log.info("test auc %.4f  logloss %.4f  gauc %.4f, online user state: auc %.4f (best epoch "
             "%d of %d)", test["auc"], test["logloss"], test["gauc"], online["auc"],
             result.best_epoch, result.epochs_run)
    version = None
    if config.artifacts is not None and ranks.is_main:
        content = BundleContent(
            model=model.cpu(), user_codec=data.user_codec, item_codec=data.item_codec,
            users=data.users, items=data.items,
            item_vectors=ItemVectors.encode(
                item_vectors(model, data.items, progress=config.fit.progress), config.item_dtype),
        )
        train_info = {"split": data_config.split.value, "seed": data_config.seed,
                      "loss": asdict(config.loss), "fit": asdict(config.fit),
                      "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                      "machine": platform.platform(), "torch": torch.__version__}
        version = publish(config.artifacts, content, challenger=config.challenger,
                          metrics=metrics, dataset=schema.name,
                          dataset_schema=schema.model_dump(mode="json"), train=train_info)
    return TrainResult(metrics, result, version, model, data, time.perf_counter() - started,
                       ranks.is_main)
