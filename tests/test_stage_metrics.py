"""GET /metrics splits scoring time into stages, so a user can see where the time goes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from training.trainer import TrainResult


def _stage_counts(client: TestClient) -> dict[tuple[str, str], float]:
    return {(s.labels["route"], s.labels["stage"]): s.value
            for family in text_string_to_metric_families(client.get("/metrics").text)
            for s in family.samples if s.name == "inttower_stage_seconds_count"}


def test_each_scoring_request_times_its_user_tower_gather_score_and_encode_stages(
    client: TestClient, trained: TrainResult
) -> None:
    before = _stage_counts(client)
    items = [str(i) for i in trained.data.items.ids[:50]]
    assert client.post("/score", json={"user_id": "u1", "candidate_ids": items}).status_code == 200
    assert client.post("/recommend", json={"user_id": "u1", "k": 10}).status_code == 200
    after = _stage_counts(client)
    stages = {("score", s) for s in ("user_tower", "gather_score", "encode")}
    stages |= {("recommend", s) for s in ("user_tower", "search", "gather_score", "encode")}
    assert set(after) == stages
    assert all(after[key] == before.get(key, 0) + 1 for key in stages)


def _user_paths(client: TestClient) -> dict[tuple[str, str], float]:
    return {(s.labels["route"], s.labels["path"]): s.value
            for family in text_string_to_metric_families(client.get("/metrics").text)
            for s in family.samples if s.name == "inttower_user_path_total"}


def test_requests_are_counted_by_user_path(client: TestClient, trained: TrainResult) -> None:
    known, items = str(trained.data.users.ids[3]), [str(i) for i in trained.data.items.ids[:5]]
    before = _user_paths(client)
    for body in ({"user_id": known, "candidate_ids": items},
                 {"user_id": known, "candidate_ids": items, "user_features": {"history": items}},
                 {"user_id": "a stranger", "candidate_ids": items}):
        assert client.post("/score", json=body).status_code == 200
    assert client.post("/recommend", json={"user_id": known, "k": 3}).status_code == 200
    after = _user_paths(client)
    counted = {key: n - before.get(key, 0) for key, n in after.items() if n > before.get(key, 0)}
    assert counted == {("score", "cached"): 1, ("score", "online"): 2, ("recommend", "cached"): 1}
