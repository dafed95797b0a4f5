"""Frozen model configuration, saved inside every bundle so a loader can rebuild the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class TowerSpec:
    """Input layout of one tower, as produced by the feature encoder.

    cat_vocab: rows of each single-valued categorical field's table (incl. padding + OOV rows).
    seq_vocab: rows of each multi-valued field's table; values are mean-pooled over non-padding.
    num_dim:   number of numeric features appended after Light-SE.
    score_dim: width of the features that bypass the tower (TowerInputs.score): inputs of a
               per-candidate term added to the logit (model.item_term), items only.
    history:   which multi-valued field is the user's recent items (an index of seq_vocab).
    """

    cat_vocab: tuple[int, ...]
    seq_vocab: tuple[int, ...] = ()
    num_dim: int = 0
    score_dim: int = 0
    history: int | None = None

    @property
    def num_fields(self) -> int:
        return len(self.cat_vocab) + len(self.seq_vocab)


_BEFORE_THE_FIELD: dict[str, Any] = {"share_history": False, "interest_heads": False,
                                      "maxsim": "user"}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of IntTower (README, "The model"). Defaults are the serving-cost defaults."""

    user: TowerSpec
    item: TowerSpec
    embed_dim: int = 32
    hidden: tuple[int, ...] = (300, 300, 128)
    dropout: float = 0.2
    user_heads: int = 4
    item_heads: int = 4
    head_dim: int = 32
    init_std: float = 0.1  # head projections start at N(0, init_std² / fan_in): logit ≈ 0
    light_se: bool = True
    # False scores with a plain dot product of the last user head set and the item heads (ablation).
    fe_block: bool = True
    # The user's history looks its items up in the item tower's id table (YouTube-DNN) instead of
    # a table of its own. Item vectors stay precomputed: the user tower reads the table online.
    share_history: bool = False
    # H_u more user heads built from the history by attention (one learned query per head, one
    # interest each), scored as one more layer of user heads.
    interest_heads: bool = False
    # Which side's heads take the max in the FE-Block: "user" (the paper: each user head its best
    # item head) or "item" (each item head its best user row).
    maxsim: Literal["user", "item"] = "user"

    @property
    def layers(self) -> int:
        return len(self.hidden)

    @property
    def user_layers(self) -> int:
        """Sets of H_u user heads: one per hidden layer, one more with interest heads."""
        return self.layers + int(self.interest_heads)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        # A bundle written before a field existed was trained as that field's first value.
        data = {**_BEFORE_THE_FIELD, **data}
        towers = {k: TowerSpec(**{f: tuple(v) if isinstance(v, list) else v
                                  for f, v in data.pop(k).items()})
                  for k in ("user", "item")}
        data["hidden"] = tuple(data["hidden"])
        return cls(**towers, **data)
