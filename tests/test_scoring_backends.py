"""The CPU fast path (fused kernel) scores candidates exactly as the torch module does — the code
path every accelerator runs — and is chosen only where it applies; precomputed heads of known
users give the same scores as the per-request user tower."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from model import store
from model.bundle import Bundle, load_bundle
from model.cpu_tower import CpuUserTower
from service.backends import FusedCpu, TorchOnDevice, candidate_scorer
from service.scorer import Scorer
from training.trainer import TrainResult


@pytest.fixture(scope="module")
def bundle(trained: TrainResult, trained_artifacts: Path) -> Bundle:
    return load_bundle(store.current_path(trained_artifacts))


def test_fused_cpu_and_torch_give_the_same_logits(bundle: Bundle) -> None:
    fused, reference = FusedCpu(bundle), TorchOnDevice(bundle)
    tower = CpuUserTower(bundle.model)
    rows = np.random.default_rng(0).integers(0, len(bundle.items), 500)
    for user_row in (0, 17, len(bundle.users) - 1):
        heads = tower(bundle.users.take(np.array([user_row])))[0]
        np.testing.assert_allclose(fused.logits(heads, rows), reference.logits(heads, rows),
                                   rtol=1e-5, atol=1e-5)


def test_the_fused_path_serves_the_fe_block_on_cpu_and_torch_everything_else(
    bundle: Bundle, trained_artifacts: Path
) -> None:
    assert isinstance(candidate_scorer(bundle), FusedCpu)
    ablation = load_bundle(store.current_path(trained_artifacts))
    ablation.model.config = replace(ablation.config, fe_block=False)  # the dot-product score
    assert isinstance(candidate_scorer(ablation), TorchOnDevice)


def test_precomputed_known_user_heads_score_exactly_as_the_per_request_tower(
    bundle: Bundle,
) -> None:
    cached, computed = Scorer(bundle, 100, 16, user_heads_cache_mb=1), Scorer(bundle, 100, 16)
    assert cached._known_heads is not None and computed._known_heads is None
    items = [str(i) for i in bundle.items.ids[:60]]
    for user in (str(bundle.users.ids[0]), str(bundle.users.ids[-1]), "a stranger"):
        np.testing.assert_array_equal(cached.score(user, items).scores,
                                      computed.score(user, items).scores)
    assert Scorer(bundle, 100, 16, user_heads_cache_mb=0)._known_heads is None
