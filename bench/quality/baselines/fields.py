"""Pieces of the single-tower baselines (LR, COLD, DeepFM), which see user and item fields side by
side, unlike a two-tower model that keeps them apart."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from model.config import TowerSpec
from model.inputs import Batch
from model.layers import MLP, FieldEmbedding


class PointOutput(NamedTuple):
    logit: Tensor  # (B,)
    emb_sq_norm: Tensor  # (B,) squared norm of the looked-up embedding rows, for the L2 penalty


class Fields(NamedTuple):
    emb: Tensor  # (B, F_u + F_i, E): user fields, then item fields
    num: Tensor  # (B, N_u + N_i) numeric features
    sq_norm: Tensor  # (B,)


class JointFields(nn.Module):
    """Every user and item field embedded with the shared `FieldEmbedding` (one table per field)."""

    def __init__(self, user: TowerSpec, item: TowerSpec, dim: int) -> None:
        super().__init__()
        self.num_fields, self.dim = user.num_fields + item.num_fields, dim
        self.num_dim = user.num_dim + item.num_dim
        self.flat_dim = self.num_fields * dim + self.num_dim  # flattened fields ++ numerics
        self.user = FieldEmbedding(user, dim)
        self.item = FieldEmbedding(item, dim)

    def forward(self, batch: Batch) -> Fields:
        user_emb, user_sq = self.user(batch.user)
        item_emb, item_sq = self.item(batch.item)
        return Fields(torch.cat([user_emb, item_emb], dim=1),
                      torch.cat([batch.user.num, batch.item.num], dim=1), user_sq + item_sq)


class DeepLogit(nn.Module):
    """Flattened fields ++ numerics -> MLP -> one logit: the deep part of COLD and DeepFM."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        self.mlp = MLP(in_dim, hidden, dropout)
        self.out = nn.Linear(hidden[-1], 1)

    def forward(self, emb: Tensor, num: Tensor) -> Tensor:  # (B, F, E), (B, N) -> (B,)
        return self.out(self.mlp(torch.cat([emb.flatten(1), num], dim=1))[-1]).squeeze(-1)

