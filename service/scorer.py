"""A loaded bundle wrapped for serving: one object per bundle version that composes the parts.

Built once per bundle version and read-only afterwards, so concurrent requests share one instance
without locks and a hot swap replaces it whole (service.reloader); it holds no module-level
state, so a service may hold several at once (a live bundle and a challenger). Per request: one
user-tower pass, one gather of the candidates' precomputed item heads with one batched MaxSim (the
FE-Block score of model.interaction.score_one_vs_n) — no per-candidate loop, no forward over
pairs. Where those run (compiled kernels on the CPU, torch on an accelerator) is
service.backends' business; the Scorer sees host numpy arrays only, and times both stages for the
metrics.

The parts: service.candidates (request ids -> rows, the known/unknown split, the strict policy),
service.user_heads (cached or online), service.budget (a latency budget's slices),
service.ranking (top-k, probabilities), service.warm_up and service.model_summary (GET /model),
service.memory (what the bundle holds in memory).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from model.bundle import Bundle
from service.backends import Backend, backend_for
from service.body_ids import BodyIds
from service.budget import logits_within
from service.candidates import Candidates, ItemIds
from service.memory import bundle_bytes
from service.model_summary import model_summary
from service.ranking import best_first, sigmoid
from service.settings import Settings
from service.slices import SlicePool
from service.user_features import FeatureValue
from service.user_heads import UserHeads
from service.warm_up import warm


@dataclass(frozen=True)
class Scores:
    user_known: bool
    item_ids: Sequence[str]  # a list, or BodyIds: ids kept in the request body
    scores: np.ndarray  # (K,) float32 click probabilities, aligned with item_ids
    unknown_item_ids: list[str]
    stages: dict[str, float]  # seconds: user_tower, gather_score (+ search, for /recommend)
    user_path: str  # "cached" (precomputed heads) or "online" (the user tower ran)
    scored: int  # known candidates scored: all of them, or the first ones that fit the budget
    # (scored,) int64 catalogue rows of the candidates scored, in request order (before top_k):
    # what a shadow challenger scores again (service.shadow)
    rows: np.ndarray


class Scorer:
    def __init__(self, bundle: Bundle, max_candidates: int, recommend_depth: int,
                 user_heads_cache_mb: int = 0, slices: SlicePool | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 backend: Backend | None = None) -> None:
        """`backend`: where the heads and logits are computed; by default the one that
        service.backends picks for the bundle's device, large requests cut into `slices`."""
        self.bundle = bundle
        self.version = bundle.version
        self.created_at = datetime.fromisoformat(bundle.manifest["created_at"]).timestamp()
        self.loaded_at = time.time()
        self._backend = (backend_for(bundle, slices or SlicePool(threads=1, min_rows=1))
                         if backend is None else backend)
        self._depth = recommend_depth
        self._clock = clock  # seconds; the latency budget and the stage times read it
        self.candidates = Candidates(bundle.items, self.version, max_candidates)
        self.user_heads = UserHeads(bundle, self._backend, self.candidates.tokens,
                                    user_heads_cache_mb)

    @classmethod
    def from_settings(cls, bundle: Bundle, settings: Settings) -> Scorer:
        """The scorer a server builds for `bundle` under `settings` (benchmarks build it so too)."""
        return cls(bundle, settings.max_candidates, settings.recommend_depth,
                   settings.user_heads_cache_mb,
                   SlicePool(settings.score_threads, settings.slice_min_candidates))

    def score(self, user_id: str, candidate_ids: ItemIds, top_k: int | None = None,
              user_features: Mapping[str, FeatureValue] | None = None,
              strict: bool = False, budget_s: float | None = None) -> Scores:
        """Probabilities of the known candidates, in request order or the best `top_k` first.
        With `budget_s`, only the first known candidates that fit in that many seconds from
        the call (all of the work counted) are scored (service.budget)."""
        deadline = None if budget_s is None else self._clock() + budget_s
        rows, ids, unknown = self.candidates.split(candidate_ids, strict)
        started = self._clock()
        heads, known, path = self.user_heads.of(user_id, user_features)
        encoded = self._clock()
        logits = (self._backend.logits(heads, rows) if deadline is None
                  else logits_within(self._backend.logits, heads, rows, deadline, self._clock))
        scored = len(logits)
        if scored < len(ids):  # the budget cut the list short
            ids, rows = ids[:scored], rows[:scored]
        if top_k is not None:
            order = best_first(logits, top_k)
            logits = logits[order]
            ids = ids.take(order) if isinstance(ids, BodyIds) else [ids[j] for j in order]
        scores = sigmoid(logits)
        stages = {"user_tower": encoded - started, "gather_score": self._clock() - encoded}
        return Scores(known, ids, scores, unknown, stages, path, scored, rows)

    def recommend(self, user_id: str, k: int, exclude_ids: ItemIds = (),
                  user_features: Mapping[str, FeatureValue] | None = None) -> Scores:
        """Top-k of the whole catalogue: faiss candidates per user head, exact FE-Block re-rank."""
        started = self._clock()
        heads, known, path = self.user_heads.of(user_id, user_features)
        encoded = self._clock()
        excluded = self.candidates.rows(exclude_ids)
        excluded = excluded[excluded >= 0]  # unknown ids exclude nothing
        rows = self._backend.search(heads, max(self._depth, k + len(excluded)))  # sorted unique
        if len(excluded):
            rows = rows[~np.isin(rows, excluded)]
        searched = self._clock()
        logits = self._backend.logits(heads, rows)
        order = best_first(logits, k)
        ids = self.bundle.items.ids[rows[order]].tolist()
        stages = {"user_tower": encoded - started, "search": searched - encoded,
                  "gather_score": self._clock() - searched}
        return Scores(known, ids, sigmoid(logits[order]), [], stages, path, len(rows), rows)

    def logits(self, user_id: str, rows: np.ndarray,
               user_features: Mapping[str, FeatureValue] | None = None) -> np.ndarray:
        """(N,) float32 logits of the catalogue `rows` (N,) for the user, in their order:
        scoring without ids (a shadow challenger's call, service.shadow)."""
        heads, _, _ = self.user_heads.of(user_id, user_features)
        return self._backend.logits(heads, rows)

    def catalogue_rows(self, ids: Sequence[str]) -> np.ndarray:
        """This bundle's catalogue rows (N,) int64 of raw item `ids`, -1 for ids it lacks."""
        return self.candidates.rows(list(ids))

    def warm(self) -> None:
        """Run every scoring path once (service.warm_up)."""
        warm(self)

    def summary(self) -> dict[str, Any]:
        """GET /model: the manifest's essentials (service.model_summary)."""
        return model_summary(self)

    def memory_bytes(self) -> int:
        """Bytes this bundle holds in memory for serving: item vectors, tables, model, item index
        (service.memory) and the precomputed user heads."""
        return bundle_bytes(self.bundle) + self.user_heads.nbytes
