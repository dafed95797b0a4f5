"""Shared fixtures: a small generated dataset and a toy IntTower trained on it (seconds)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model.item_vectors import ItemDtype
from service.app import create_app
from service.settings import Settings
from training.data import DataConfig
from training.export import refresh_items
from training.loop import FitConfig
from training.synth import generate
from training.trainer import TrainConfig, TrainResult, train

# A tiny architecture: every code path of the default one (3 layers, multi-head) at toy size.
TOY_MODEL = {"hidden": (32, 16, 16), "embed_dim": 8, "head_dim": 8, "user_heads": 2,
             "item_heads": 2}


@pytest.fixture(scope="session")
def synth_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("synth"), users=300, items=200,
                    interactions=12_000, seed=3)


def _toy_config(schema: Path, artifacts: Path | None, **fit: int) -> TrainConfig:
    return TrainConfig(
        data=DataConfig(schema=schema, seed=1),
        model=dict(TOY_MODEL),
        fit=FitConfig(**{"epochs": 4, "batch_size": 512, "progress": False, **fit}),
        artifacts=artifacts,
    )


@pytest.fixture(scope="session")
def trained_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Artifacts folder of the `trained` bundle: copy it before publishing into it."""
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def trained(synth_schema: Path, trained_artifacts: Path) -> TrainResult:
    """A toy model trained on the synth data and published into `trained_artifacts`."""
    return train(_toy_config(synth_schema, trained_artifacts))


@pytest.fixture(scope="session")
def toy_config() -> Callable[..., TrainConfig]:
    """toy_config(schema, artifacts, **fit_overrides) -> a seconds-long TrainConfig."""
    return _toy_config


@pytest.fixture(scope="session")
def float32_artifacts(trained: TrainResult, trained_artifacts: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `trained` model with float32 item vectors (a refresh-items child): where served scores
    must equal the offline forward pass to float precision. (The default, int8, holds them within
    its rounding bound: tests/test_bundle.py.)"""
    artifacts = shutil.copytree(trained_artifacts, tmp_path_factory.mktemp("f32") / "artifacts")
    refresh_items(artifacts, progress=False, item_dtype=ItemDtype.float32)
    return artifacts


@pytest.fixture
def artifacts_copy(trained: TrainResult, trained_artifacts: Path, tmp_path: Path) -> Path:
    """A private copy of `trained_artifacts`, free to publish into or corrupt."""
    return shutil.copytree(trained_artifacts, tmp_path / "artifacts")


@pytest.fixture(scope="module")
def client(trained: TrainResult, trained_artifacts: Path) -> Iterator[TestClient]:
    """The API with its lifespan running, serving the `trained` bundle (read-only: it never
    publishes). Shared by a module's tests, so metrics accumulate across them."""
    with TestClient(create_app(Settings(artifacts=trained_artifacts))) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def admin_token() -> str:
    return "s3cret-of-16-chars"


@pytest.fixture(scope="module")
def admin_client(trained: TrainResult, trained_artifacts: Path,
                 admin_token: str) -> Iterator[TestClient]:
    """`client` with POST /admin/reload turned on (header X-Admin-Token: `admin_token`)."""
    settings = Settings(artifacts=trained_artifacts, admin_token=admin_token)
    with TestClient(create_app(settings)) as test_client:
        yield test_client
