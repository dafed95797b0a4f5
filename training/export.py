"""Turn a trained model into a bundle: precompute item vectors, publish; refresh item vectors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from model import store
from model.bundle import Bundle, BundleContent
from model.features import EncodedTable
from model.inttower import IntTower
from model.item_vectors import ItemDtype, ItemVectors
from training.distributed import gather_on_main, join, leave, shard_in_order
from training.publish import Challenger, publish, source_bundle
from training.schema import EntityTable
from training.tables import read_entity_table

log = logging.getLogger(__name__)

@torch.no_grad()
def item_vectors(model: IntTower, items: EncodedTable, batch_size: int = 8192,
                 progress: bool = True) -> np.ndarray:
    """Item tower in eval mode over every row: (N_items, Hi, d) float32."""
    model.eval()
    device = next(model.parameters()).device
    out = np.empty((len(items), model.config.item_heads, model.config.head_dim), np.float32)
    starts = range(0, len(items), batch_size)
    for start in tqdm(starts, desc="item vectors", disable=not progress, leave=False):
        rows = np.arange(start, min(start + batch_size, len(items)))
        out[rows] = model.encode_item(items.take(rows).inputs(device)).heads.cpu().numpy()
    return out


def refresh_items(artifacts: Path, items_table: pd.DataFrame | None = None,
                  progress: bool = True, version: str | None = None,
                  item_dtype: ItemDtype | None = None, device: str = "cpu",
                  challenger: Challenger | None = None) -> str | None:
    """Recompute item vectors with the live checkpoint; publish a child bundle (live, or as a
    rollout's `challenger`); returns its version.

    Under torchrun each rank encodes a contiguous slice of the items on its `device` (gloo on
    the CPU, NCCL on GPUs) and rank 0 gathers them, builds the index and publishes (the other
    ranks return None).

    `items_table` (raw, index = item id, the schema's feature columns) replaces or adds items:
    rows are encoded with the bundle's own codecs (unseen ids -> OOV row). Items that the live
    bundle already knows keep their label statistic (rate and count); new items get the prior.
    Without a table, the stored items are re-encoded by the current weights as they are.
    `version` starts from that published bundle instead of CURRENT's. `item_dtype` stores the
    vectors as float32 or int8 (model.item_vectors); by default as the live bundle does.
    """
    ranks, device = join(device)
    try:
        live = source_bundle(artifacts, version, device)
        items = _updated_items(live, items_table)
        mine = shard_in_order(torch.arange(len(items)), ranks).numpy()
        vectors = gather_on_main(item_vectors(live.model, items.take(mine),
                                              progress=progress and ranks.is_main), ranks)
    finally:
        leave(ranks)
    if vectors is None:  # not rank 0
        return None
    content = BundleContent(
        model=live.model.cpu(), user_codec=live.user_codec, item_codec=live.item_codec,
        users=live.users, items=items,
        item_vectors=ItemVectors.encode(vectors, item_dtype or live.item_vectors.dtype),
    )
    return publish(artifacts, content, parent=live, challenger=challenger)


def _updated_items(live: Bundle, items_table: pd.DataFrame | None) -> EncodedTable:
    """The live bundle's items with `items_table`'s rows encoded into it (refresh_items)."""
    items = live.items
    if items_table is not None:
        missing = [c for c in live.item_codec.columns if c not in items_table.columns]
        if missing:
            raise ValueError(f"the items table lacks the feature columns {missing}")
        updated = live.item_codec.encode(items_table)
        layout = live.item_codec.layout
        if layout.label_stat is not None:
            old_row = pd.Index(live.items.ids).get_indexer(updated.ids)
            known = old_row >= 0
            layout.stat_columns(updated.num, updated.score)[known] = layout.stat_columns(
                live.items.num, live.items.score)[old_row[known]]
        keep = ~pd.Index(live.items.ids).isin(updated.ids)
        items = live.items.take(np.flatnonzero(keep)).concat(updated)
        log.info("refresh: %d items updated or added, %d kept", len(updated), int(keep.sum()))
    return items


def read_items_update(artifacts: Path, path: Path, version: str | None = None) -> pd.DataFrame:
    """Read an updated item table laid out like the training items table of the live bundle (or
    of `version`)."""
    manifest = store.read_manifest(store.source_path(artifacts, version))
    items_spec = manifest.get("dataset_schema", {}).get("items")
    if items_spec is None:
        raise ValueError("the live bundle records no item table layout to read the update with")
    spec = EntityTable.model_validate({**items_spec, "file": str(path), "format": "auto"})
    return read_entity_table(spec, Path(path))
