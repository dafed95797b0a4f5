"""Health, readiness, the model summary, Prometheus metrics and the OpenAPI page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import Metrics, candidate_bucket
from training.trainer import TrainResult


def test_healthz_and_readyz_answer_once_the_bundle_is_warm(client: TestClient,
                                                           trained: TrainResult) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "model_version": trained.version}
    assert client.get("/readyz").json() == {"status": "ready", "model_version": trained.version}


def test_model_summarises_the_live_manifest(client: TestClient, trained: TrainResult) -> None:
    body = client.get("/model").json()
    assert body["version"] == trained.version
    assert body["parent"] is None
    assert body["dataset"] == "synth"
    assert body["num_items"] == len(trained.data.items)
    assert body["num_users"] == len(trained.data.users)
    assert body["config"]["item_heads"] == 2
    assert body["item_index"]["kind"] == "flat"
    assert body["age_seconds"] >= 0
    assert set(body["metrics"]) == {"cutoff", "online"}
    assert set(body["metrics"]["cutoff"]) == {"valid", "test"}


def test_metrics_expose_latency_unknown_ids_version_age_and_reload_failures(
    client: TestClient, trained: TrainResult
) -> None:
    client.post("/score", json={"user_id": "stranger", "candidate_ids": ["i1", "nope", "nah"]})
    client.post("/recommend", json={"user_id": "u1", "k": 500})
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(client.get("/metrics").text)
               for s in family.samples}

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    live = {"version": trained.version, "role": "live"}
    assert value("inttower_request_seconds_count", route="score", candidates="<=10",
                 **live) >= 1
    assert value("inttower_request_seconds_count", route="recommend", candidates="<=1000",
                 **live) >= 1
    assert value("inttower_unknown_users_total", route="score", **live) >= 1
    assert value("inttower_unknown_items_total", **live) >= 2
    assert value("inttower_model_info", version=trained.version) == 1
    assert value("inttower_bundle_age_seconds") > 0
    assert value("inttower_reloads_total") == 1
    assert value("inttower_reload_failures_total") == 0
    assert value("process_resident_memory_bytes") > 0


def test_candidate_count_buckets() -> None:
    assert [candidate_bucket(n) for n in (1, 10, 11, 1000, 10_000, 10_001)] == [
        "<=10", "<=10", "<=100", "<=1000", "<=10000", ">10000"]


def test_the_openapi_page_documents_the_request_bodies_with_examples(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"] == {"user_id": "42", "candidate_ids": ["1", "50", "181"]}
    assert "candidate_ids" in body["schema"]["properties"]
    assert "/recommend" in spec["paths"]
    assert "/admin/reload" not in spec["paths"]  # no token configured


def test_model_info_names_only_the_version_now_served() -> None:
    metrics = Metrics()
    metrics.bundle_loaded("v1", created_at=1.0)
    metrics.bundle_loaded("v2", created_at=2.0)
    info = [s for family in text_string_to_metric_families(metrics.render().decode())
            for s in family.samples if s.name == "inttower_model_info"]
    assert [(s.labels["version"], s.value) for s in info] == [("v2", 1.0)]
