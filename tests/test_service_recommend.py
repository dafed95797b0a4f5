"""POST /recommend: faiss candidates per user head + exact FE-Block re-rank == brute force."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from model import store
from model.bundle import Bundle, load_bundle
from service.app import create_app
from service.settings import Settings
from training.trainer import TrainResult

# Hits per user head vector. The toy bundle has 200 items x 2 heads = 400 index rows and 3 layers
# x 2 heads = 6 user rows: at most 96 distinct items reach the re-rank, so the index matters.
DEPTH = 16


@pytest.fixture(scope="module")
def bundle(trained: TrainResult, trained_artifacts: Path) -> Bundle:
    return load_bundle(store.current_path(trained_artifacts))


@pytest.fixture(scope="module")
def shallow(trained: TrainResult, trained_artifacts: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(artifacts=trained_artifacts,
                                        recommend_depth=DEPTH))) as test_client:
        yield test_client


def _brute_force(bundle: Bundle, user_row: int, k: int,
                 exclude: frozenset[int] = frozenset()) -> tuple[list[str], np.ndarray]:
    """Served scores (FE-Block, bias and the per-candidate term) of the user against every
    catalogue item; the k best, best first."""
    offsets = bundle.item_offsets()
    with torch.inference_mode():
        heads = bundle.model.encode_user(bundle.users.take(np.array([user_row])).inputs()).heads
        logits = bundle.model.score_candidates(
            heads[0], torch.from_numpy(bundle.item_vectors.dequantised()),
            None if offsets is None else torch.from_numpy(offsets))
    probs = torch.sigmoid(logits).numpy()
    order = [r for r in np.argsort(-probs, kind="stable") if r not in exclude][:k]
    return [str(bundle.items.ids[r]) for r in order], probs[order]


@pytest.mark.parametrize("user_row", [0, 1, 17, 42, 99, 150, 299])
def test_recommendations_equal_brute_force_scoring_of_the_whole_catalogue(
    shallow: TestClient, bundle: Bundle, user_row: int
) -> None:
    user_rows = bundle.config.layers * bundle.config.user_heads
    assert len(bundle.items) > user_rows * DEPTH  # the index, not a full scan, picks them
    body = shallow.post("/recommend", json={"user_id": str(bundle.users.ids[user_row]),
                                            "k": 10}).json()
    ids, probs = _brute_force(bundle, user_row, 10)
    assert body["item_ids"] == ids
    np.testing.assert_allclose(body["scores"], probs, atol=1e-5)
    assert body["user_known"] is True
    assert body["model_version"] == bundle.version


def test_excluded_items_are_left_out_and_the_next_best_fill_in(shallow: TestClient,
                                                               bundle: Bundle) -> None:
    user = str(bundle.users.ids[3])
    first = shallow.post("/recommend", json={"user_id": user, "k": 5}).json()["item_ids"]
    excluded = [*first[:3], "not-an-item"]  # unknown ids are ignored
    body = shallow.post("/recommend", json={"user_id": user, "k": 5,
                                            "exclude_ids": excluded}).json()
    rows = frozenset(int(np.flatnonzero(bundle.items.ids == i)[0]) for i in first[:3])
    assert body["item_ids"] == _brute_force(bundle, 3, 5, exclude=rows)[0]
    assert not set(body["item_ids"]) & set(first[:3])


def test_an_unknown_user_gets_recommendations_too(client: TestClient) -> None:
    body = client.post("/recommend", json={"user_id": "stranger", "k": 3,
                                           "user_features": {"segment": "s1"}}).json()
    assert body["user_known"] is False
    assert len(body["item_ids"]) == 3
    assert body["scores"] == sorted(body["scores"], reverse=True)


def test_k_beyond_the_catalogue_returns_every_item_once(client: TestClient,
                                                        bundle: Bundle) -> None:
    body = client.post("/recommend", json={"user_id": "u1", "k": 1000}).json()
    assert sorted(body["item_ids"]) == sorted(str(i) for i in bundle.items.ids)
