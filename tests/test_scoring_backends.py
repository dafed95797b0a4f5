"""The CPU fast path (compiled user tower, fused MaxSim) computes what the torch module does - the
code path every accelerator runs - and is chosen only where it applies; precomputed heads of known
users give the same scores as the per-request user tower."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from model import store
from model.bundle import Bundle, load_bundle
from service.backends import HostBackend, TorchBackend, backend_for
from service.scorer import Scorer
from service.slices import SlicePool
from training.trainer import TrainResult


@pytest.fixture(scope="module")
def bundle(trained: TrainResult, trained_artifacts: Path) -> Bundle:
    return load_bundle(store.current_path(trained_artifacts))


def test_host_and_torch_backends_compute_the_same_heads_logits_and_hits(bundle: Bundle) -> None:
    host, reference = HostBackend(bundle, SlicePool(1, 1)), TorchBackend(bundle)
    sliced = HostBackend(bundle, SlicePool(threads=3, min_rows=100))  # 500 rows: 3 slices
    users = bundle.users.take(np.array([0, 17, len(bundle.users) - 1]))
    heads = host.user_heads(users)
    np.testing.assert_allclose(heads, reference.user_heads(users), rtol=1e-5, atol=1e-5)
    rows = np.random.default_rng(0).integers(0, len(bundle.items), 500)
    for user_heads in heads:
        logits = host.logits(user_heads, rows)
        np.testing.assert_allclose(logits, reference.logits(user_heads, rows), rtol=1e-5,
                                   atol=1e-5)
        np.testing.assert_array_equal(sliced.logits(user_heads, rows), logits)
        np.testing.assert_array_equal(host.search(user_heads, 8), reference.search(user_heads, 8))


def test_the_host_path_serves_the_fe_block_on_cpu_and_torch_everything_else(
    bundle: Bundle, trained_artifacts: Path
) -> None:
    assert isinstance(backend_for(bundle, SlicePool(1, 1)), HostBackend)
    ablation = load_bundle(store.current_path(trained_artifacts))
    ablation.model.config = replace(ablation.config, fe_block=False)  # the dot-product score
    assert isinstance(backend_for(ablation, SlicePool(1, 1)), TorchBackend)


def test_the_maxsim_per_item_head_is_served_by_the_torch_module_as_trained(
    bundle: Bundle, trained_artifacts: Path
) -> None:
    per_item = load_bundle(store.current_path(trained_artifacts))
    per_item.model.config = replace(per_item.config, maxsim="item")
    backend = backend_for(per_item, SlicePool(1, 1))
    assert isinstance(backend, TorchBackend)
    users = bundle.users.take(np.array([3]))
    user_heads = backend.user_heads(users)  # (1, L, Hu, d)
    rows = np.random.default_rng(1).integers(0, len(bundle.items), 300)
    items = torch.from_numpy(bundle.item_vectors.dequantised()[rows])
    expected = per_item.model.pair_logits(torch.from_numpy(user_heads).expand(len(rows), -1, -1,
                                                                               -1), items)
    logits = backend.logits(user_heads[0], rows) - bundle.item_offsets()[rows]
    np.testing.assert_allclose(logits, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    per_user = HostBackend(bundle, SlicePool(1, 1)).logits(user_heads[0], rows)
    assert not np.allclose(logits, per_user - bundle.item_offsets()[rows], atol=1e-3)


def test_interest_heads_are_served_by_the_torch_module(trained_artifacts: Path) -> None:
    interests = load_bundle(store.current_path(trained_artifacts))
    interests.model.config = replace(interests.config, interest_heads=True)
    assert isinstance(backend_for(interests, SlicePool(1, 1)), TorchBackend)


def test_precomputed_known_user_heads_score_exactly_as_the_per_request_tower(
    bundle: Bundle,
) -> None:
    cached, computed = Scorer(bundle, 100, 16, user_heads_cache_mb=1), Scorer(bundle, 100, 16)
    assert cached.user_heads.precomputed is not None and computed.user_heads.precomputed is None
    items = [str(i) for i in bundle.items.ids[:60]]
    for user in (str(bundle.users.ids[0]), str(bundle.users.ids[-1]), "a stranger"):
        from_cache, from_tower = cached.score(user, items), computed.score(user, items)
        np.testing.assert_array_equal(from_cache.scores, from_tower.scores)
        assert from_tower.user_path == "online"
        assert from_cache.user_path == ("online" if user == "a stranger" else "cached")
    assert Scorer(bundle, 100, 16, user_heads_cache_mb=0).user_heads.precomputed is None
