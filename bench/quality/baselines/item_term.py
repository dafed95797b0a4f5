"""Any baseline with the per-candidate score term (model.item_term): its logit + g(item
statistic), so the placement of the item statistic is a pipeline option every model gets, not an
IntTower privilege. IntTower holds its term itself (it is served)."""

from __future__ import annotations

from typing import Any

from torch import nn

from model.inputs import Batch
from model.item_term import ItemTerm, item_offsets


class WithItemTerm(nn.Module):
    def __init__(self, model: nn.Module, width: int) -> None:
        super().__init__()
        self.model = model
        self.term = ItemTerm(width)

    def forward(self, batch: Batch) -> Any:
        out = self.model(batch)  # a NamedTuple with .logit (B,), as every baseline returns
        return out._replace(logit=out.logit + item_offsets(self.term, batch.item))
