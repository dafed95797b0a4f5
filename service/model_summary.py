"""GET /model: the live bundle's manifest essentials (service.schemas.ModelResponse)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.scorer import Scorer


def model_summary(scorer: Scorer) -> dict[str, Any]:
    """The summary of the bundle `scorer` serves (all but `on_disk`, which the reloader knows)."""
    bundle = scorer.bundle
    manifest = bundle.manifest
    return {
        "version": scorer.version,
        "parent": manifest.get("parent"),
        "created_at": manifest["created_at"],
        "age_seconds": round(time.time() - scorer.created_at, 3),
        "loaded_at": datetime.fromtimestamp(scorer.loaded_at).astimezone().isoformat(),
        "dataset": manifest.get("dataset"),
        "num_users": len(bundle.users),
        "num_items": len(bundle.items),
        "memory_bytes": scorer.memory_bytes(),
        "config": manifest["model_config"],
        "item_index": bundle.item_index.describe(),
        "user_history": manifest.get("user_history"),
        "user_sequences": manifest.get("user_sequences", []),
        "metrics": manifest.get("metrics", {}),
    }
