"""The per-candidate score term: `logit = FE-Block(U, V) + g(item statistic) + b`.

Item features that change faster than the model (an item's positive rate and event count) are
kept out of the precomputed item tower: there they would be frozen into the stored vectors at the
training cutoff while training rows saw them as of their own time. Here they feed `g`, a small
MLP whose output is one number per item: the service computes it for the whole catalogue at load
(service/backends.py) and adds it to each candidate's logit, so a fresher statistic changes one
float per item, never the vectors.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.inputs import TowerInputs


class ItemTerm(nn.Module):
    """g: (B, S) statistic columns -> (B,) logit offsets; starts at 0 (a zero output layer)."""

    def __init__(self, width: int, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, score: Tensor) -> Tensor:
        return self.net(score).squeeze(-1)


def item_offsets(term: ItemTerm | None, item: TowerInputs) -> Tensor:
    """(B,) offsets of a batch of items: g of their score features, or 0 without a term."""
    if term is None or item.score is None:
        return torch.zeros(item.cat.shape[0], device=item.cat.device)
    return term(item.score)
