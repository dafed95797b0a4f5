"""COLD (Wang et al. 2020, "Computing power cost-aware Online and Lightweight Deep pre-ranking
system") as a single-tower pre-ranker: every user and item field embedded, an SE block re-weights
the fields, an MLP scores the concatenation. It sees user-item interactions from the first layer,
but nothing is precomputable per item: the network runs once per candidate."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.quality.baselines.config import BaselineConfig
from bench.quality.baselines.fields import DeepLogit, JointFields, PointOutput
from model.inputs import Batch


class SENet(nn.Module):
    """COLD's field importance: s = sigmoid(W·z + b) with z_f the mean of field f's embedding;
    output e_f · s_f (a plain gate, unlike Light-SE's softmax with a residual)."""

    def __init__(self, num_fields: int) -> None:
        super().__init__()
        self.proj = nn.Linear(num_fields, num_fields)

    def forward(self, emb: Tensor) -> Tensor:  # (B, F, E) -> (B, F, E)
        return emb * torch.sigmoid(self.proj(emb.mean(-1))).unsqueeze(-1)


class COLD(nn.Module):
    def __init__(self, config: BaselineConfig) -> None:
        super().__init__()
        self.fields = JointFields(config.user, config.item, config.embed_dim)
        self.senet = SENet(self.fields.num_fields)
        self.deep = DeepLogit(self.fields.flat_dim, config.hidden, config.dropout)

    def forward(self, batch: Batch) -> PointOutput:
        fields = self.fields(batch)
        return PointOutput(self.deep(self.senet(fields.emb), fields.num), fields.sq_norm)
