"""Two-Tower (DSSM, Huang et al. 2013): each tower an MLP ending in one vector, score = one dot
product, so item vectors are precomputable and a candidate costs a single D-dimensional product.

`score="cosine"` normalises both vectors and multiplies by a LEARNED temperature: the public
reference's fixed cos × 1 squeezes every logit into [-1, 1] and cripples its logloss.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.quality.baselines.config import BaselineConfig
from model.config import TowerSpec
from model.inputs import Batch, TowerInputs
from model.layers import Tower


class Encoded(NamedTuple):
    vec: Tensor  # (B, D) final vector; unit length under the cosine score
    emb_sq_norm: Tensor  # (B,)


class TwoTowerOutput(NamedTuple):
    logit: Tensor  # (B,)
    emb_sq_norm: Tensor  # (B,) user + item rows
    user: Tensor  # (B, D)
    item: Tensor  # (B, D)


def _widened(spec: TowerSpec, extra: int) -> TowerSpec:
    return replace(spec, num_dim=spec.num_dim + extra)


class TwoTower(nn.Module):
    """`extra_inputs` widens both towers' numeric input, which DAT fills with augmented vectors."""

    def __init__(self, config: BaselineConfig, extra_inputs: int = 0) -> None:
        super().__init__()
        c = config
        self.user_tower = Tower(_widened(c.user, extra_inputs), c.embed_dim, c.hidden, c.dropout,
                                light_se=False)
        self.item_tower = Tower(_widened(c.item, extra_inputs), c.embed_dim, c.hidden, c.dropout,
                                light_se=False)
        # A linear output layer: the MLP ends in ReLU, and non-negative vectors cannot disagree.
        self.user_out = nn.Linear(c.hidden[-1], c.vector_dim)
        self.item_out = nn.Linear(c.hidden[-1], c.vector_dim)
        self.cosine = c.score == "cosine"
        # Starts at t = 10 so that cosine logits can reach ±10 from the first step.
        self.log_temperature = nn.Parameter(torch.tensor(math.log(10.0))) if self.cosine else None
        self.bias = nn.Parameter(torch.zeros(()))

    def _encode(self, tower: Tower, out: nn.Linear, x: TowerInputs) -> Encoded:
        encoded = tower(x)
        vec = out(encoded.hidden[-1])  # (B, D)
        return Encoded(F.normalize(vec, dim=-1) if self.cosine else vec, encoded.emb_sq_norm)

    def encode_user(self, x: TowerInputs) -> Encoded:
        return self._encode(self.user_tower, self.user_out, x)

    def encode_item(self, x: TowerInputs) -> Encoded:
        return self._encode(self.item_tower, self.item_out, x)

    def score(self, user: Tensor, item: Tensor) -> Tensor:
        """(B, D) x (B, D) -> (B,) logits; also one user (1, D) against N items (N, D)."""
        sim = (user * item).sum(-1)
        if self.log_temperature is not None:
            sim = sim * self.log_temperature.exp()
        return sim + self.bias

    def forward(self, batch: Batch) -> TwoTowerOutput:
        user, item = self.encode_user(batch.user), self.encode_item(batch.item)
        return TwoTowerOutput(self.score(user.vec, item.vec), user.emb_sq_norm + item.emb_sq_norm,
                              user.vec, item.vec)
