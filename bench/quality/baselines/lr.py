"""Logistic regression on the same fields: one scalar weight per id row of every field (multi-valued
fields mean-pooled), one weight per numeric feature, one bias."""

from __future__ import annotations

from torch import nn

from bench.quality.baselines.config import BaselineConfig
from bench.quality.baselines.fields import JointFields, PointOutput
from model.inputs import Batch


class LR(nn.Module):
    def __init__(self, config: BaselineConfig) -> None:
        super().__init__()
        self.weights = JointFields(config.user, config.item, dim=1)  # an E=1 table per field
        self.numeric = nn.Linear(self.weights.num_dim, 1)  # its bias is the model's bias
        nn.init.zeros_(self.numeric.weight)  # as logistic regression starts: no sign assumed

    def forward(self, batch: Batch) -> PointOutput:
        fields = self.weights(batch)  # emb (B, F, 1)
        logit = fields.emb.sum(dim=(1, 2)) + self.numeric(fields.num).squeeze(-1)
        return PointOutput(logit, fields.sq_norm)
