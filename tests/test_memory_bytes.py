"""What a bundle holds in memory for serving (Scorer.memory_bytes, GET /model's `memory_bytes`):
the item vectors as stored, the precomputed user heads, and the large parts all counted."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from model.bundle import load_current
from service.scorer import Scorer
from service.settings import Settings
from training.trainer import TrainResult


def test_the_item_vectors_count_as_stored_int8_codes_and_scales_or_float32(
        trained: TrainResult, trained_artifacts: Path, float32_artifacts: Path) -> None:
    int8 = Scorer(load_current(trained_artifacts), 100, 16)
    float32 = Scorer(load_current(float32_artifacts), 100, 16)  # the same model, refreshed
    n, heads, dim = int8.bundle.item_vectors.shape
    codes, scales = n * heads * dim, n * heads * 4  # an int8 code a value, a float32 scale a head
    assert float32.memory_bytes() - int8.memory_bytes() == 4 * n * heads * dim - codes - scales


def test_precomputed_user_heads_are_counted_float32_per_user_row(
        trained: TrainResult, trained_artifacts: Path) -> None:
    bundle = load_current(trained_artifacts)
    cached, online = Scorer(bundle, 100, 16, user_heads_cache_mb=1), Scorer(bundle, 100, 16)
    c = bundle.config
    heads = len(bundle.users) * c.user_layers * c.user_heads * c.head_dim * 4
    assert cached.memory_bytes() - online.memory_bytes() == heads


def test_the_model_summary_reports_the_live_scorers_bytes(client: TestClient,
                                                          trained_artifacts: Path) -> None:
    bundle = load_current(trained_artifacts)
    served = Scorer.from_settings(bundle, Settings(artifacts=trained_artifacts))
    parameters = sum(p.nbytes for p in bundle.model.parameters())
    index = bundle.item_index.index.ntotal * bundle.item_index.index.d * 4
    largest = bundle.item_vectors.values.nbytes + parameters + index + bundle.users.cat.nbytes
    reported = client.get("/model").json()["memory_bytes"]
    assert reported == served.memory_bytes() > largest
