"""IntTower's objective: run the model on a batch and combine its tensors into the training loss.
The baselines' objectives live with the baselines (bench/quality/objectives.py)."""

from __future__ import annotations

from torch import Tensor

from model.inputs import Batch
from model.inttower import IntTower
from model.losses import Gather, LossConfig, local_batch, total_loss
from training.loop import Objective


def inttower_objective(config: LossConfig, gather: Gather = local_batch) -> Objective:
    """IntTower's loss; `gather` widens CIR's candidates to a data-parallel job's global batch."""

    def objective(model: IntTower, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        out = model(batch)
        return total_loss(
            out.logit, batch.label,
            emb_sq_norm=out.user.emb_sq_norm + out.item.emb_sq_norm,
            user_last=out.user.heads[:, -1],  # (B, Hu, d): the last layer's head set
            item_heads=out.item.heads,
            item_key=batch.item_key,
            config=config,
            gather=gather,
        )

    return objective
