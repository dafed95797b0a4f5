"""Baselines: output shapes, one epoch of learning on generated data, DAT's stop-gradient."""

import math
from pathlib import Path

import pytest
import torch

from bench.quality.baselines import COLD, DAT, LR, BaselineConfig, DeepFM, TwoTower
from bench.quality.baselines.dat import adaptive_mimic_loss
from bench.quality.baselines.deepfm import fm_interaction
from bench.quality.objectives import dat_objective, pointwise_objective
from model.config import TowerSpec
from model.inputs import Batch, TowerInputs
from model.losses import LossConfig
from training.data import DataConfig, prepare_data
from training.dataset import BatchSource
from training.loop import FitConfig, fit
from training.metrics import auc
from training.split import SplitKind
from training.synth import generate

USER = TowerSpec(cat_vocab=(10, 4), seq_vocab=(6,), num_dim=2)
ITEM = TowerSpec(cat_vocab=(12,), seq_vocab=(5, 3), num_dim=1)
SMALL = {"embed_dim": 8, "hidden": (16, 8), "vector_dim": 8}


def _inputs(spec: TowerSpec, n: int, gen: torch.Generator) -> TowerInputs:
    cat = torch.stack([torch.randint(0, v, (n,), generator=gen) for v in spec.cat_vocab], dim=1)
    seq = tuple(torch.randint(0, v, (n, 3), generator=gen) for v in spec.seq_vocab)
    return TowerInputs(cat, seq, torch.randn(n, spec.num_dim, generator=gen))


def _batch(n: int = 5, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    label = torch.randint(0, 2, (n,), generator=gen).float()
    return Batch(_inputs(USER, n, gen), _inputs(ITEM, n, gen), torch.arange(n), label)


@pytest.mark.parametrize("cls", [LR, COLD, DeepFM, TwoTower, DAT])
def test_forward_gives_one_logit_and_one_penalty_per_row(cls: type) -> None:
    model = cls(BaselineConfig(USER, ITEM, **SMALL)).eval()
    out = model(_batch())
    assert out.logit.shape == (5,) and out.emb_sq_norm.shape == (5,)
    assert torch.isfinite(out.logit).all()


def test_lr_starts_neutral_on_the_numeric_features() -> None:
    # A random start can point the label-rate weight the wrong way by more than Adam at lr 1e-3
    # undoes in ml-100k's few hundred steps: LR then stayed at chance on one seed of three.
    model = LR(BaselineConfig(USER, ITEM))
    batch = _batch(6)
    user = TowerInputs(batch.user.cat, batch.user.seq, batch.user.num * 100 - 7)
    shifted = Batch(user, batch.item, batch.item_key, batch.label)
    torch.testing.assert_close(model(shifted).logit, model(batch).logit)


def test_lr_is_a_sum_of_per_field_weights() -> None:
    model = LR(BaselineConfig(USER, ITEM))
    batch = _batch(6)
    with torch.no_grad():
        for table in [*model.weights.user.cat, *model.weights.user.seq,
                      *model.weights.item.cat, *model.weights.item.seq]:
            table.weight.fill_(0.5)
            table.weight[0] = 0.0  # padding
    # A categorical field weighs 0.5 unless its id is padding; a multi-valued field's mean-pooled
    # weight is 0.5 unless all its ids are padding; numerics go through one linear layer.
    ids = torch.cat([batch.user.cat, batch.item.cat], dim=1)
    pooled = torch.stack([(s > 0).any(-1) for s in (*batch.user.seq, *batch.item.seq)], dim=1)
    numeric = model.numeric(torch.cat([batch.user.num, batch.item.num], dim=1)).squeeze(-1)
    expected = 0.5 * (ids > 0).sum(-1) + 0.5 * pooled.sum(-1) + numeric
    torch.testing.assert_close(model(batch).logit, expected)


def test_fm_interaction_is_the_sum_over_field_pairs() -> None:
    emb = torch.randn(3, 4, 5)
    pairs = sum((emb[:, f] * emb[:, g]).sum(-1) for f in range(4) for g in range(f + 1, 4))
    torch.testing.assert_close(fm_interaction(emb), pairs)


def test_two_tower_cosine_is_bounded_by_its_learned_temperature() -> None:
    model = TwoTower(BaselineConfig(USER, ITEM, score="cosine", **SMALL)).eval()
    out = model(_batch(16))
    bound = model.log_temperature.exp() + model.bias.abs()
    assert (out.logit.abs() <= bound + 1e-5).all()
    torch.testing.assert_close(out.user.norm(dim=-1), torch.ones(16))
    assert model.log_temperature.requires_grad


def test_dat_mimic_loss_moves_only_the_augmented_vectors() -> None:
    model = DAT(BaselineConfig(USER, ITEM, **SMALL))
    batch = _batch(8)
    out = model(batch)
    loss = (adaptive_mimic_loss(out.user_aug, out.item, batch.label)
            + adaptive_mimic_loss(out.item_aug, out.user, batch.label))
    loss.backward()
    towers = [p.grad for p in model.towers.parameters()]
    assert all(g is None or not g.any() for g in towers), "the target p must be stop-gradient"
    assert model.user_aug.weight.grad.any() and model.item_aug.weight.grad.any()


def test_dat_mimic_loss_ignores_negatives() -> None:
    aug, target = torch.zeros(2, 3), torch.ones(2, 3)
    assert float(adaptive_mimic_loss(aug, target, torch.tensor([0.0, 0.0]))) == 0.0
    assert float(adaptive_mimic_loss(aug, target, torch.tensor([1.0, 0.0]))) == pytest.approx(1.5)


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory: pytest.TempPathFactory):
    schema = generate(Path(tmp_path_factory.mktemp("synth")), users=300, items=120,
                      interactions=6000, seed=3)
    return prepare_data(DataConfig(schema=schema, split=SplitKind.random, seed=1))[1]


@pytest.mark.parametrize("name", ["lr", "two-tower", "dat", "cold", "deepfm"])
def test_one_epoch_on_generated_data_lowers_the_loss(name: str, synth_data) -> None:
    cls = {"lr": LR, "two-tower": TwoTower, "dat": DAT, "cold": COLD, "deepfm": DeepFM}[name]
    torch.manual_seed(0)
    model = cls(BaselineConfig(synth_data.user_codec.spec, synth_data.item_codec.spec,
                               hidden=(64, 32), vector_dim=32))
    objective = dat_objective(LossConfig()) if name == "dat" else pointwise_objective(LossConfig())
    train = BatchSource(synth_data.users, synth_data.items, synth_data.train)
    valid = BatchSource(synth_data.users, synth_data.items, synth_data.split("valid"))
    whole = next(train.batches(len(train)))

    def train_bce() -> float:  # DAT's mimic term chases moving targets: compare the BCE only
        model.eval()
        with torch.no_grad():
            return float(objective(model, whole)[1]["bce"])

    before = train_bce()
    fit(model, train, valid, objective,
        FitConfig(epochs=1, batch_size=128, lr=1e-2 if name == "lr" else 1e-3, progress=False))
    after = train_bce()
    with torch.no_grad():
        train_auc = auc(whole.label.numpy(), model(whole).logit.numpy())
    assert math.isfinite(after) and after < before
    assert train_auc > 0.5
