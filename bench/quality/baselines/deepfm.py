"""DeepFM (Guo et al. 2017), the ranking-model reference point: logit = first-order (LR) +
second-order FM over every field embedding + a DNN over the same embeddings."""

from __future__ import annotations

from torch import Tensor, nn

from bench.quality.baselines.config import BaselineConfig
from bench.quality.baselines.fields import DeepLogit, JointFields, PointOutput
from bench.quality.baselines.lr import LR
from model.inputs import Batch


def fm_interaction(emb: Tensor) -> Tensor:
    """Σ_{f<g} <e_f, e_g> in O(F·E): ½ Σ_E ((Σ_f e_f)² − Σ_f e_f²). (B, F, E) -> (B,)."""
    return 0.5 * (emb.sum(1).pow(2) - emb.pow(2).sum(1)).sum(-1)


class DeepFM(nn.Module):
    def __init__(self, config: BaselineConfig) -> None:
        super().__init__()
        self.first_order = LR(config)
        # FM and DNN share these embeddings, as in the paper.
        self.fields = JointFields(config.user, config.item, config.embed_dim)
        self.deep = DeepLogit(self.fields.flat_dim, config.hidden, config.dropout)

    def forward(self, batch: Batch) -> PointOutput:
        first = self.first_order(batch)
        fields = self.fields(batch)
        logit = first.logit + fm_interaction(fields.emb) + self.deep(fields.emb, fields.num)
        return PointOutput(logit, first.emb_sq_norm + fields.sq_norm)
