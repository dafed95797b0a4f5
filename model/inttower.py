"""IntTower (CIKM 2022): two decoupled towers with multi-head projections and the FE-Block score.

User heads come after EVERY hidden layer (U_l, l = 1..L); item heads from the last layer only (V).
`encode_user` and `encode_item` stand alone so item vectors can be precomputed and the user tower
run online. The logit is the FE-Block score plus one learned bias, assembled once per path:
`pair_logits` (training, evaluation) and `score_candidates` (one user against N, the torch
serving path; service.backends adds the same bias to the compiled kernel's score). With item
score features (TowerSpec.score_dim), a per-candidate term g(statistic) is added on top
(model.item_term): `item_offsets` gives it per item, and each path adds it beside the bias.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from model.config import ModelConfig
from model.inputs import Batch, TowerInputs
from model.interaction import score_one_vs_n, score_pairs
from model.interest_heads import InterestHeads
from model.item_term import ItemTerm, item_offsets
from model.layers import Tower


class Encoded(NamedTuple):
    heads: Tensor  # user: (B, L, Hu, d); item: (B, Hi, d)
    emb_sq_norm: Tensor  # (B,) for the embedding L2 penalty


class Output(NamedTuple):
    logit: Tensor  # (B,)
    user: Encoded
    item: Encoded


class IntTower(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not config.fe_block and config.user_heads != config.item_heads:
            raise ValueError("the dot-product ablation needs user_heads == item_heads")
        if config.maxsim not in ("user", "item"):
            raise ValueError(f"maxsim is 'user' or 'item', not {config.maxsim!r}")
        if config.interest_heads and config.user.history is None:
            raise ValueError("interest heads are built from the user history: the schema has none")
        self.config = config
        c = config
        self.user_tower = Tower(c.user, c.embed_dim, c.hidden, c.dropout, c.light_se)
        self.item_tower = Tower(c.item, c.embed_dim, c.hidden, c.dropout, c.light_se)
        self.user_proj = nn.ModuleList(nn.Linear(h, c.user_heads * c.head_dim) for h in c.hidden)
        self.item_proj = nn.Linear(c.hidden[-1], c.item_heads * c.head_dim)
        self.bias = nn.Parameter(torch.zeros(()))
        self.item_term = ItemTerm(c.item.score_dim) if c.item.score_dim else None
        self.interests = (InterestHeads(c.embed_dim, c.user_heads, c.head_dim)
                          if c.interest_heads else None)
        if c.share_history:
            self._share_history_table()
        # The score sums L*Hu maxima of d-dim dot products: with default init it starts at tens,
        # saturating the sigmoid (initial loss well above log 2) and hurting calibration. Small
        # projections start the logit near 0; Adam grows them as the data asks.
        for proj in [*self.user_proj, self.item_proj]:
            nn.init.normal_(proj.weight, std=c.init_std / math.sqrt(proj.in_features))
            nn.init.zeros_(proj.bias)

    def _share_history_table(self) -> None:
        """One module, so one parameter, in both towers: the item id table (row 0 padding, 1
        OOV, the history's tokens are the item id tokens)."""
        c = self.config
        ids = self.item_tower.embedding.cat[0]
        if c.user.history is None or c.user.seq_vocab[c.user.history] != ids.num_embeddings:
            raise ValueError("share_history needs a user history over the item id vocabulary")
        self.user_tower.embedding.seq[c.user.history] = ids

    def encode_user(self, x: TowerInputs) -> Encoded:
        out = self.user_tower(x)
        c = self.config
        heads = [proj(h) for proj, h in zip(self.user_proj, out.hidden, strict=True)]
        if self.interests is not None:
            ids = x.seq[c.user.history]  # (B, M)
            rows = self.user_tower.embedding.seq[c.user.history](ids)  # (B, M, E)
            # First, so that heads[:, -1] stays the last hidden layer's (CIR, the dot product).
            heads.insert(0, self.interests(rows, ids > 0))
        stacked = torch.stack(heads, dim=1).view(-1, c.user_layers, c.user_heads, c.head_dim)
        return Encoded(stacked, out.emb_sq_norm)  # (B, L, Hu, d)

    def encode_item(self, x: TowerInputs) -> Encoded:
        out = self.item_tower(x)
        c = self.config
        heads = self.item_proj(out.hidden[-1]).view(-1, c.item_heads, c.head_dim)
        return Encoded(heads, out.emb_sq_norm)  # (B, Hi, d)

    def forward(self, batch: Batch) -> Output:
        user = self.encode_user(batch.user)
        item = self.encode_item(batch.item)
        logit = self.pair_logits(user.heads, item.heads, self.item_offsets(batch.item))
        return Output(logit, user, item)

    def item_offsets(self, item: TowerInputs) -> Tensor:
        """(B,) per-candidate term of a batch of items: g(score features), 0 without them."""
        return item_offsets(self.item_term, item)

    def pair_logits(self, user_heads: Tensor, item_heads: Tensor,
                    offsets: Tensor | None = None) -> Tensor:
        """Aligned pairs: user heads (B, L, Hu, d) x item heads (B, Hi, d) [+ the items' offsets
        (B,)] -> logits (B,)."""
        c = self.config
        logit = score_pairs(user_heads, item_heads, c.fe_block, c.maxsim) + self.bias
        return logit if offsets is None else logit + offsets

    def score_candidates(self, user_heads: Tensor, item_heads: Tensor,
                         offsets: Tensor | None = None) -> Tensor:
        """One user's heads (L, Hu, d) against N item vectors (N, Hi, d) [+ their offsets (N,)]
        -> logits (N,)."""
        c = self.config
        stack = user_heads.reshape(-1, c.head_dim)  # (L*Hu, d)
        logit = score_one_vs_n(stack, item_heads, c.fe_block, c.user_heads, c.maxsim) + self.bias
        return logit if offsets is None else logit + offsets
