"""The bundle: atomic publishing, hash verification, round trip, and bundle-only parity."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from model import store
from model.bundle import ITEM_VECTORS, WEIGHTS, load_bundle, load_current
from model.inputs import Batch
from training.trainer import TrainConfig, TrainResult, train


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_a_writer_killed_half_way_leaves_current_on_a_complete_bundle(
    trained: TrainResult, trained_artifacts: Path, tmp_path: Path
) -> None:
    artifacts = _copy(trained_artifacts, tmp_path / "art")
    before = store.current_version(artifacts)

    def dies_half_way(folder: Path) -> None:
        (folder / WEIGHTS).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt  # the process is killed mid-write

    with pytest.raises(KeyboardInterrupt):
        store.publish(artifacts, dies_half_way, {})
    assert store.current_version(artifacts) == before
    assert load_current(artifacts).version == before
    assert [p.name for p in (artifacts / store.BUNDLES).iterdir()] == [before]  # no debris


def test_a_crash_after_the_rename_but_before_current_moves_is_harmless(
    trained_artifacts: Path, tmp_path: Path
) -> None:
    artifacts = _copy(trained_artifacts, tmp_path / "art")
    before = store.current_version(artifacts)
    # Simulate a bundle directory that never got its manifest (e.g. copied in by hand, half-done).
    stray = artifacts / store.BUNDLES / "20990101T000000Z-deadbeef00"
    shutil.copytree(store.bundle_path(artifacts, before), stray)
    (stray / store.MANIFEST).unlink()
    with pytest.raises(store.BundleError, match="no manifest"):
        store.set_current(artifacts, stray.name)
    assert store.current_version(artifacts) == before


@pytest.mark.parametrize("victim", [WEIGHTS, ITEM_VECTORS])
def test_the_loader_refuses_files_that_do_not_match_the_manifest(
    trained_artifacts: Path, tmp_path: Path, victim: str
) -> None:
    artifacts = _copy(trained_artifacts, tmp_path / "art")
    path = store.current_path(artifacts)
    data = bytearray((path / victim).read_bytes())
    data[-1] ^= 0xFF
    (path / victim).write_bytes(bytes(data))
    with pytest.raises(store.BundleError, match=victim):
        load_bundle(path)


def test_the_bundle_round_trips_the_model_and_tables(trained: TrainResult,
                                                     trained_artifacts: Path) -> None:
    bundle = load_current(trained_artifacts)
    assert bundle.version == trained.version
    assert bundle.config == trained.model.config
    for key, value in trained.model.state_dict().items():
        torch.testing.assert_close(bundle.model.state_dict()[key], value, rtol=0, atol=0)
    np.testing.assert_array_equal(bundle.users.cat, trained.data.users.cat)
    np.testing.assert_array_equal(bundle.users.num, trained.data.users.num)
    np.testing.assert_array_equal(bundle.items.seq[0], trained.data.items.seq[0])
    assert bundle.manifest["metrics"]["cutoff"]["test"]["auc"] == pytest.approx(trained.test["auc"])
    assert bundle.manifest["parent"] is None


@pytest.mark.parametrize("stored", ["float32", "int8"])
def test_bundle_only_logit_equals_the_eval_forward_pass(
        trained: TrainResult, trained_artifacts: Path, float32_artifacts: Path,
        stored: str) -> None:
    """Parity: user tower on stored user rows + one-vs-N MaxSim on stored item vectors + bias.
    float32 vectors: to float precision. int8 (the default): rounding moves each head's dot
    product with a user row u by at most (s/2)·Σ_j |u_j|, so the logit by at most the sum over
    user rows of the item's largest such move."""
    bundle = load_current(float32_artifacts if stored == "float32" else trained_artifacts)
    assert bundle.item_vectors.dtype == stored
    model = trained.model.eval()
    test = trained.data.split("test")
    users, items = trained.data.users, trained.data.items
    for row in range(0, len(test), max(1, len(test) // 25)):
        u, i = int(test.user_row[row]), int(test.item_row[row])
        user_id, item_id = users.ids[u], items.ids[i]
        # serving side: nothing but the bundle, looked up by raw id
        b_user = list(bundle.users.ids).index(user_id)
        b_item = list(bundle.items.ids).index(item_id)
        with torch.no_grad():
            heads = bundle.model.encode_user(bundle.users.take(np.array([b_user])).inputs()).heads
            vectors = torch.from_numpy(bundle.item_vectors.dequantised()[[b_item]])
            offsets = bundle.item_offsets()  # the per-candidate score term, as served
            assert offsets is not None
            served = bundle.model.score_candidates(heads[0], vectors,
                                                   torch.from_numpy(offsets[[b_item]]))[0]
            # offline side: the model's forward in eval mode on the same user and item rows
            batch = Batch(users.take(np.array([u])).inputs(), items.take(np.array([i])).inputs(),
                          torch.tensor([i]), torch.zeros(1))
            offline = model(batch).logit[0]
        bound = 1e-5
        if bundle.item_vectors.scales is not None:
            half_step = float(bundle.item_vectors.scales[b_item].max()) / 2
            bound += half_step * float(heads[0].abs().sum(-1).sum())
        assert abs(float(served) - float(offline)) <= bound


def test_a_shared_history_table_round_trips_through_the_bundle(
        toy_config: Callable[..., TrainConfig], synth_schema: Path, tmp_path: Path) -> None:
    config = toy_config(synth_schema, tmp_path / "artifacts", epochs=1)
    trained = train(replace(config, model={**config.model, "share_history": True}))
    model = trained.model
    history = model.config.user.history
    assert history is not None
    assert model.user_tower.embedding.seq[history] is model.item_tower.embedding.cat[0]
    bundle = load_current(tmp_path / "artifacts")
    loaded = bundle.model
    assert loaded.user_tower.embedding.seq[history] is loaded.item_tower.embedding.cat[0]
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
