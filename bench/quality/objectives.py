"""The baselines' objectives: run a model on a batch and combine its tensors into the loss, with
the same terms as IntTower's (training/objectives.py) minus CIR, which is IntTower's own."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from bench.quality.baselines.dat import DAT, adaptive_mimic_loss
from model.inputs import Batch
from model.losses import LossConfig
from training.loop import Objective


def _bce_l2(logit: Tensor, emb_sq_norm: Tensor, label: Tensor,
            config: LossConfig) -> tuple[Tensor, dict[str, Tensor]]:
    bce = F.binary_cross_entropy_with_logits(logit, label)
    return bce + config.embed_l2 * emb_sq_norm.mean(), {"bce": bce.detach()}


def pointwise_objective(config: LossConfig) -> Objective:
    """Baselines (LR, Two-Tower, COLD, DeepFM): mean BCE + λ_emb·mean(‖looked-up rows‖²), the
    same terms as IntTower's loss without CIR, which is IntTower's own. The model's output needs
    `.logit` (B,) and `.emb_sq_norm` (B,)."""

    def objective(model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        out = model(batch)
        return _bce_l2(out.logit, out.emb_sq_norm, batch.label, config)

    return objective


def dat_objective(config: LossConfig, mimic_weight: float = 1.0) -> Objective:
    """DAT: the pointwise loss + mimic_weight · (mimic(a_u, p_v) + mimic(a_v, p_u))."""

    def objective(model: DAT, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        out = model(batch)
        loss, parts = _bce_l2(out.logit, out.emb_sq_norm, batch.label, config)
        mimic = (adaptive_mimic_loss(out.user_aug, out.item, batch.label)
                 + adaptive_mimic_loss(out.item_aug, out.user, batch.label))
        return loss + mimic_weight * mimic, {**parts, "mimic": mimic.detach()}

    return objective
