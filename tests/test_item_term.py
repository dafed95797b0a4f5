"""The item statistic as a per-candidate score term (`--item-stat score`): out of the item tower,
into `logit = FE-Block(U, V) + g(statistic) + b`, served by both backends and `evaluate` exactly as
the trained model computes it, and kept for known items by `refresh-items`."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from model.bundle import Bundle, load_current
from model.item_vectors import ItemDtype
from service.backends import HostBackend, TorchBackend
from service.scorer import Scorer
from service.slices import SlicePool
from training.data import ItemStat
from training.evaluate import evaluate_bundle
from training.export import refresh_items
from training.split import EvalMode, HeldOut
from training.trainer import TrainConfig, TrainResult, train


@pytest.fixture(scope="module")
def scored(toy_config: Callable[..., TrainConfig], synth_schema: Path,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Path]:
    """A toy IntTower with the item statistic in the score term (float32 item vectors)."""
    artifacts = tmp_path_factory.mktemp("score-term")
    config = toy_config(synth_schema, artifacts)
    return train(replace(config, data=replace(config.data, item_stat=ItemStat.score),
                         item_dtype=ItemDtype.float32)), artifacts


def test_the_statistic_bypasses_the_item_tower(scored: tuple[TrainResult, Path]) -> None:
    trained, _ = scored
    codec, spec = trained.data.item_codec, trained.model.config.item
    assert codec.label_stat is not None and codec.label_stat_in == "score"
    assert spec.score_dim == 2 and spec.num_dim == len(codec.numeric)
    assert trained.data.items.score is not None and trained.data.items.score.shape[1] == 2
    assert trained.data.train.item_score is not None
    # the term learned something: offsets differ between items
    assert trained.model.item_term is not None
    offsets = trained.model.item_offsets(trained.data.items.inputs()).detach().numpy()
    assert offsets.std() > 1e-4


def _bundle_logits(trained: TrainResult, bundle: Bundle, user: int, items: np.ndarray
                   ) -> np.ndarray:
    """The trained model's forward pass on stored rows: the reference every path must give."""
    model, data = trained.model.eval(), trained.data
    users = data.users.take(np.full(len(items), user))
    with torch.no_grad():
        heads = model.encode_user(users.inputs()).heads
        vectors = model.encode_item(data.items.take(items).inputs()).heads
        offsets = model.item_offsets(data.items.take(items).inputs())
        return model.pair_logits(heads, vectors, offsets).numpy()


def test_both_backends_add_the_term_as_the_model_does(scored: tuple[TrainResult, Path]) -> None:
    trained, artifacts = scored
    bundle = load_current(artifacts)
    rows = np.random.default_rng(1).integers(0, len(bundle.items), 300)
    for user in (0, len(bundle.users) - 1):
        expected = _bundle_logits(trained, bundle, user, rows)
        for backend in (HostBackend(bundle, SlicePool(1, 1)), TorchBackend(bundle)):
            heads = backend.user_heads(bundle.users.take(np.array([user])))[0]
            np.testing.assert_allclose(backend.logits(heads, rows), expected, atol=1e-5)
    scores = Scorer(bundle, 1000, 16).score(str(bundle.users.ids[0]),
                                            [str(i) for i in bundle.items.ids[rows[:50]]])
    np.testing.assert_allclose(scores.scores, 1 / (1 + np.exp(-_bundle_logits(
        trained, bundle, 0, rows[:50]))), atol=1e-5)


def test_evaluate_gives_training_figures(scored: tuple[TrainResult, Path],
                                         synth_schema: Path) -> None:
    trained, artifacts = scored
    result = evaluate_bundle(load_current(artifacts), HeldOut.test, synth_schema)
    for mode in EvalMode:
        assert result.metrics[mode]["auc"] == pytest.approx(
            trained.metrics[mode]["test"]["auc"], abs=1e-5)


def test_refresh_items_keeps_the_known_items_statistic(scored: tuple[TrainResult, Path],
                                                       synth_schema: Path,
                                                       tmp_path: Path) -> None:
    _, artifacts = scored
    copy = shutil.copytree(artifacts, tmp_path / "artifacts")
    parent = load_current(copy)
    items = pd.read_parquet(synth_schema.parent / "items.parquet").set_index("item_id")
    items.index = items.index.astype(str)
    refresh_items(copy, items.astype(str), progress=False)
    child = load_current(copy)
    assert child.version != parent.version and parent.items.score is not None
    order = pd.Index(child.items.ids).get_indexer(parent.items.ids)
    assert child.items.score is not None
    np.testing.assert_array_equal(child.items.score[order], parent.items.score)
    parent_offsets, child_offsets = parent.item_offsets(), child.item_offsets()
    assert parent_offsets is not None and child_offsets is not None
    np.testing.assert_allclose(child_offsets[order], parent_offsets, atol=1e-6)

