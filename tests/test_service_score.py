"""POST /score: probabilities that match the offline model, order, unknown ids, unknown users."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient

from model import store
from model.bundle import Bundle, load_bundle
from model.features import EncodedTable
from model.inputs import Batch
from service.app import create_app
from service.body_ids import body_ids
from service.scorer import Scorer
from service.settings import Settings
from training.trainer import TrainResult


@pytest.fixture(scope="module")
def bundle(trained: TrainResult, trained_artifacts: Path) -> Bundle:
    return load_bundle(store.current_path(trained_artifacts))


@pytest.fixture(scope="module")
def float32_client(float32_artifacts: Path) -> Iterator[TestClient]:
    """The API serving the `trained` model with float32 item vectors: exact offline parity."""
    with TestClient(create_app(Settings(artifacts=float32_artifacts))) as test_client:
        yield test_client


def _offline_probabilities(bundle: Bundle, user: int | EncodedTable,
                           item_rows: list[int]) -> np.ndarray:
    """The eval-mode forward pass over (user, item) pairs: a bundle user's row (or a one-row
    encoded user) against the bundle's encoded item rows."""
    n = len(item_rows)
    users = bundle.users.take(np.array([user])) if isinstance(user, int) else user
    batch = Batch(
        user=users.take(np.zeros(n, np.int64)).inputs(),
        item=bundle.items.take(np.asarray(item_rows)).inputs(),
        item_key=torch.tensor(item_rows),
        label=torch.zeros(n),
    )
    with torch.inference_mode():
        return torch.sigmoid(bundle.model.eval()(batch).logit).numpy()


def test_scores_are_probabilities_in_request_order(client: TestClient, bundle: Bundle) -> None:
    items = [str(i) for i in bundle.items.ids[:5]]
    response = client.post("/score", json={"user_id": str(bundle.users.ids[0]),
                                           "candidate_ids": items})
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == bundle.version
    assert body["user_known"] is True
    assert body["item_ids"] == items
    assert body["unknown_item_ids"] == []
    assert all(0.0 < s < 1.0 for s in body["scores"])


def test_a_served_probability_equals_the_offline_eval_forward_pass(
    float32_client: TestClient, bundle: Bundle
) -> None:
    user_row, item_rows = 7, [0, 3, 11, 42, 199, 120]
    response = float32_client.post("/score", json={
        "user_id": str(bundle.users.ids[user_row]),
        "candidate_ids": [str(bundle.items.ids[r]) for r in item_rows],
    })
    np.testing.assert_allclose(response.json()["scores"],
                               _offline_probabilities(bundle, user_row, item_rows), atol=1e-5)


def test_top_k_returns_the_best_k_in_descending_order(client: TestClient, bundle: Bundle) -> None:
    request = {"user_id": str(bundle.users.ids[3]),
               "candidate_ids": [str(i) for i in bundle.items.ids[:40]]}
    full = client.post("/score", json=request).json()
    top = client.post("/score", json={**request, "top_k": 5}).json()
    ranked = sorted(zip(full["scores"], full["item_ids"], strict=True), reverse=True)[:5]
    assert top["item_ids"] == [item for _, item in ranked]
    np.testing.assert_allclose(top["scores"], [score for score, _ in ranked], rtol=1e-6)
    assert top["scores"] == sorted(top["scores"], reverse=True)


def test_top_k_larger_than_the_candidates_ranks_them_all(client: TestClient,
                                                         bundle: Bundle) -> None:
    items = [str(i) for i in bundle.items.ids[:3]]
    body = client.post("/score", json={"user_id": "u1", "candidate_ids": items,
                                       "top_k": 10}).json()
    assert sorted(body["item_ids"]) == sorted(items)
    assert body["scores"] == sorted(body["scores"], reverse=True)


def test_unknown_candidates_are_listed_not_scored(client: TestClient, bundle: Bundle) -> None:
    known = [str(i) for i in bundle.items.ids[:2]]
    body = client.post("/score", json={"user_id": "u1", "candidate_ids":
                                       ["nope", known[0], 12345, known[1]]}).json()
    assert body["item_ids"] == known
    assert len(body["scores"]) == 2
    assert body["unknown_item_ids"] == ["nope", "12345"]  # a JSON integer is its string


def test_only_unknown_candidates_give_an_empty_answer(client: TestClient) -> None:
    body = client.post("/score", json={"user_id": "u1", "candidate_ids": ["x", "y"]}).json()
    assert (body["item_ids"], body["scores"], body["unknown_item_ids"]) == ([], [], ["x", "y"])


def test_strict_mode_refuses_unknown_candidates(client: TestClient, bundle: Bundle) -> None:
    response = client.post("/score", json={"user_id": "u1", "strict": True,
                                           "candidate_ids": [str(bundle.items.ids[0]), "nope"]})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("candidate_ids: ")
    assert "nope" in response.json()["detail"]


def test_duplicate_candidates_are_scored_at_each_position(client: TestClient,
                                                           bundle: Bundle) -> None:
    a, b = (str(i) for i in bundle.items.ids[:2])
    body = client.post("/score", json={"user_id": "u1", "candidate_ids": [a, b, a]}).json()
    assert body["item_ids"] == [a, b, a]
    assert body["scores"][0] == body["scores"][2]


def test_an_unknown_user_is_scored_from_the_oov_row_and_given_features(
    float32_client: TestClient, bundle: Bundle
) -> None:
    items = [str(i) for i in bundle.items.ids[:6]]
    features = {"segment": "s2", "region": "r07", "age": 31}
    body = float32_client.post("/score", json={"user_id": "stranger", "candidate_ids": items,
                                       "user_features": features}).json()
    assert body["user_known"] is False
    # Offline: the training codec on a one-row raw frame, then the eval forward pass.
    encoded = bundle.user_codec.encode(pd.DataFrame(features, index=pd.Index(["stranger"])))
    rows = list(range(6))
    batch = Batch(encoded.take(np.zeros(6, dtype=np.int64)).inputs(),
                  bundle.items.take(np.asarray(rows)).inputs(), torch.tensor(rows), torch.zeros(6))
    with torch.inference_mode():
        expected = torch.sigmoid(bundle.model.eval()(batch).logit).numpy()
    np.testing.assert_allclose(body["scores"], expected, atol=1e-5)

    other = float32_client.post("/score", json={"user_id": "stranger", "candidate_ids": items,
                                        "user_features": {"segment": "s7", "age": 70}}).json()
    assert other["scores"] != body["scores"]  # the features reach the user tower
    bare = float32_client.post("/score", json={"user_id": 987654, "candidate_ids": items}).json()
    assert bare["user_known"] is False  # no features at all: OOV id, missing values


def test_a_known_users_fresh_features_override_the_stored_row(float32_client: TestClient,
                                                               bundle: Bundle) -> None:
    user_row, item_rows = 5, [0, 3, 11, 42]
    request = {"user_id": str(bundle.users.ids[user_row]),
               "candidate_ids": [str(bundle.items.ids[r]) for r in item_rows]}
    history = [str(i) for i in bundle.items.ids[[9, 2, 30]]] + ["never-seen"]
    fresh = float32_client.post("/score", json={**request, "user_features": {
        "history": history, "age": 99}}).json()
    stored = float32_client.post("/score", json=request).json()
    assert fresh["user_known"] is True and fresh["scores"] != stored["scores"]
    # Offline: the stored row with the history and the age encoded by the training codecs.
    codec, expected = bundle.user_codec, bundle.users.take(np.array([user_row]))
    assert codec.history is not None and codec.history.column == "history"
    tokens = bundle.item_codec.id.encode(pd.Series(history))  # the unseen id -> OOV
    expected.seq[-1][0] = np.pad(tokens, (0, codec.history.max_len - len(tokens)))
    age = [n.column for n in codec.numeric].index("age")
    expected.num[0, age] = codec.numeric[age].encode(pd.Series([99]))[0]
    for body, user in ((fresh, expected), (stored, user_row)):
        np.testing.assert_allclose(body["scores"], _offline_probabilities(bundle, user, item_rows),
                                   atol=1e-5)


def test_a_history_of_the_wrong_type_is_refused_by_name(client: TestClient,
                                                        bundle: Bundle) -> None:
    request = {"user_id": str(bundle.users.ids[0]), "candidate_ids": ["i1"]}
    for features, field in (({"history": "1 2 3"}, "history"), ({"age": "old"}, "age"),
                            ({"history": [1.5]}, "history"), ({"segment": {"a": 1}}, "segment")):
        response = client.post("/score", json={**request, "user_features": features})
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith(f"user_features.{field}: "), response.text


def test_user_features_the_model_does_not_read_are_refused(client: TestClient) -> None:
    response = client.post("/score", json={"user_id": "stranger", "candidate_ids": ["i1"],
                                           "user_features": {"segment": "s1", "shoe_size": 44}})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("user_features.shoe_size: ")


def test_a_form_encoded_curl_body_is_read_as_json(client: TestClient, bundle: Bundle) -> None:
    # `curl -d '{...}'` without -H sends application/x-www-form-urlencoded.
    item = str(bundle.items.ids[0])
    response = client.post("/score", content=f'{{"user_id": "u1", "candidate_ids": ["{item}"]}}',
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert response.json()["item_ids"] == [item]


def test_an_integer_catalogue_scores_json_integers_and_digit_strings_alike(
        trained_artifacts: Path) -> None:
    numbered = load_bundle(store.current_path(trained_artifacts))
    numbered.items = replace(numbered.items, ids=np.array(
        [str(k * 7) for k in range(len(numbered.items))], dtype=object))  # "0", "7", "14", ...
    scorer = Scorer(numbered, max_candidates=100, recommend_depth=16)
    user = str(numbered.users.ids[2])
    as_strings = scorer.score(user, ["14", "007", "7", "x", "140", "99999999999999999999"])
    as_integers = scorer.score(user, body_ids(b"[14, 7, 7, -7, 140, 3]"))  # as a body sends them
    assert as_strings.item_ids == ["14", "7", "140"]  # "007" is not 7
    assert as_strings.unknown_item_ids == ["007", "x", "99999999999999999999"]
    assert list(as_integers.item_ids) == ["14", "7", "7", "140"]  # the catalogue's strings
    assert as_integers.unknown_item_ids == ["-7", "3"]
    np.testing.assert_array_equal(as_integers.scores[[0, 1, 3]], as_strings.scores)
    # A fresh history of integer ids reaches the user tower as the same items.
    history = {"history": ["14", "0"]}
    np.testing.assert_array_equal(scorer.score(user, body_ids(b"[7]"),
                                               user_features=history).scores,
                                  scorer.score(user, ["7"], user_features=history).scores)


def test_json_integer_candidates_of_a_string_catalogue_answer_as_strings(
        client: TestClient) -> None:
    body = client.post("/score", json={"user_id": "u1", "candidate_ids": [5, 12345]}).json()
    assert body["item_ids"] == [] and body["unknown_item_ids"] == ["5", "12345"]
