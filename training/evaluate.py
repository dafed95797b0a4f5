"""`inttower evaluate`: a published bundle's metrics on a held-out split, from the bundle alone.

The pairs of the split are scored the way the service scores them: the bundle's user tower on
the user's stored row with its interaction features (label statistic, recent positives) as of the
pair's time - counted from the split's train events with the bundle's codecs, as training saw
them and as a request with fresh features sends them - and the FE-Block of those heads against the
item's stored vectors, plus the bias. So a child bundle from `refresh-items`, or a bundle copied to
another machine, is measured as it serves, and a bundle whose item vectors went stale against its
weights shows it here. The items are as of the training cutoff (their stored vectors): on a
temporal split that is what training saw too, and the figures agree with the training-time ones;
on a random split an item's statistic there also counts train events after the pair.

The split is the one the bundle was trained on: the manifest records the dataset, the split kind
and the seed, and the raw interactions are read again for their ids and labels only; no feature
statistic is refitted (the bundle's tables hold them, fitted on the train rows at training time).
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
from training.metrics import evaluate
from training.schema import builtin_names
from training.split import HeldOut, SplitKind
from training.user_state import users_as_of, with_state

_PAIRS_PER_BATCH = 16_384  # pairs scored at once: user tower activations stay tens of MB


@dataclass(frozen=True)
class Evaluation:
    version: str
    dataset: str
    split: str  # e.g. "test of random, seed 1"
    pairs: int  # pairs scored
    skipped: int  # pairs whose user or item the bundle does not hold (e.g. after a refresh)
    metrics: dict[str, float]  # auc, logloss, gauc of this bundle
    recorded: dict[str, float]  # the manifest's metrics for the split (training time), or {}

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "dataset": self.dataset, "split": self.split,
                "pairs": self.pairs, "skipped": self.skipped, "metrics": self.metrics,
                "recorded_at_training": self.recorded}


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
    probs = []
    with torch.inference_mode():
        for start in range(0, len(item_rows), _PAIRS_PER_BATCH):
            rows = np.arange(start, min(start + _PAIRS_PER_BATCH, len(item_rows)))
            heads = model.encode_user(users.take(rows).inputs()).heads  # (B, L, Hu, d)
            logit = model.pair_logits(heads, items[torch.from_numpy(item_rows[rows])])
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
    state = users_as_of(bundle.user_codec, bundle.items, raw.interactions.iloc[rows["train"]],
                        pairs["user_id"].to_numpy(), pairs["timestamp"].to_numpy(np.int64))
    users = with_state(bundle.users.take(user_rows), state)
    probs = bundle_probabilities(bundle, users, item_rows)
    labels = pairs["label"].to_numpy(np.float32)
    return Evaluation(
        version=bundle.version, dataset=data_schema.name,
        split=f"{held_out.value} of {config.split.value}, seed {config.seed}",
        pairs=int(held.sum()), skipped=int((~held).sum()),
        metrics=evaluate(labels, probs, user_rows),
        recorded=bundle.manifest.get("metrics", {}).get(held_out.value, {}),
    )
