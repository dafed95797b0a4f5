"""Every model the quality benchmark trains: a family (IntTower or a baseline) and its variants.

A family names everything the benchmark needs of it (builder, objective, serving cost), so adding
a baseline is one entry in FAMILIES. A variant is plain data (family name, overrides, loss,
learning-rate scale), so it travels to worker processes; `build` turns it into a model and its
objective there. Families with several variants (the Two-Tower score) are reported by the variant
that validates best; the IntTower ablations are variants too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from torch import nn

from bench.quality.baselines import COLD, DAT, LR, BaselineConfig, DeepFM, TwoTower
from bench.quality.baselines.item_term import WithItemTerm
from bench.quality.cost import (
    ServingCost,
    cold_cost,
    dat_cost,
    deepfm_cost,
    inttower_cost,
    lr_cost,
    two_tower_cost,
)
from bench.quality.objectives import dat_objective, pointwise_objective
from model.config import ModelConfig, TowerSpec
from model.inttower import IntTower
from model.losses import LossConfig
from training.data import ItemStat
from training.loop import Objective
from training.objectives import inttower_objective


@dataclass(frozen=True)
class Variant:
    family: str  # a key of FAMILIES
    name: str = "default"  # "cosine", "heads 8", ...
    overrides: Mapping[str, Any] = field(default_factory=dict)  # ModelConfig / BaselineConfig
    loss: LossConfig = field(default_factory=LossConfig)
    lr_scale: float = 1.0  # times the benchmark's learning rate
    item_stat: ItemStat | None = None  # where the item statistic goes; None: as the schema says


Builder = Callable[[TowerSpec, TowerSpec, Mapping[str, Any]], nn.Module]


@dataclass(frozen=True)
class Family:
    label: str
    build: Builder
    objective: Callable[[LossConfig], Objective]
    cost: Callable[[Any], ServingCost]  # of the model `build` returns


def _baseline(cls: Callable[[BaselineConfig], nn.Module]) -> Builder:
    return lambda user, item, overrides: cls(BaselineConfig(user, item, **overrides))


def _inttower(user: TowerSpec, item: TowerSpec, overrides: Mapping[str, Any]) -> nn.Module:
    return IntTower(ModelConfig(user, item, **overrides))


# In table order: the pre-ranking baselines, the ranking reference, IntTower.
FAMILIES: dict[str, Family] = {
    "lr": Family("LR", _baseline(LR), pointwise_objective, lr_cost),
    "two-tower": Family("Two-Tower", _baseline(TwoTower), pointwise_objective, two_tower_cost),
    "dat": Family("DAT", _baseline(DAT), dat_objective, dat_cost),
    "cold": Family("COLD", _baseline(COLD), pointwise_objective, cold_cost),
    "deepfm": Family("DeepFM", _baseline(DeepFM), pointwise_objective, deepfm_cost),
    "inttower": Family("IntTower", _inttower, inttower_objective, inttower_cost),
}
REFERENCE = "two-tower"  # RelaImpr is measured against it

# Trained side by side; the variant with the best mean validation AUC represents its model.
# Two-Tower and DAT: the score. LR: the learning rate, since a linear model whose weights start
# near 0 moves about lr per Adam step and ml-100k gives it only ~330 steps.
MODEL_VARIANTS: dict[str, tuple[Variant, ...]] = {
    "lr": (Variant("lr", "lr ×1"), Variant("lr", "lr ×10", lr_scale=10.0)),
    **{family: tuple(Variant(family, score, {"score": score}) for score in ("dot", "cosine"))
       for family in ("two-tower", "dat")},
}

HEADS = (1, 2, 4, 8)
CIR_WEIGHTS = (0.0, 0.01, 0.1, 0.5)


# Item-statistic placements to compare, as given: (family, placement) pairs, "*" for every
# family without pairs of its own; a placement None is the schema's own.
Placements = tuple[tuple[str, ItemStat | None], ...]
SCHEMA_PLACEMENT: Placements = (("*", None),)


def placements_of(given: Placements, family: str) -> tuple[ItemStat | None, ...]:
    """The placements `family` is trained with: its own pairs, else the "*" ones."""
    own = tuple(p for f, p in given if f == family)
    return own or tuple(p for f, p in given if f == "*") or (None,)


def family_variants(family: str, item_stats: tuple[ItemStat | None, ...] = (None,)
                    ) -> tuple[Variant, ...]:
    """The family's variants, each once per item-statistic placement (named after it when
    several are compared)."""
    variants = MODEL_VARIANTS.get(family, (Variant(family),))
    if len(item_stats) == 1:
        return tuple(replace(v, item_stat=item_stats[0]) for v in variants)
    return tuple(replace(v, name=f"{v.name}, item stat {stat or 'as schema'}", item_stat=stat)
                 for stat in item_stats for v in variants)


def ablation_grid() -> list[Variant]:
    """IntTower's ablations (Light-SE, FE-Block, CIR, heads, CIR weight, the history's table,
    the MaxSim direction, interest heads, dropout, learning rate), starting with the default
    configuration. A point equal to an
    earlier one (heads 4 = the default, CIR weight 0 = no CIR) is trained once, under that
    name."""
    grid = [
        Variant("inttower"),
        Variant("inttower", "no Light-SE", {"light_se": False}),
        Variant("inttower", "no FE-Block (dot product)", {"fe_block": False}),
        Variant("inttower", "no CIR", loss=LossConfig(cir_weight=0.0)),
        *(Variant("inttower", f"heads {h} (d=32)", {"user_heads": h, "item_heads": h,
                                                    "head_dim": 32}) for h in HEADS),
        *(Variant("inttower", f"CIR weight {w:g}", loss=LossConfig(cir_weight=w))
          for w in CIR_WEIGHTS),
        # Each option in both settings: the one equal to the default is trained once, as it.
        Variant("inttower", "history in the item id table", {"share_history": True}),
        Variant("inttower", "history in its own table", {"share_history": False}),
        Variant("inttower", "MaxSim per item head", {"maxsim": "item"}),
        Variant("inttower", "MaxSim per user head (the paper)", {"maxsim": "user"}),
        Variant("inttower", "interest heads", {"interest_heads": True}),
        Variant("inttower", "dropout 0.4", {"dropout": 0.4}),
        Variant("inttower", "lr ×0.3", lr_scale=0.3),
    ]
    unique: dict[tuple[Any, ...], Variant] = {}
    for variant in grid:
        unique.setdefault(_effective(variant), variant)
    return list(unique.values())


def _effective(variant: Variant) -> tuple[Any, ...]:
    """The configuration a variant trains: its overrides that differ from the defaults, its loss."""
    defaults = {f.name: f.default for f in fields(ModelConfig)}
    changed = {k: v for k, v in variant.overrides.items() if defaults.get(k) != v}
    return variant.family, tuple(sorted(changed.items())), variant.loss, variant.lr_scale


def build(variant: Variant, user: TowerSpec, item: TowerSpec) -> tuple[nn.Module, Objective]:
    """The variant's model and objective; a baseline gets the per-candidate score term when the
    items have score features (IntTower builds its own)."""
    family = FAMILIES[variant.family]
    model = family.build(user, item, variant.overrides)
    if item.score_dim and variant.family != "inttower":
        model = WithItemTerm(model, item.score_dim)
    return model, family.objective(variant.loss)


def serving_cost(variant: Variant, model: nn.Module) -> ServingCost:
    """What serving one candidate costs with `model`, built from `variant` (a score term adds
    one stored float per candidate: not counted)."""
    return FAMILIES[variant.family].cost(model.model if isinstance(model, WithItemTerm) else model)
