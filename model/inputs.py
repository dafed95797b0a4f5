"""Tensor containers that travel from the data pipeline (or the service) into the model.

Ids are int64 indices into per-field embedding tables (0 = padding, 1 = out-of-vocabulary);
they are never packed into floats.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class TowerInputs(NamedTuple):
    cat: Tensor  # (B, F_cat) int64, one column per single-valued categorical field
    seq: tuple[Tensor, ...]  # per multi-valued field: (B, M_f) int64, right-padded with 0
    num: Tensor  # (B, F_num) float32, standardised numeric features
    # (B, S) float32 features that bypass the tower (TowerSpec.score_dim; None when S = 0)
    score: Tensor | None = None


class Batch(NamedTuple):
    user: TowerInputs
    item: TowerInputs
    item_key: Tensor  # (B,) int64 catalogue row of each item: CIR masks rows of the same item
    label: Tensor  # (B,) float32 in {0, 1}
