"""The IntTower model bundle: what the trainer publishes and the service loads (README, "The
bundle").

Everything serving needs is here — weights (safetensors, no pickle), the frozen config, feature
codecs, encoded user and item tables and the precomputed item head vectors — so the service never
imports training code or reads raw data. Files are written through `model.store`, which makes
publishing atomic and reading hash-verified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_model, save_model

from model import store
from model.config import ModelConfig
from model.features import EncodedTable, TowerCodec
from model.inttower import IntTower
from model.item_index import ItemIndex, build_item_index
from model.item_vectors import ItemDtype, ItemVectors

WEIGHTS = "model.safetensors"
FEATURES = "features.json"
USERS = "users.parquet"
ITEMS = "items.parquet"
ITEM_VECTORS = "item_vectors.npy"
ITEM_SCALES = "item_scales.npy"  # int8 item vectors only: a float32 scale per head
ITEM_IDS = "item_ids.json"
ITEM_INDEX = "item_index.faiss"  # faiss, over the dequantised item heads (/recommend)


@dataclass
class BundleContent:
    """The parts of a bundle, in memory."""

    model: IntTower
    user_codec: TowerCodec
    item_codec: TowerCodec
    users: EncodedTable
    items: EncodedTable  # row-aligned with item_vectors
    item_vectors: ItemVectors  # (N_items, Hi, d) float32, or int8 codes with per-head scales

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    def item_offsets(self) -> np.ndarray | None:
        """(N_items,) float32 per-candidate score term of every item (model.item_term), from the
        items table's score features and the weights; None for a model without one. Cheap (a
        tiny MLP per item), so it is computed where it is served instead of stored."""
        if self.model.item_term is None:
            return None
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            return self.model.item_offsets(self.items.inputs(device)).cpu().numpy()


@dataclass
class Bundle(BundleContent):
    """A loaded, verified bundle."""

    path: Path
    manifest: dict[str, Any]
    item_index: ItemIndex  # for whole-catalogue top-k (/recommend)

    @property
    def version(self) -> str:
        return str(self.manifest["version"])


def _write_files(content: BundleContent, index: ItemIndex, folder: Path) -> None:
    # save_model keeps one copy of a parameter that two modules share (model.config
    # share_history) and load_model restores it into both
    save_model(content.model, str(folder / WEIGHTS))
    features = {"user": content.user_codec.to_dict(), "item": content.item_codec.to_dict()}
    (folder / FEATURES).write_text(json.dumps(features))
    content.users.to_frame("user_id").to_parquet(folder / USERS, index=False)
    content.items.to_frame("item_id").to_parquet(folder / ITEMS, index=False)
    vectors = content.item_vectors
    np.save(folder / ITEM_VECTORS, np.ascontiguousarray(vectors.values))
    if vectors.scales is not None:
        np.save(folder / ITEM_SCALES, np.ascontiguousarray(vectors.scales))
    (folder / ITEM_IDS).write_text(json.dumps([str(i) for i in content.items.ids]))
    index.save(folder / ITEM_INDEX)


def _vocab_sizes(codec: TowerCodec) -> dict[str, int]:
    fields = [codec.id, *codec.tokens]
    return {f.column: f.size for f in fields}


def _history_manifest(codec: TowerCodec) -> dict[str, Any] | None:
    """What a request's `user_features` history must hold: raw item ids, at most max_len."""
    history = codec.history
    if history is None:
        return None
    return {"field": history.column, "max_len": history.max_len, "vocabulary": "item id",
            "vocab_size": history.vocab_size}


def publish_bundle(artifacts: Path, content: BundleContent, metrics: dict[str, Any] | None = None,
                   parent: str | None = None, extra: dict[str, Any] | None = None,
                   go_live: bool = True) -> str:
    """Write `content` as a new bundle version and make it CURRENT (unless not `go_live`);
    returns the version. Offline commands publish through training.publish."""
    vectors = content.item_vectors
    if vectors.shape[0] != len(content.items):
        raise ValueError(f"{vectors.shape[0]} item vectors for {len(content.items)} items")
    # Indexed as scored: the heads the stored codes stand for.
    index = build_item_index(vectors.dequantised(), content.config.fe_block)
    manifest = {
        "parent": parent,
        "model_config": content.config.to_dict(),
        "feature_schema": {"user": content.user_codec.columns, "item": content.item_codec.columns},
        "vocab_sizes": {"user": _vocab_sizes(content.user_codec),
                        "item": _vocab_sizes(content.item_codec)},
        "item_vectors": {"shape": list(vectors.shape), "dtype": vectors.dtype.value,
                         **({"scales": "float32 per head"} if vectors.scales is not None else {})},
        "item_index": index.describe(),
        "num_users": len(content.users),
        "user_history": _history_manifest(content.user_codec),
        # Event sequences a request's user_features may send: lists of raw tokens.
        "user_sequences": [{"field": q.column, "max_len": q.max_len, "vocab_size": q.size}
                           for q in content.user_codec.sequences],
        "metrics": metrics or {},
        **(extra or {}),
    }
    return store.publish(artifacts, lambda folder: _write_files(content, index, folder), manifest,
                         go_live)


def load_bundle(path: Path, device: str | torch.device = "cpu") -> Bundle:
    """Verify every file against the manifest, then rebuild the model from the bundle alone."""
    path = Path(path)
    manifest = store.verify(path)
    config = ModelConfig.from_dict(manifest["model_config"])
    model = IntTower(config)
    missing, unexpected = load_model(model, path / WEIGHTS, strict=False)
    if missing or unexpected:
        raise store.BundleError(f"{path}: {WEIGHTS} does not fit the manifest's model config: "
                                f"missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    model.to(device).eval()
    features = json.loads((path / FEATURES).read_text())
    items = EncodedTable.from_frame(pd.read_parquet(path / ITEMS), "item_id")
    vectors = _read_item_vectors(path, manifest)
    ids = json.loads((path / ITEM_IDS).read_text())
    if list(items.ids) != ids or len(vectors) != len(ids):
        raise store.BundleError(f"{path}: item ids, items table and item vectors disagree")
    if ITEM_INDEX not in manifest["files"]:  # every readable format publishes one
        raise store.BundleError(f"{path}: the manifest lists no {ITEM_INDEX}")
    try:
        index = ItemIndex.load(path / ITEM_INDEX, vectors.shape, config.fe_block)
    except ValueError as exc:
        raise store.BundleError(f"{path}: {ITEM_INDEX} is unusable: {exc}") from exc
    return Bundle(
        model=model,
        user_codec=TowerCodec.from_dict(features["user"]),
        item_codec=TowerCodec.from_dict(features["item"]),
        users=EncodedTable.from_frame(pd.read_parquet(path / USERS), "user_id"),
        items=items,
        item_vectors=vectors,
        path=path,
        manifest=manifest,
        item_index=index,
    )


def _read_item_vectors(path: Path, manifest: dict[str, Any]) -> ItemVectors:
    """The stored item vectors in cache-line-aligned memory (read through a memory map: one copy),
    checked against the manifest's dtype."""
    dtype = ItemDtype(manifest["item_vectors"]["dtype"])
    try:
        values = np.load(path / ITEM_VECTORS, mmap_mode="r")
        scales = np.load(path / ITEM_SCALES, mmap_mode="r") if dtype is ItemDtype.int8 else None
        vectors = ItemVectors(values, scales)
    except (OSError, ValueError) as exc:
        raise store.BundleError(f"{path}: {ITEM_VECTORS}: {exc}") from exc
    if vectors.dtype is not dtype:
        raise store.BundleError(f"{path}: {ITEM_VECTORS} holds {vectors.dtype}, the manifest "
                                f"says {dtype}")
    return vectors.aligned()


def load_current(artifacts: Path, device: str | torch.device = "cpu") -> Bundle:
    return load_bundle(store.current_path(artifacts), device)
