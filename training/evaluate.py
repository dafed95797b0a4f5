"""`inttower evaluate`: a published bundle's metrics on a held-out split, from the bundle alone.

The pairs of the split are scored the way the service scores them, in both evaluation modes
(training.split.EvalMode): `cutoff`, the user's stored row (what a request without features gets);
`online`, that row with its interaction features (label statistic, recent positives) recounted from
every logged event strictly before the pair, with the bundle's codecs (what a request sending fresh
user_features gets). Either way the user tower's heads meet the item's stored vectors in the
FE-Block, plus the bias. So a child bundle from `refresh-items`, or a bundle copied to another
machine, is measured as it serves, and a bundle whose item vectors went stale against its weights
shows it here; a bundle with float32 vectors gives training's own figures.

The split is the one the bundle was trained on: the manifest records the dataset, the split kind
and the seed, and the raw interactions are read again for their ids, times and labels only; no
feature statistic is refitted (the bundle's tables hold them, fitted on the train rows at training
time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from model.bundle import Bundle
from model.features import EncodedTable
from training.data import DataConfig, load_split
from training.loop import Metrics
from training.metrics import evaluate
from training.schema import builtin_names
from training.split import EvalMode, HeldOut, SplitKind
from training.user_state import users_as_of, with_state

_PAIRS_PER_BATCH = 16_384  # pairs scored at once: user tower activations stay tens of MB


@dataclass(frozen=True)
class Evaluation:
    version: str
    dataset: str
    split: str  # e.g. "test of random, seed 1"
    pairs: int  # pairs scored
    skipped: int  # pairs whose user or item the bundle does not hold (e.g. after a refresh)
    metrics: dict[str, Metrics]  # evaluation mode -> auc, logloss, gauc of this bundle
    recorded: dict[str, Metrics]  # the manifest's metrics of the split (training time), by mode

    def summary(self) -> dict[str, Any]:
        lift = self.metrics[EvalMode.online]["auc"] - self.metrics[EvalMode.cutoff]["auc"]
        return {"version": self.version, "dataset": self.dataset, "split": self.split,
                "pairs": self.pairs, "skipped": self.skipped, "metrics": self.metrics,
                "online_auc_lift": lift, "recorded_at_training": self.recorded}


def training_data(bundle: Bundle, schema: Path | None = None) -> DataConfig:
    """The data and split the bundle was trained on, from its manifest; `schema` locates the
    user's own data (the manifest records a built-in dataset's name, not a path)."""
    manifest = bundle.manifest
    dataset, train = manifest.get("dataset"), manifest.get("train")
    if dataset is None or train is None:
        raise ValueError(f"bundle {bundle.version} records no training data or split")
    if schema is None and dataset not in builtin_names():
        raise ValueError(f"bundle {bundle.version} was trained on {dataset!r}, not a built-in "
                         "dataset: pass --schema with its schema file")
    return DataConfig(dataset=dataset, schema=schema, split=SplitKind(train["split"]),
                      seed=int(train["seed"]))


def bundle_probabilities(bundle: Bundle, users: EncodedTable,
                         item_rows: np.ndarray) -> np.ndarray:
    """Click probabilities (N,) of encoded user rows (N) against rows of the bundle's items."""
    model = bundle.model.eval()
    items = torch.from_numpy(bundle.item_vectors.dequantised())  # (N_items, Hi, d) as served
    offsets = bundle.item_offsets()  # (N_items,) or None, as served
    probs = []
    with torch.inference_mode():
        for start in range(0, len(item_rows), _PAIRS_PER_BATCH):
            rows = np.arange(start, min(start + _PAIRS_PER_BATCH, len(item_rows)))
            heads = model.encode_user(users.take(rows).inputs()).heads  # (B, L, Hu, d)
            pairs = item_rows[rows]
            logit = model.pair_logits(heads, items[torch.from_numpy(pairs)],
                                      None if offsets is None else torch.from_numpy(offsets[pairs]))
            probs.append(torch.sigmoid(logit))
    return torch.cat(probs).numpy() if probs else np.empty(0, np.float32)


def evaluate_bundle(bundle: Bundle, held_out: HeldOut = HeldOut.test,
                    schema: Path | None = None) -> Evaluation:
    """The bundle's AUC, logloss and GAUC on the valid or test rows of its training split."""
    config = training_data(bundle, schema)
    data_schema, raw, rows = load_split(config)
    if data_schema.name != bundle.manifest["dataset"]:
        raise ValueError(f"{schema} describes {data_schema.name!r}; bundle {bundle.version} "
                         f"was trained on {bundle.manifest['dataset']!r}")
    pairs = raw.interactions.iloc[rows[held_out.value]]
    user_rows = pd.Index(bundle.users.ids).get_indexer(pairs["user_id"].to_numpy())
    item_rows = pd.Index(bundle.items.ids).get_indexer(pairs["item_id"].to_numpy())
    held = (user_rows >= 0) & (item_rows >= 0)
    if not held.any():
        raise ValueError(f"bundle {bundle.version} holds none of the {len(pairs)} "
                         f"{held_out.value} pairs' users and items")
    user_rows, item_rows, pairs = user_rows[held], item_rows[held], pairs[held]
    stored = bundle.users.take(user_rows)
    state = users_as_of(bundle.user_codec, bundle.items, raw.interactions,
                        pairs["user_id"].to_numpy(), pairs["timestamp"].to_numpy(np.int64),
                        raw.events, data_schema.events.sequences if data_schema.events else ())
    users = {EvalMode.cutoff: stored,
             EvalMode.online: with_state(bundle.user_codec.layout, stored, state)}
    labels = pairs["label"].to_numpy(np.float32)
    recorded = bundle.manifest.get("metrics", {})
    return Evaluation(
        version=bundle.version, dataset=data_schema.name,
        split=f"{held_out.value} of {config.split.value}, seed {config.seed}",
        pairs=int(held.sum()), skipped=int((~held).sum()),
        metrics={mode.value: evaluate(labels, bundle_probabilities(bundle, table, item_rows),
                                      user_rows) for mode, table in users.items()},
        recorded={mode.value: recorded[mode][held_out] for mode in EvalMode
                  if held_out in recorded.get(mode, {})},
    )
