"""Bad requests get a 413 or 422 whose message names the field at fault — never a 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.app import create_app
from service.fast_body import parse
from service.schemas import MAX_EXCLUDED, RecommendRequest, ScoreRequest
from service.scorer import Scorer
from service.settings import Settings
from training.trainer import TrainResult

SCORE = {"user_id": "u1", "candidate_ids": ["i1", "i2"]}


def _refused(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["detail"].startswith(f"{field}: "), body
    assert body["errors"][0]["field"] == field


@pytest.mark.parametrize(("change", "field"), [
    ({"candidate_ids": []}, "candidate_ids"),
    ({"candidate_ids": "i1"}, "candidate_ids"),
    ({"candidate_ids": None}, "candidate_ids"),
    ({"user_id": ""}, "user_id"),
    ({"user_id": 1.5}, "user_id"),
    ({"user_id": True}, "user_id"),
    ({"user_id": 10**255}, "user_id"),  # beyond the document's exclusive integer bound
    ({"user_id": ["u1"]}, "user_id"),
    ({"top_k": 0}, "top_k"),
    ({"top_k": "3"}, "top_k"),
    ({"top_k": 2.5}, "top_k"),
    ({"strict": "yes"}, "strict"),
    ({"user_features": ["age", 3]}, "user_features"),
    ({"candidates": ["i1"]}, "candidates"),  # a typo is not silently ignored
])
def test_wrong_types_and_values_name_the_field(client: TestClient, change: dict[str, Any],
                                               field: str) -> None:
    _refused(client.post("/score", json={**SCORE, **change}), 422, field)


@pytest.mark.parametrize(("bad_id", "kind"), [
    (1.5, "a number with a fraction"), (True, "a boolean"), (None, "null"),
    ({"id": 1}, "an object"), (["i1"], "an array"),
])
def test_ids_that_are_not_strings_or_integers_are_refused(client: TestClient, bad_id: Any,
                                                          kind: str) -> None:
    response = client.post("/score", json={**SCORE, "candidate_ids": ["i1", bad_id]})
    _refused(response, 422, "candidate_ids")
    assert response.json()["errors"][0]["message"] == (
        f"item 1 is {kind}; ids are strings or integers")


def test_integer_ids_become_their_decimal_strings() -> None:
    ids = [7, 0, -3, 2**63 - 1, -(2**63)]
    request = ScoreRequest.model_validate_json(json.dumps({"user_id": 1, "candidate_ids": ids}))
    assert request.candidate_ids == [str(i) for i in ids] and request.user_id == "1"
    excluded = RecommendRequest.model_validate_json(b'{"user_id": "u1", "exclude_ids": [5]}')
    assert excluded.exclude_ids == ["5"]
    history = ScoreRequest.model_validate_json(
        b'{"user_id": "u1", "candidate_ids": [1], "user_features": {"history": [4, 5]}}')
    assert history.user_features == {"history": ["4", "5"]}


@pytest.mark.parametrize(("ids", "expected"), [
    ([7, "x"], ["7", "x"]), (["x", 7], ["x", "7"]), (["7", "8"], ["7", "8"]),
    ([1, 2**63], ["1", str(2**63)]), ([-(2**63) - 1, 1], [str(-(2**63) - 1), "1"]),
])
def test_mixed_or_beyond_int64_id_lists_stay_decimal_strings(ids: list[Any],
                                                             expected: list[str]) -> None:
    body = json.dumps({"user_id": "u1", "candidate_ids": ids})
    assert ScoreRequest.model_validate_json(body).candidate_ids == expected


def test_a_boolean_among_integer_ids_is_refused_by_position() -> None:
    with pytest.raises(ValidationError) as refused:
        ScoreRequest.model_validate_json(b'{"user_id": "u1", "candidate_ids": [1, 2, true]}')
    assert refused.value.errors()[0]["msg"] == "item 2 is a boolean; ids are strings or integers"


def test_integer_id_lists_keep_the_count_limits(client: TestClient) -> None:
    _refused(client.post("/score", json={"user_id": "u1", "candidate_ids": []}), 422,
             "candidate_ids")
    too_many = {"user_id": "u1", "k": 5, "exclude_ids": list(range(MAX_EXCLUDED + 1))}
    _refused(client.post("/recommend", json=too_many), 422, "exclude_ids")
    most = RecommendRequest.model_validate_json(
        json.dumps({"user_id": "u1", "exclude_ids": list(range(MAX_EXCLUDED))}))
    assert len(most.exclude_ids) == MAX_EXCLUDED


@pytest.mark.parametrize("fast", [True, False])
def test_a_request_dumps_its_ids_as_strings_whichever_decoder_read_it(fast: bool) -> None:
    body = {"user_id": "u1", "candidate_ids": [3, "a"], "top_k": None, "user_features": None,
            "strict": False, "budget_ms": None}
    raw = json.dumps(body).encode()
    request = parse(ScoreRequest, raw) if fast else ScoreRequest.model_validate_json(raw)
    dumped = {**body, "candidate_ids": ["3", "a"]}
    assert request.model_dump() == dumped  # and no serialisation warning: warnings are errors here
    assert json.loads(request.model_dump_json()) == dumped


def test_a_missing_user_id_is_named(client: TestClient) -> None:
    _refused(client.post("/score", json={"candidate_ids": ["i1"]}), 422, "user_id")


@pytest.mark.parametrize("body", [b"", b"{", b"[1, 2]", b"null"])
def test_a_body_that_is_not_a_json_object_is_refused(client: TestClient, body: bytes) -> None:
    _refused(client.post("/score", content=body), 422, "body")


def test_more_candidates_than_the_limit_answer_413(client: TestClient) -> None:
    ids = [f"i{i % 200}" for i in range(10_001)]  # the default limit is 10,000
    response = client.post("/score", json={"user_id": "u1", "candidate_ids": ids})
    _refused(response, 413, "candidate_ids")
    assert "limit is 10000" in response.json()["detail"]


@pytest.fixture(scope="module")
def small_limits(trained: TrainResult, trained_artifacts: Path) -> Iterator[TestClient]:
    settings = Settings(artifacts=trained_artifacts, max_candidates=3, max_body_bytes=2048)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_the_candidate_limit_comes_from_the_settings(small_limits: TestClient) -> None:
    ok = small_limits.post("/score", json={"user_id": "u1", "candidate_ids": ["i1"] * 3})
    assert ok.status_code == 200
    too_many = small_limits.post("/score", json={"user_id": "u1", "candidate_ids": ["i1"] * 4})
    _refused(too_many, 413, "candidate_ids")


def test_an_oversized_body_answers_413(small_limits: TestClient) -> None:
    big = {"user_id": "u1", "candidate_ids": ["i1"], "user_features": {"segment": "x" * 1000,
                                                                       "region": "y" * 1000}}
    _refused(small_limits.post("/score", json=big), 413, "body")


def test_an_oversized_chunked_body_answers_413(small_limits: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        yield b'{"user_id": "u1", "candidate_ids": ['
        for _ in range(500):
            yield b'"i1", '
        yield b'"i1"]}'

    _refused(small_limits.post("/score", content=chunks()), 413, "body")


@pytest.mark.parametrize(("change", "field"), [
    ({"k": 0}, "k"), ({"k": 1001}, "k"), ({"k": "5"}, "k"),
    ({"exclude_ids": [1.5]}, "exclude_ids"), ({"user_id": None}, "user_id"),
])
def test_recommend_requests_are_validated_alike(client: TestClient, change: dict[str, Any],
                                                field: str) -> None:
    _refused(client.post("/recommend", json={"user_id": "u1", "k": 5, **change}), 422, field)


def test_an_unexpected_failure_is_a_500_that_does_not_echo_the_exception(
    trained: TrainResult, trained_artifacts: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def breaks(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret detail: /etc/shadow")

    app = create_app(Settings(artifacts=trained_artifacts))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        monkeypatch.setattr(Scorer, "score", breaks)  # after start-up: warming uses it too
        response = test_client.post("/score", json=SCORE, headers={"x-request-id": "req-42"})
    assert response.status_code == 500
    assert "secret" not in response.text
    assert response.json() == {"detail": "internal error; request id req-42"}
    assert response.headers["x-request-id"] == "req-42"
    assert "req-42" in caplog.text and "secret detail" in caplog.text  # logged, not sent


def test_a_client_gone_mid_body_is_counted_apart_not_as_a_server_error(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    metrics = client.app.state.metrics
    errors_before = sum(s.value for m in metrics.errors.collect() for s in m.samples
                        if s.name == "inttower_errors_total")
    chunks = iter([{"type": "http.request", "body": b'{"user_id": "u1", "cand', "more_body": True},
                   {"type": "http.disconnect"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(chunks)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/score", "raw_path": b"/score",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
             "server": ("testserver", 80), "headers": [(b"content-length", b"200")]}
    anyio.run(client.app, scope, receive, send)
    assert sent[0]["status"] == 499
    assert metrics.client_disconnects._value.get() == 1
    assert sum(s.value for m in metrics.errors.collect() for s in m.samples
               if s.name == "inttower_errors_total") == errors_before  # no 5xx, no error count
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert len([r for r in caplog.records if "disconnected" in r.getMessage()]) == 1


def _request_schema(client: TestClient, path: str) -> dict[str, Any]:
    spec = client.get("/openapi.json").json()
    return spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def test_the_openapi_schema_declares_ids_as_strings_or_integers(client: TestClient) -> None:
    fields = _request_schema(client, "/score")["properties"]
    assert {branch["type"] for branch in fields["user_id"]["anyOf"]} == {"string", "integer"}
    assert {branch["type"] for branch in fields["candidate_ids"]["items"]["anyOf"]} == {
        "string", "integer"}
    recommend = _request_schema(client, "/recommend")["properties"]
    assert {branch["type"] for branch in recommend["exclude_ids"]["items"]["anyOf"]} == {
        "string", "integer"}


def test_the_openapi_document_holds_the_deployments_limits_and_the_bundles_features(
        client: TestClient, trained: TrainResult) -> None:
    score = _request_schema(client, "/score")
    assert score["properties"]["candidate_ids"]["maxItems"] == Settings().max_candidates
    assert score["properties"]["candidate_ids"]["minItems"] == 1
    features = next(branch for branch in score["properties"]["user_features"]["anyOf"]
                    if branch.get("type") == "object")
    assert set(features["properties"]) == set(trained.data.user_codec.columns) - {"user_id"}
    assert features["additionalProperties"] is False
    body = client.get("/openapi.json").json()["paths"]["/score"]["post"]["requestBody"]
    assert body["x-max-body-bytes"] == Settings().max_body_bytes


def test_ids_written_with_a_zero_fraction_are_integer_ids(client: TestClient) -> None:
    """584.0 is an integer to JSON Schema, so to the OpenAPI document: the id "584"."""
    response = client.post("/score", json={"user_id": 7.0, "candidate_ids": ["i1", 12.0]})
    assert response.status_code == 200, response.text
    assert response.json()["unknown_item_ids"] == ["12"]


def test_counts_written_with_a_zero_fraction_are_integers(client: TestClient,
                                                           trained: TrainResult) -> None:
    user, items = str(trained.data.users.ids[0]), [str(i) for i in trained.data.items.ids[:3]]
    scored = client.post("/score", json={"user_id": user, "candidate_ids": items, "top_k": 2.0})
    assert scored.status_code == 200 and len(scored.json()["item_ids"]) == 2
    assert client.post("/recommend", json={"user_id": user, "k": 84.0}).status_code == 200
    _refused(client.post("/recommend", json={"user_id": user, "k": 84.5}), 422, "k")
    _refused(client.post("/recommend", json={"user_id": user, "k": True}), 422, "k")
