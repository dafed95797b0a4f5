"""A loaded bundle wrapped for serving: id lookups, candidate gather, FE-Block scoring, top-k.

Built once per bundle version and read-only afterwards, so concurrent requests share one instance
without locks and a hot swap replaces it whole (service.reloader). Per request: one user-tower pass,
one gather of the candidates' precomputed item heads with one batched MaxSim (the FE-Block score of
model.interaction.score_one_vs_n) — no per-candidate loop, no forward over pairs. Where those run
(compiled kernels on the CPU, torch on an accelerator) is service.backends' business; this class
sees host numpy arrays only, and times both stages for the metrics.

A request may carry a latency budget: the candidates are then scored in slices, in request order,
until the next slice would overrun it (the rate measured on the slices so far), and the response
says how many were scored - what a pre-ranker does when retrieval sends more than it can afford.

The user's heads come one of two ways (`Scores.user_path`): "cached", the heads of a bundle user
precomputed at load from its stored row, when the request sends no `user_features` and they fit
the memory budget; or "online", the user tower run on the stored row (or the default row of an
unknown user) with the request's fresh features applied (service.user_features).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numba import njit

from model.bundle import Bundle
from model.features import OOV
from model.kernels.id_index import item_id_index
from model.layout import ID
from service.backends import backend_for
from service.errors import TooManyCandidates, UnknownCandidates
from service.integer_ids import IntegerIds
from service.settings import Settings
from service.slices import SlicePool
from service.user_features import FeatureValue, UserFeatureEncoder

_WARM_UP_USER = "\x00warm-up"  # an id no bundle holds: warms the unknown-user path
_WARM_UP_CANDIDATES = 1_000
_PRECOMPUTE_BATCH = 4_096  # users per user-tower call when precomputing known users' heads
_FIRST_SLICE = 256  # candidates scored before a budgeted request's rate is known (~30 µs on a CPU)
ItemIds = Sequence[str] | np.ndarray  # strings, or an int64 array of JSON integers (schemas)


@dataclass(frozen=True)
class Scores:
    user_known: bool
    item_ids: Sequence[str]  # a list, or IntegerIds for a request of JSON integers
    scores: np.ndarray  # (K,) float32 click probabilities, aligned with item_ids
    unknown_item_ids: list[str]
    stages: dict[str, float]  # seconds: user_tower, gather_score (+ search, for /recommend)
    user_path: str  # "cached" (precomputed heads) or "online" (the user tower ran)
    scored: int  # known candidates scored: all of them, or the first ones that fit the budget


class Scorer:
    def __init__(self, bundle: Bundle, max_candidates: int, recommend_depth: int,
                 user_heads_cache_mb: int = 0, slices: SlicePool | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.bundle = bundle
        self.version = bundle.version
        self.created_at = datetime.fromisoformat(bundle.manifest["created_at"]).timestamp()
        self.loaded_at = time.time()
        self._backend = backend_for(bundle, slices or SlicePool(threads=1, min_rows=1))
        self._max_candidates = max_candidates
        self._depth = recommend_depth
        self._user_row = {user: row for row, user in enumerate(bundle.users.ids)}
        self._item_ids = item_id_index(bundle.items.ids)  # raw item ids -> catalogue rows
        self._clock = clock  # seconds; the latency budget and the stage times read it
        self._features = UserFeatureEncoder(bundle.user_codec, bundle.users, self._item_tokens)
        self._known_heads = self._precomputed_user_heads(user_heads_cache_mb)

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
        the call (all of the work counted) are scored."""
        deadline = None if budget_s is None else self._clock() + budget_s
        if len(candidate_ids) > self._max_candidates:
            raise TooManyCandidates(f"{len(candidate_ids)} candidates, the limit is "
                                    f"{self._max_candidates} per request", "candidate_ids")
        rows, ids, unknown = self._item_rows(candidate_ids)
        if unknown and strict:
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise UnknownCandidates(f"not in model {self.version}: {unknown[:10]}{more}",
                                    "candidate_ids")
        started = self._clock()
        heads, known, path = self._user_heads(user_id, user_features)
        encoded = self._clock()
        logits = (self._backend.logits(heads, rows) if deadline is None
                  else self._logits_within(heads, rows, deadline))
        scored = len(logits)
        if scored < len(ids):  # the budget cut the list short
            ids = ids[:scored]
        if top_k is not None:
            order = _best_first(logits, top_k)
            logits = logits[order]
            ids = ids.take(order) if isinstance(ids, IntegerIds) else [ids[j] for j in order]
        scores = _sigmoid(logits)
        stages = {"user_tower": encoded - started, "gather_score": self._clock() - encoded}
        return Scores(known, ids, scores, unknown, stages, path, scored)

    def recommend(self, user_id: str, k: int, exclude_ids: ItemIds = (),
                  user_features: Mapping[str, FeatureValue] | None = None) -> Scores:
        """Top-k of the whole catalogue: faiss candidates per user head, exact FE-Block re-rank."""
        started = self._clock()
        heads, known, path = self._user_heads(user_id, user_features)
        encoded = self._clock()
        excluded = self._item_ids.rows(exclude_ids)
        excluded = excluded[excluded >= 0]  # unknown ids exclude nothing
        rows = self._backend.search(heads, max(self._depth, k + len(excluded)))  # sorted unique
        if len(excluded):
            rows = rows[~np.isin(rows, excluded)]
        searched = self._clock()
        logits = self._backend.logits(heads, rows)
        order = _best_first(logits, k)
        ids = self.bundle.items.ids[rows[order]].tolist()
        stages = {"user_tower": encoded - started, "search": searched - encoded,
                  "gather_score": self._clock() - searched}
        return Scores(known, ids, _sigmoid(logits[order]), [], stages, path, len(rows))

    def warm(self) -> None:
        """Run every scoring path once, so the first requests do not pay for lazy set-up and a
        bundle that loads but cannot score is refused before it goes live."""
        users, items = self.bundle.users.ids, self.bundle.items.ids
        candidates = items[: min(_WARM_UP_CANDIDATES, self._max_candidates)].tolist()
        user = str(users[0]) if len(users) else _WARM_UP_USER
        self.score(user, candidates, top_k=10)
        self.score(user, candidates, budget_s=1.0)
        self.score(_WARM_UP_USER, np.arange(2))  # JSON integers take their own lookup
        if self._features.history_field is not None:  # a known user with a fresh history
            self.score(user, candidates[:1],
                       user_features={self._features.history_field: candidates[:2]})
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
            "item_index": self._backend.index.describe(),
            "user_history": manifest.get("user_history"),
            "user_sequences": manifest.get("user_sequences", []),
            "metrics": manifest.get("metrics", {}),
        }

    def _logits_within(self, heads: np.ndarray, rows: np.ndarray, deadline: float) -> np.ndarray:
        """Logits of the first rows, in order, that fit before `deadline`: slices sized by the
        rate measured so far, none started that would end past it."""
        parts, done = [], 0
        size = min(_FIRST_SLICE, len(rows)) if self._clock() < deadline else 0
        while done < len(rows) and size > 0:
            started = self._clock()
            parts.append(self._backend.logits(heads, rows[done: done + size]))
            done += size
            now = self._clock()
            per_row = max(now - started, 1e-9) / size
            size = min(len(rows) - done, int((deadline - now) / per_row))
        return np.concatenate(parts) if parts else np.empty(0, np.float32)

    def _item_rows(self, ids: ItemIds) -> tuple[np.ndarray, Sequence[str], list[str]]:
        """Bundle rows (N,) int64 of the known ids and those ids, in request order; then the
        unknown ids, as strings."""
        rows = self._item_ids.rows(ids)
        known = rows >= 0
        if isinstance(ids, np.ndarray):  # JSON integers: spelled when the response is written
            return rows[known], IntegerIds(ids[known]), [str(i) for i in ids[~known].tolist()]
        if known.all():
            return rows, list(ids), []
        unknown = [i for i, ok in zip(ids, known.tolist(), strict=True) if not ok]
        kept = [i for i, ok in zip(ids, known.tolist(), strict=True) if ok]
        return rows[known], kept, unknown

    def _item_tokens(self, ids: list[str]) -> np.ndarray:
        """Raw item ids -> the item tower's id tokens (N,) int64; OOV for ids not in the bundle."""
        rows = self._item_ids.rows(ids)
        return np.where(rows >= 0, self.bundle.items.cat[rows, ID], OOV)

    def _precomputed_user_heads(self, budget_mb: int) -> np.ndarray | None:
        """(U, L, Hu, d) heads of every bundle user if they fit in `budget_mb`, else None.

        A stored row is a function of the bundle alone, like the item vectors, so its heads are
        computed once here, by the same backend as per request.
        """
        c, users = self.bundle.config, self.bundle.users
        shape = (len(users), c.user_layers, c.user_heads, c.head_dim)
        if np.prod(shape) * 4 > budget_mb * 2**20:
            return None
        heads = np.empty(shape, np.float32)
        for start in range(0, len(users), _PRECOMPUTE_BATCH):
            rows = np.arange(start, min(start + _PRECOMPUTE_BATCH, len(users)))
            heads[rows] = self._backend.user_heads(users.take(rows))
        return heads

    def _user_heads(self, user_id: str, features: Mapping[str, FeatureValue] | None
                    ) -> tuple[np.ndarray, bool, str]:
        """(L, Hu, d) heads of the user with `features` applied; is the user known; the path."""
        row = self._user_row.get(user_id)
        if row is not None and not features and self._known_heads is not None:
            return self._known_heads[row], True, "cached"
        users = self._features.encode(user_id, row, features or {})
        return self._backend.user_heads(users)[0], row is not None, "online"


def _best_first(logits: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` largest logits (all of them if fewer), largest first."""
    top = np.argpartition(-logits, k - 1)[:k] if k < len(logits) else np.arange(len(logits))
    return top[np.argsort(-logits[top], kind="stable")]


@njit(nogil=True, cache=True)
def _sigmoid(logits: np.ndarray) -> np.ndarray:
    """Click probabilities 1 / (1 + e^-x), float32, in one compiled pass (no temporaries; below
    x ≈ -88, e^-x is inf and the probability 0, as it should be)."""
    out = np.empty_like(logits)
    for i in range(logits.shape[0]):
        out[i] = 1 / (1 + np.exp(-logits[i]))
    return out
