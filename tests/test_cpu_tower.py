"""The compiled CPU user tower (BatchNorm folded) equals IntTower.encode_user in eval mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from model import store
from model.bundle import load_bundle
from model.config import ModelConfig, TowerSpec
from model.features import EncodedTable
from model.inttower import IntTower
from model.kernels.cpu_tower import CpuUserTower
from training.trainer import TrainResult


def _torch_heads(model: IntTower, users: EncodedTable) -> np.ndarray:
    with torch.inference_mode():
        return model.eval().encode_user(users.inputs()).heads.numpy()


def test_it_equals_the_trained_models_user_tower_on_known_and_unknown_users(
    trained: TrainResult, trained_artifacts: Path
) -> None:
    bundle = load_bundle(store.current_path(trained_artifacts))
    tower = CpuUserTower(bundle.model)
    known = bundle.users.take(np.arange(0, len(bundle.users), 7))
    unknown = bundle.user_codec.encode(pd.DataFrame({"segment": ["3", None], "region": ["9", "x"],
                                                     "age": [41, None]}, index=["new", "newer"]))
    for users in (known, unknown, bundle.users.take(np.array([5]))):
        np.testing.assert_allclose(tower(users), _torch_heads(bundle.model, users),
                                   rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("light_se", [True, False])
def test_it_handles_multi_valued_fields_batchnorm_statistics_and_no_light_se(
    light_se: bool,
) -> None:
    torch.manual_seed(0)
    spec = TowerSpec(cat_vocab=(50, 7), seq_vocab=(30, 12), num_dim=2)
    model = IntTower(ModelConfig(user=spec, item=TowerSpec((20,)), embed_dim=8, hidden=(24, 16),
                                 user_heads=3, item_heads=3, head_dim=4, light_se=light_se))
    for norm in (layer[1] for layer in model.user_tower.mlp.layers):  # as if trained
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
        torch.nn.init.uniform_(norm.weight, 0.5, 1.5)
        torch.nn.init.uniform_(norm.bias, -0.5, 0.5)
    rng = np.random.default_rng(0)
    seq = [rng.integers(0, 30, (9, 5)), rng.integers(0, 12, (9, 3))]
    seq[0][0] = 0  # a user with no tokens at all: the mean divides by one, not zero
    users = EncodedTable(ids=np.arange(9).astype(str).astype(object),
                         cat=np.stack([rng.integers(0, 50, 9), rng.integers(0, 7, 9)], 1),
                         seq=seq, num=rng.standard_normal((9, 2), dtype=np.float32))
    np.testing.assert_allclose(CpuUserTower(model)(users), _torch_heads(model, users),
                               rtol=1e-4, atol=1e-5)
