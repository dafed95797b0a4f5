"""Frozen configuration shared by the baselines, beside IntTower's `ModelConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from model.config import ModelConfig, TowerSpec

Score = Literal["dot", "cosine"]


@dataclass(frozen=True)
class BaselineConfig:
    """Embedding size, MLP and dropout default to IntTower's, so that a comparison changes only
    the model around them."""

    user: TowerSpec
    item: TowerSpec
    embed_dim: int = ModelConfig.embed_dim
    hidden: tuple[int, ...] = ModelConfig.hidden
    dropout: float = ModelConfig.dropout
    # Two-Tower / DAT: size of the final user and item vectors. 128 = IntTower's H_i·d, so a
    # stored item vector costs the same bytes in both.
    vector_dim: int = 128
    # Two-Tower / DAT: "dot" = <u, v> + b; "cosine" = t·cos(u, v) + b with a learned temperature t.
    score: Score = "dot"
