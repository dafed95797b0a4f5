"""A loaded bundle wrapped for serving: id lookups, candidate gather, FE-Block scoring, top-k.

Built once per bundle version and read-only afterwards, so concurrent requests share one instance
without locks and a hot swap replaces it whole (service.reloader). Scores come from
`IntTower.score_candidates`, i.e. the one-vs-N FE-Block function that the trainer's pairwise
score is tested against (model.interaction.score_one_vs_n): one user-tower pass per request, one
gather of the candidates' precomputed item heads, one batched MaxSim — no per-candidate loop, no
forward over pairs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from model.bundle import Bundle
from model.inputs import TowerInputs
from model.item_index import build_item_index, query_rows
from service.errors import InvalidUserFeatures, TooManyCandidates, UnknownCandidates

FeatureValue = str | int | float | None
_WARM_UP_USER = "\x00warm-up"  # an id no bundle holds: warms the unknown-user path
_WARM_UP_CANDIDATES = 1_000


@dataclass(frozen=True)
class Scores:
    user_known: bool
    item_ids: list[str]
    scores: np.ndarray  # (K,) float32 click probabilities, aligned with item_ids
    unknown_item_ids: list[str]


class Scorer:
    def __init__(self, bundle: Bundle, max_candidates: int, recommend_depth: int) -> None:
        self.bundle = bundle
        self.version = bundle.version
        self.created_at = datetime.fromisoformat(bundle.manifest["created_at"]).timestamp()
        self.loaded_at = time.time()
        self._model = bundle.model
        self._fe_block = bundle.config.fe_block
        self._device = next(bundle.model.parameters()).device
        self._max_candidates = max_candidates
        self._depth = recommend_depth
        self._user_row = {user: row for row, user in enumerate(bundle.users.ids)}
        self._item_row = {item: row for row, item in enumerate(bundle.items.ids)}
        self._users = bundle.users.inputs(self._device)  # every user row as (U, ...) tensors
        # (N, Hi, d), contiguous on the device: candidates are gathered with index_select.
        self._item_heads = torch.from_numpy(bundle.item_vectors).to(self._device).contiguous()
        self._index = (bundle.item_index if bundle.item_index is not None  # older bundles lack it
                       else build_item_index(bundle.item_vectors, self._fe_block))

    @torch.inference_mode()
    def score(self, user_id: str, candidate_ids: list[str], top_k: int | None = None,
              user_features: Mapping[str, FeatureValue] | None = None,
              strict: bool = False) -> Scores:
        """Probabilities of the known candidates, in request order or the best `top_k` first."""
        if len(candidate_ids) > self._max_candidates:
            raise TooManyCandidates(f"{len(candidate_ids)} candidates, the limit is "
                                    f"{self._max_candidates} per request", "candidate_ids")
        rows, ids, unknown = self._item_rows(candidate_ids)
        if unknown and strict:
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise UnknownCandidates(f"not in model {self.version}: {unknown[:10]}{more}",
                                    "candidate_ids")
        heads, known = self._user_heads(user_id, user_features)
        if not rows:
            return Scores(known, [], np.empty(0, np.float32), unknown)
        logits = self._logits(heads, torch.tensor(rows, dtype=torch.int64, device=self._device))
        if top_k is not None:
            logits, order = torch.topk(logits, min(top_k, len(rows)))  # sorted, best first
            ids = [ids[j] for j in order.tolist()]
        return Scores(known, ids, torch.sigmoid(logits).cpu().numpy(), unknown)

    @torch.inference_mode()
    def recommend(self, user_id: str, k: int, exclude_ids: Sequence[str] = (),
                  user_features: Mapping[str, FeatureValue] | None = None) -> Scores:
        """Top-k of the whole catalogue: faiss candidates per user head, exact FE-Block re-rank."""
        heads, known = self._user_heads(user_id, user_features)
        excluded = [row for row in map(self._item_row.get, exclude_ids) if row is not None]
        queries = query_rows(heads.cpu().numpy(), self._fe_block)  # (L*Hu, d) or (1, Hu*d)
        rows = self._index.search(queries, max(self._depth, k + len(excluded)))  # sorted unique
        if excluded:
            rows = rows[~np.isin(rows, excluded)]
        logits = self._logits(heads, torch.from_numpy(rows).to(self._device))
        logits, order = torch.topk(logits, min(k, len(rows)))
        ids = self.bundle.items.ids[rows[order.cpu().numpy()]].tolist()
        return Scores(known, ids, torch.sigmoid(logits).cpu().numpy(), [])

    def warm(self) -> None:
        """Run every scoring path once, so the first requests do not pay for lazy set-up and a
        bundle that loads but cannot score is refused before it goes live."""
        users, items = self.bundle.users.ids, self.bundle.items.ids
        candidates = items[: min(_WARM_UP_CANDIDATES, self._max_candidates)].tolist()
        user = str(users[0]) if len(users) else _WARM_UP_USER
        self.score(user, candidates, top_k=10)
        self.score(_WARM_UP_USER, candidates[:1])
        self.recommend(user, k=10)

    def summary(self) -> dict[str, Any]:
        """GET /model: the manifest's essentials (service.schemas.ModelResponse)."""
        manifest = self.bundle.manifest
        return {
            "version": self.version,
            "parent": manifest.get("parent"),
            "created_at": manifest["created_at"],
            "age_seconds": round(time.time() - self.created_at, 3),
            "loaded_at": datetime.fromtimestamp(self.loaded_at).astimezone().isoformat(),
            "dataset": manifest.get("dataset"),
            "num_users": len(self.bundle.users),
            "num_items": len(self.bundle.items),
            "config": manifest["model_config"],
            "item_index": self._index.describe(),
            "metrics": manifest.get("metrics", {}),
        }

    def _logits(self, user_heads: Tensor, rows: Tensor) -> Tensor:
        """(L, Hu, d) user heads against the item heads of `rows` (N,) -> logits (N,)."""
        return self._model.score_candidates(user_heads, self._item_heads.index_select(0, rows))

    def _item_rows(self, ids: list[str]) -> tuple[list[int], list[str], list[str]]:
        """Bundle rows of the known ids and those ids, in request order; then the unknown ids."""
        rows = list(map(self._item_row.get, ids))  # None where unknown
        if None not in rows:
            return cast(list[int], rows), ids, []
        unknown = [i for i, row in zip(ids, rows, strict=True) if row is None]
        kept = [(row, i) for i, row in zip(ids, rows, strict=True) if row is not None]
        return [row for row, _ in kept], [i for _, i in kept], unknown

    def _user_heads(self, user_id: str,
                    features: Mapping[str, FeatureValue] | None) -> tuple[Tensor, bool]:
        """(L, Hu, d) heads of a bundle user, or of an unknown one from `features`; known?"""
        row = self._user_row.get(user_id)
        if row is None:
            inputs = self._encode_unknown_user(user_id, features or {})
        else:  # slices are views: no copy of the user table
            u = self._users
            inputs = TowerInputs(u.cat[row:row + 1], tuple(s[row:row + 1] for s in u.seq),
                                 u.num[row:row + 1])
        return self._model.encode_user(inputs).heads[0], row is not None

    def _encode_unknown_user(self, user_id: str,
                             features: Mapping[str, FeatureValue]) -> TowerInputs:
        """The OOV id row plus the request's raw features, encoded with the training codec."""
        codec = self.bundle.user_codec
        foreign = sorted(features.keys() - set(codec.columns))
        if foreign:
            raise InvalidUserFeatures(f"{foreign} are not user features of this model; "
                                      f"it reads {codec.columns}", f"user_features.{foreign[0]}")
        # Missing columns are missing values: the OOV token, or the train mean for numbers.
        frame = pd.DataFrame({c: [features.get(c)] for c in codec.columns},
                             index=pd.Index([user_id]))
        return codec.encode(frame).inputs(self._device)
