"""Interest heads (the ablation ModelConfig.interest_heads): H_u user heads read from the history.

Head h attends over the user's history items with a learned query (softmax over the non-padding
positions) and projects the weighted item embeddings to d: one interest per head, in the spirit of
multi-interest extraction (MIND, ComiRec), scored by the FE-Block as one more layer of user heads.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class InterestHeads(nn.Module):
    """H_u interests from the history: head h attends over the history with a learned query,
    softmax over the non-padding positions, and projects the weighted mean to d."""

    def __init__(self, embed_dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(heads, embed_dim) * 0.1)
        self.key = nn.Linear(embed_dim, embed_dim, bias=False)
        self.value = nn.Linear(embed_dim, heads * head_dim)
        self.heads, self.head_dim = heads, head_dim
        nn.init.normal_(self.value.weight, std=0.1 / math.sqrt(embed_dim))
        nn.init.zeros_(self.value.bias)

    def forward(self, rows: Tensor, present: Tensor) -> Tensor:
        # rows (B, M, E), present (B, M) -> (B, Hu*d)
        att = self.key(rows) @ self.query.T / math.sqrt(rows.shape[-1])  # (B, M, Hu)
        att = att.masked_fill(~present.unsqueeze(-1), float("-inf"))
        weights = torch.nan_to_num(torch.softmax(att, dim=1))  # an empty history: all zero
        values = self.value(rows).view(*rows.shape[:2], self.heads, self.head_dim)  # (B,M,Hu,d)
        return torch.einsum("bmh,bmhd->bhd", weights, values).flatten(1)
