"""A latency budget scores the first known candidates that fit, in request order, and says how
many: measured on a fake clock that only the backend advances (the FE-Block about 1 µs a
candidate), given to the Scorer through its public `clock` and `backend` arguments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from model import store
from model.bundle import Bundle, load_bundle
from model.features import EncodedTable
from service.app import create_app
from service.backends import backend_for
from service.budget import FIRST_SLICE, logits_within
from service.scorer import Scorer
from service.settings import Settings
from service.slices import SlicePool
from training.trainer import TrainResult

PER_CANDIDATE_S = 2.0**-20  # ~1 µs, binary-exact: sums of it carry no rounding


class _TimedBackend:
    """The bundle's own backend on a fake clock (`clock`, seconds) that only it advances: scoring
    takes PER_CANDIDATE_S a candidate, the user tower `tower_s`."""

    def __init__(self, bundle: Bundle) -> None:
        self._real = backend_for(bundle, SlicePool(threads=1, min_rows=1))
        self.index = self._real.index
        self.now = 0.0
        self.tower_s = 0.0

    def clock(self) -> float:
        return self.now

    def user_heads(self, users: EncodedTable) -> np.ndarray:
        self.now += self.tower_s
        return self._real.user_heads(users)

    def logits(self, user_heads: np.ndarray, rows: np.ndarray) -> np.ndarray:
        self.now += PER_CANDIDATE_S * len(rows)
        return self._real.logits(user_heads, rows)

    def search(self, user_heads: np.ndarray, depth: int) -> np.ndarray:
        return self._real.search(user_heads, depth)


@pytest.fixture(scope="module")
def bundle(trained: TrainResult, trained_artifacts: Path) -> Bundle:
    return load_bundle(store.current_path(trained_artifacts))


def _scorer(bundle: Bundle) -> tuple[Scorer, _TimedBackend]:
    timed = _TimedBackend(bundle)
    return Scorer(bundle, max_candidates=10_000, recommend_depth=16, clock=timed.clock,
                  backend=timed), timed


@pytest.mark.parametrize(("row_s", "slices"), [
    (1.0, [FIRST_SLICE, 1_000 - FIRST_SLICE]),  # a second a row: 256 s, then the 744 s left
    (2.0, [FIRST_SLICE, 500 - FIRST_SLICE]),  # two: 512 s, then 244 rows fill the 488 s left
])
def test_the_first_slice_measures_the_rate_and_the_next_fills_what_is_left(
        row_s: float, slices: list[int]) -> None:
    now, sizes = [0.0], []

    def logits(heads: np.ndarray, rows: np.ndarray) -> np.ndarray:
        now[0] += row_s * len(rows)
        sizes.append(len(rows))
        return rows.astype(np.float32)

    rows, heads = np.arange(10_000), np.empty((1, 1, 1), np.float32)
    kept = logits_within(logits, heads, rows, 1_000.5, lambda: now[0])
    assert sizes == slices  # the half second left after them fits no further row
    np.testing.assert_array_equal(kept, np.arange(sum(slices), dtype=np.float32))
    sizes.clear()
    assert len(logits_within(logits, heads, rows, now[0], lambda: now[0])) == 0 and not sizes


def _candidates(bundle: Bundle, n: int) -> list[str]:
    rows = np.random.default_rng(n).integers(0, len(bundle.items), n)
    return bundle.items.ids[rows].tolist()


def test_a_budget_scores_the_first_candidates_that_fit_in_request_order(bundle: Bundle) -> None:
    scorer, _ = _scorer(bundle)
    user, candidates = str(bundle.users.ids[0]), _candidates(bundle, 5_000)
    everything = scorer.score(user, candidates)
    budgeted = scorer.score(user, candidates, budget_s=1_000 * PER_CANDIDATE_S)
    assert everything.scored == 5_000
    assert budgeted.scored == 1_000  # the first slice measures the rate, the second fills it
    assert budgeted.item_ids == candidates[:1_000]
    np.testing.assert_array_equal(budgeted.scores, everything.scores[:1_000])


def test_unknown_candidates_are_listed_and_not_counted_against_the_budget(
        bundle: Bundle) -> None:
    scorer, _ = _scorer(bundle)
    candidates = _candidates(bundle, 600)
    mixed = [candidates[0], "nope", *candidates[1:], "gone"]
    result = scorer.score("stranger", mixed, budget_s=300 * PER_CANDIDATE_S)
    assert result.scored == 300 and result.item_ids == candidates[:300]
    assert result.unknown_item_ids == ["nope", "gone"]


def test_a_budget_spent_before_scoring_scores_nothing_and_top_k_ranks_what_was_scored(
        bundle: Bundle) -> None:
    scorer, timed = _scorer(bundle)
    candidates = _candidates(bundle, 2_000)
    timed.tower_s = 1.0  # the user tower alone takes a second
    assert scorer.score("stranger", candidates, budget_s=0.5).scored == 0
    timed.tower_s = 0.0
    top = scorer.score("stranger", candidates, top_k=5, budget_s=700 * PER_CANDIDATE_S)
    first = scorer.score("stranger", candidates[:700])
    assert top.scored == 700
    assert top.item_ids == [first.item_ids[j] for j in np.argsort(-first.scores,
                                                                  kind="stable")[:5]]


def test_the_response_says_how_many_were_scored_and_the_server_default_applies(
        trained_artifacts: Path, bundle: Bundle) -> None:
    request = {"user_id": "u1", "candidate_ids": _candidates(bundle, 50)}
    settings = Settings(artifacts=trained_artifacts, score_budget_ms=1e-6)  # nothing fits
    with TestClient(create_app(settings)) as client:
        assert client.post("/score", json=request).json()["scored"] == 0
        generous = client.post("/score", json={**request, "budget_ms": 60_000}).json()
        assert generous["scored"] == 50 and len(generous["scores"]) == 50
        for bad in (0, -1, "5", 60_001):
            response = client.post("/score", json={**request, "budget_ms": bad})
            assert response.status_code == 422, bad
            assert response.json()["detail"].startswith("budget_ms: ")
