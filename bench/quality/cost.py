"""Serving cost of scoring ONE candidate once the user side has run (it runs once per request).

FLOPs count a multiply-add as 2; BatchNorm folds into the preceding linear layer at serving time;
activations, embedding lookups and memory traffic are not counted. `item_bytes` is the float32
item vector a model lets the service precompute and store; None when nothing is precomputable and
the whole network runs per candidate. Each family of the zoo (bench/quality/zoo.py) names its
cost function here.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from bench.quality.baselines import COLD, DAT, LR, DeepFM, TwoTower
from model.inttower import IntTower

FLOAT_BYTES = 4


@dataclass(frozen=True)
class ServingCost:
    flops: int
    item_bytes: int | None
    per_candidate: str  # what runs per candidate, in words


def lr_cost(model: LR) -> ServingCost:
    # logit = Σ user weights + Σ item weights + bias: both sums are precomputable.
    return ServingCost(1, FLOAT_BYTES, "one addition of the precomputed user and item partial sums")


def cold_cost(model: COLD) -> ServingCost:
    fields = model.fields
    flops = _dense_flops(model) + fields.num_fields * fields.dim  # + the SE gate
    return ServingCost(flops, None, f"the whole network: {fields.num_fields} field lookups, "
                                    "SE gate, MLP")


def deepfm_cost(model: DeepFM) -> ServingCost:
    fields = model.fields
    # FM: square of the sum, sum of squares, their difference: ~3 ops per (field, dim).
    flops = _dense_flops(model) + 3 * fields.num_fields * fields.dim
    return ServingCost(flops, None, f"the whole network: {fields.num_fields} field lookups, "
                                    "FM, MLP")


def dat_cost(model: DAT) -> ServingCost:
    return two_tower_cost(model.towers)


def inttower_cost(model: IntTower) -> ServingCost:
    c = model.config
    item_bytes = FLOAT_BYTES * c.item_heads * c.head_dim
    if not c.fe_block:
        return ServingCost(2 * c.item_heads * c.head_dim + 1, item_bytes,
                           f"dot product of {c.item_heads * c.head_dim}-d vectors")
    rows = c.user_layers * c.user_heads  # the stacked user heads U* (interest heads included)
    sims = rows * c.item_heads
    # Dot products, then ~1 op per similarity for the max over item heads and the sum over rows.
    return ServingCost(2 * sims * c.head_dim + sims + 1, item_bytes,
                       f"MaxSim of {rows} user rows against {c.item_heads} item heads, "
                       f"d={c.head_dim}")


def two_tower_cost(model: TwoTower) -> ServingCost:
    dim = model.item_out.out_features
    scaled = model.log_temperature is not None
    return ServingCost(2 * dim + 1 + scaled, FLOAT_BYTES * dim,
                       f"dot product of {dim}-d vectors" + (" × temperature" if scaled else ""))


def _dense_flops(model: nn.Module) -> int:
    return sum(2 * m.in_features * m.out_features for m in model.modules()
               if isinstance(m, nn.Linear))

