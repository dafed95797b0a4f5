"""Building blocks shared by IntTower and the baselines: field embeddings, Light-SE, MLP, tower."""

from __future__ import annotations

from itertools import pairwise
from typing import NamedTuple

import torch
from torch import Tensor, nn

from model.config import TowerSpec
from model.inputs import TowerInputs


class FieldEmbedding(nn.Module):
    """One table per field (row 0 = padding, row 1 = OOV); multi-valued fields are mean-pooled.

    Returns the field embeddings (B, F, E), F = single-valued then multi-valued fields, and the
    squared L2 norm of the rows actually looked up, per example (B,), for the embedding penalty.
    """

    def __init__(self, spec: TowerSpec, dim: int) -> None:
        super().__init__()
        self.cat = nn.ModuleList(nn.Embedding(n, dim, padding_idx=0) for n in spec.cat_vocab)
        self.seq = nn.ModuleList(nn.Embedding(n, dim, padding_idx=0) for n in spec.seq_vocab)
        for table in [*self.cat, *self.seq]:
            nn.init.normal_(table.weight, std=1e-2)
            with torch.no_grad():
                table.weight[0].zero_()

    def forward(self, x: TowerInputs) -> tuple[Tensor, Tensor]:
        fields = [table(x.cat[:, j]) for j, table in enumerate(self.cat)]  # each (B, E)
        zeros = torch.zeros(x.cat.shape[0], device=x.cat.device)  # (B,)
        sq_norm = sum((f.pow(2).sum(-1) for f in fields), zeros)
        for table, ids in zip(self.seq, x.seq, strict=True):
            rows = table(ids)  # (B, M, E); padding rows are zero vectors
            count = (ids > 0).sum(-1, keepdim=True).clamp(min=1)  # (B, 1)
            fields.append(rows.sum(1) / count)
            sq_norm = sq_norm + rows.pow(2).sum((1, 2))
        return torch.stack(fields, dim=1), sq_norm


class LightSE(nn.Module):
    """Light-SE field re-weighting (IntTower §3.2): a = softmax(W·mean_E(e) + c), e ⊙ (1 + a)."""

    def __init__(self, num_fields: int) -> None:
        super().__init__()
        self.proj = nn.Linear(num_fields, num_fields)

    def forward(self, emb: Tensor) -> Tensor:  # (B, F, E) -> (B, F, E)
        weights = torch.softmax(self.proj(emb.mean(-1)), dim=-1)  # (B, F)
        return emb * (1 + weights.unsqueeze(-1))


class MLP(nn.Module):
    """L layers of Linear -> BatchNorm -> ReLU -> Dropout; returns every layer's output."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        dims = (in_dim, *hidden)
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.ReLU(), nn.Dropout(dropout)
            )
            for d_in, d_out in pairwise(dims)
        )

    def forward(self, x: Tensor) -> list[Tensor]:  # (B, in) -> L x (B, hidden_l)
        outputs = []
        for layer in self.layers:
            x = layer(x)
            outputs.append(x)
        return outputs


class TowerOutput(NamedTuple):
    hidden: list[Tensor]  # L x (B, hidden_l)
    emb_sq_norm: Tensor  # (B,) squared norm of looked-up embedding rows


class Tower(nn.Module):
    """Embeddings -> (Light-SE) -> flatten ++ numeric -> MLP."""

    def __init__(
        self, spec: TowerSpec, embed_dim: int, hidden: tuple[int, ...], dropout: float,
        light_se: bool = True,
    ) -> None:
        super().__init__()
        self.embedding = FieldEmbedding(spec, embed_dim)
        self.light_se = LightSE(spec.num_fields) if light_se else nn.Identity()
        self.mlp = MLP(spec.num_fields * embed_dim + spec.num_dim, hidden, dropout)

    def forward(self, x: TowerInputs) -> TowerOutput:
        emb, sq_norm = self.embedding(x)  # (B, F, E), (B,)
        flat = torch.cat([self.light_se(emb).flatten(1), x.num], dim=1)  # (B, F*E + F_num)
        return TowerOutput(self.mlp(flat), sq_norm)
