"""Training that streams from shards (training.stream): each epoch covers every row once, in an
order that changes; ranks split it into disjoint equal parts of their own shards; scoring in
shards gives the in-memory path's predictions; a model trained from shards publishes a bundle
that scores as well as one trained in memory."""

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from model.bundle import load_current
from model.config import ModelConfig
from model.inttower import IntTower
from tests.conftest import TOY_MODEL
from training.build import BuildConfig, build
from training.data import DataConfig, prepare_data
from training.dataset import BatchSource
from training.distributed import Ranks
from training.loop import predict
from training.shards import BuiltData
from training.split import SplitKind, split_rows
from training.stream import ShardSource
from training.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def built(synth_schema: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltData:
    out = tmp_path_factory.mktemp("built") / "toy"
    build(BuildConfig(DataConfig(schema=synth_schema, split=SplitKind.temporal),
                      shard_rows=1_000, progress=False), out)
    return BuiltData(out)


def _rows(source: ShardSource, generator: torch.Generator | None, ranks: Ranks = Ranks(),
          batch_size: int = 256) -> list[tuple[int, int, float]]:
    """(user row, item row, label) of every row the batches hold, in order."""
    out = []
    for batch in source.batches(batch_size, generator, ranks):
        assert len(batch.label) <= batch_size
        out += zip(batch.user.cat[:, 0].tolist(), batch.item_key.tolist(),
                   batch.label.tolist(), strict=True)
    return out


def _all_rows(built: BuiltData) -> Counter:
    split = built.split("train")
    users = built.users.cat[split.column("user_row"), 0]
    return Counter(zip(users.tolist(), split.column("item_row").tolist(),
                       split.column("label").tolist(), strict=True))


def test_an_epoch_holds_every_row_once_in_an_order_that_changes(built: BuiltData) -> None:
    source = ShardSource(built.users, built.items, built.split("train"))
    assert len(built.split("train").shards) > 3
    generator = torch.Generator().manual_seed(1)
    first, second = _rows(source, generator), _rows(source, generator)
    assert Counter(first) == Counter(second) == _all_rows(built)
    assert first != second
    assert len(first) == len(source)
    assert source.num_batches(256) == -(-len(source) // 256)


def test_ranks_take_disjoint_equal_parts_of_the_epoch(built: BuiltData) -> None:
    source = ShardSource(built.users, built.items, built.split("train"))
    parts = [_rows(source, torch.Generator().manual_seed(7), Ranks(rank, 3)) for rank in range(3)]
    per_rank = -(-len(source) // 3)
    assert [len(p) for p in parts] == [per_rank] * 3  # equal steps on every rank
    union = Counter(row for part in parts for row in part)
    padding = union - _all_rows(built)
    assert _all_rows(built) - union == Counter()  # every row is trained on
    assert sum(padding.values()) == 3 * per_rank - len(source)
    assert all(source.num_batches(256, Ranks(r, 3)) == -(-per_rank // 256) for r in range(3))


def test_in_order_scoring_matches_the_in_memory_rows(built: BuiltData, synth_schema: Path) -> None:
    _, data = prepare_data(DataConfig(schema=synth_schema, split=SplitKind.temporal))
    torch.manual_seed(0)
    model = IntTower(ModelConfig(user=data.user_codec.spec, item=data.item_codec.spec,
                                 **TOY_MODEL))
    sharded = built.split("test")
    streamed = predict(model, ShardSource(built.users, built.items, sharded), 100)
    in_memory = predict(model, BatchSource(data.users, data.items, data.split("test")), 100)
    # shard rows name interaction rows; in memory, test rows are in the split's order
    test_rows = split_rows(_timestamps(synth_schema), SplitKind.temporal, 1)["test"]
    position = {int(r): p for p, r in enumerate(test_rows)}
    at = [position[int(r)] for r in sharded.column("row")]
    np.testing.assert_allclose(streamed, in_memory[at], rtol=1e-5, atol=1e-6)
    # 7 ranks: the test rows do not split evenly, the first ranks take one row more
    parts = [predict(model, ShardSource(built.users, built.items, sharded), 100, Ranks(r, 7))
             for r in range(7)]
    np.testing.assert_allclose(np.concatenate(parts), streamed, rtol=1e-5, atol=1e-6)


def _timestamps(schema: Path) -> np.ndarray:
    from training.data import load_split

    _, raw, _ = load_split(DataConfig(schema=schema, split=SplitKind.temporal))
    return raw.interactions["timestamp"].to_numpy(np.int64)


def test_training_from_shards_publishes_a_bundle_as_good_as_in_memory(
        built: BuiltData, synth_schema: Path, tmp_path: Path,
        toy_config: Callable[..., TrainConfig]) -> None:
    config = toy_config(synth_schema, tmp_path / "streamed")
    streamed = train(replace(config, built=built.folder))
    in_memory = train(replace(config, data=replace(config.data, split=SplitKind.temporal),
                              artifacts=None))
    assert streamed.test["auc"] > 0.6
    assert abs(streamed.test["auc"] - in_memory.test["auc"]) < 0.03
    bundle = load_current(tmp_path / "streamed")
    assert bundle.manifest["train"]["split"] == "temporal"
    np.testing.assert_array_equal(bundle.users.cat, built.users.cat)
