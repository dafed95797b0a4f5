"""DAT, the Dual Augmented Two-tower model (Yu et al. 2021, "A Dual Augmented Two-tower Model for
Online Large-scale Recommendation").

Each user id and item id owns a learnable augmented vector a_u / a_v, fed into its own tower's
input beside the features. The adaptive-mimic mechanism (the paper's Eq. 3-4) pulls a_u toward the
item vectors p_v of the user's positive items and a_v toward the p_u of the item's positive users,
with a stop-gradient on p: the augmented vectors carry the other tower's information across the
split without letting the mimic loss move the towers. Item vectors stay precomputable.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from bench.quality.baselines.config import BaselineConfig
from bench.quality.baselines.two_tower import Encoded, TwoTower
from model.inputs import Batch, TowerInputs


class DATOutput(NamedTuple):
    logit: Tensor  # (B,)
    emb_sq_norm: Tensor  # (B,) feature embedding rows (the augmented vectors are not penalised)
    user: Tensor  # (B, D) p_u
    item: Tensor  # (B, D) p_v
    user_aug: Tensor  # (B, D) a_u
    item_aug: Tensor  # (B, D) a_v


def adaptive_mimic_loss(aug: Tensor, target: Tensor, label: Tensor) -> Tensor:
    """mean over rows of y·‖a − sg(p)‖²: (B, D), (B, D), (B,) -> (). Negatives contribute 0."""
    return (label * (aug - target.detach()).pow(2).sum(-1)).mean()


def _augmented_table(rows: int, dim: int) -> nn.Embedding:
    table = nn.Embedding(rows, dim)
    nn.init.normal_(table.weight, std=1e-2)  # small, like the feature embeddings
    return table


def _with(x: TowerInputs, aug: Tensor) -> TowerInputs:
    return x._replace(num=torch.cat([x.num, aug], dim=1))  # num: (B, N) ++ (B, D)


class DAT(nn.Module):
    def __init__(self, config: BaselineConfig) -> None:
        super().__init__()
        self.towers = TwoTower(config, extra_inputs=config.vector_dim)
        # Indexed by the id field, which is categorical column 0 of every tower (TowerCodec.spec).
        self.user_aug = _augmented_table(config.user.cat_vocab[0], config.vector_dim)
        self.item_aug = _augmented_table(config.item.cat_vocab[0], config.vector_dim)

    def encode_user(self, x: TowerInputs) -> Encoded:
        return self.towers.encode_user(_with(x, self.user_aug(x.cat[:, 0])))

    def encode_item(self, x: TowerInputs) -> Encoded:
        return self.towers.encode_item(_with(x, self.item_aug(x.cat[:, 0])))

    def forward(self, batch: Batch) -> DATOutput:
        user_aug = self.user_aug(batch.user.cat[:, 0])  # (B, D)
        item_aug = self.item_aug(batch.item.cat[:, 0])
        user = self.towers.encode_user(_with(batch.user, user_aug))
        item = self.towers.encode_item(_with(batch.item, item_aug))
        return DATOutput(self.towers.score(user.vec, item.vec),
                         user.emb_sq_norm + item.emb_sq_norm, user.vec, item.vec,
                         user_aug, item_aug)
