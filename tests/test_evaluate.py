"""`inttower evaluate`: a bundle's metrics on its training split, from the bundle alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from inttower.cli import app
from model import store
from model.bundle import load_bundle, load_current
from model.item_vectors import ItemDtype
from training.evaluate import evaluate_bundle
from training.export import refresh_items
from training.split import EvalMode, HeldOut, SplitKind
from training.synth import generate
from training.trainer import TrainConfig, TrainResult, train


@pytest.fixture(scope="module", params=list(SplitKind))
def float32_bundle(request: pytest.FixtureRequest, toy_config: Callable[..., TrainConfig],
                   synth_schema: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> tuple[TrainResult, Path]:
    """A toy model trained on each split kind, and its artifacts folder."""
    artifacts = tmp_path_factory.mktemp(f"f32-{request.param}")
    config = toy_config(synth_schema, artifacts)
    # float32 item vectors: training's metrics are then reproducible to float precision.
    return train(replace(config, data=replace(config.data, split=request.param),
                         item_dtype=ItemDtype.float32)), artifacts


@pytest.mark.parametrize("held_out", list(HeldOut))
def test_the_bundle_scores_as_training_did_in_both_modes(
        float32_bundle: tuple[TrainResult, Path], synth_schema: Path, held_out: HeldOut) -> None:
    # Training scored held-out rows as served: cutoff from the stored tables, online with the
    # user's state recounted from every earlier logged event. The bundle alone gives the same.
    trained, artifacts = float32_bundle
    result = evaluate_bundle(load_current(artifacts), held_out, synth_schema)
    assert result.pairs == len(trained.data.split(held_out.value)) and result.skipped == 0
    for mode in EvalMode:
        expected = trained.metrics[mode][held_out]
        for metric in ("auc", "logloss", "gauc"):
            assert result.metrics[mode][metric] == pytest.approx(expected[metric], abs=1e-5)
        assert result.recorded[mode] == pytest.approx(expected)
    assert result.summary()["online_auc_lift"] == pytest.approx(
        result.metrics["online"]["auc"] - result.metrics["cutoff"]["auc"])


def test_a_refreshed_child_is_measured_with_its_own_item_vectors(
        artifacts_copy: Path, synth_schema: Path) -> None:
    parent = load_current(artifacts_copy)
    items = pd.read_parquet(synth_schema.parent / "items.parquet").set_index("item_id")
    items.index = items.index.astype(str)
    refresh_items(artifacts_copy, items.assign(category="c-unseen").astype(str), progress=False)
    child = load_current(artifacts_copy)
    before = evaluate_bundle(parent, HeldOut.test, synth_schema)
    after = evaluate_bundle(child, HeldOut.test, synth_schema)
    assert after.version == child.version and after.recorded == before.recorded
    assert set(after.metrics) == {"cutoff", "online"}
    # Every item lost its category: the child's stored vectors changed, and so did its scores.
    assert not np.allclose(child.item_vectors.dequantised(), parent.item_vectors.dequantised())
    for mode in EvalMode:
        assert after.metrics[mode]["logloss"] != pytest.approx(before.metrics[mode]["logloss"],
                                                               abs=1e-6)


def test_own_data_needs_its_schema_and_another_dataset_is_refused(
        trained_artifacts: Path, tmp_path: Path) -> None:
    bundle = load_current(trained_artifacts)
    with pytest.raises(ValueError, match="pass --schema"):
        evaluate_bundle(bundle)
    other = generate(tmp_path / "other", users=20, items=10, interactions=200, seed=0)
    other.write_text(other.read_text().replace("name: synth", "name: another-dataset"))
    with pytest.raises(ValueError, match="was trained on"):
        evaluate_bundle(bundle, HeldOut.test, other)


def test_cli_evaluates_a_named_version_and_writes_json(trained: TrainResult,
                                                       trained_artifacts: Path,
                                                       synth_schema: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    version = store.current_version(trained_artifacts)
    result = CliRunner().invoke(app, ["evaluate", "--artifacts", str(trained_artifacts),
                                      "--version", str(version), "--split", "valid",
                                      "--schema", str(synth_schema), "--output", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["version"] == version and written["split"] == "valid of random, seed 1"
    assert written["metrics"] == evaluate_bundle(load_current(trained_artifacts), HeldOut.valid,
                                                 synth_schema).metrics
    missing = CliRunner().invoke(app, ["evaluate", "--artifacts", str(trained_artifacts),
                                       "--version", "no-such-version"])
    assert missing.exit_code == 2 and "no-such-version" in missing.output
    assert load_bundle(store.current_path(trained_artifacts)).version == version


@pytest.mark.parametrize("breakage", ["missing", "dangling", "not utf-8"])
def test_offline_commands_on_a_broken_current_say_so_and_take_a_version(
        trained: TrainResult, artifacts_copy: Path, synth_schema: Path, breakage: str) -> None:
    version = store.current_version(artifacts_copy)
    current = artifacts_copy / store.CURRENT
    if breakage == "missing":
        current.unlink()
    else:
        current.write_bytes(b"20000101T000000Z-0000000000\n" if breakage == "dangling"
                            else b"\xff\xfe")
    for command in (["evaluate"], ["refresh-items", "--no-progress"]):
        refused = CliRunner().invoke(app, [*command, "--artifacts", str(artifacts_copy)])
        assert refused.exit_code == 2
        assert "CURRENT" in refused.output and f"published: {version}" in refused.output
    evaluated = CliRunner().invoke(app, ["evaluate", "--artifacts", str(artifacts_copy),
                                         "--version", version, "--schema", str(synth_schema)])
    assert evaluated.exit_code == 0, evaluated.output
    refreshed = CliRunner().invoke(app, ["refresh-items", "--artifacts", str(artifacts_copy),
                                         "--version", version, "--no-progress"])
    assert refreshed.exit_code == 0, refreshed.output
    child = refreshed.output.split()[-1]
    assert store.current_version(artifacts_copy) == child  # the refresh repaired CURRENT
    assert store.read_manifest(store.bundle_path(artifacts_copy, child))["parent"] == version
