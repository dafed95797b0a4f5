"""The out-of-core builder (training.build) writes, row for row, the features of the in-memory
encoder (training.features.encode_dataset): every split, both evaluation modes, the history and
the event sequences, the stored tables and codecs - on generated data of both shapes, split
over several user buckets, and (slow) on ml-100k and ml-1m."""

from pathlib import Path

import numpy as np
import pytest

from model.features import EncodedTable
from training.build import BuildConfig, build
from training.data import DataConfig, prepare_data
from training.encoded import EncodedData, EncodedSplit
from training.shards import BuiltData, ShardedSplit
from training.split import SplitKind, split_rows
from training.synth_taobao import TaobaoSizes, generate_taobao
from training.tables import DataError


def _in_memory(split: EncodedSplit, field: int, max_len: int) -> np.ndarray | None:
    windows = [w for w in (split.history, *split.sequences) if w is not None and w.field == field]
    return windows[0].padded(max_len) if windows else None


def _assert_split_equal(built: ShardedSplit, expected: EncodedSplit, positions: np.ndarray,
                        data: EncodedData) -> None:
    """Each shard row equals the in-memory row of the same interaction."""
    position_of_row = {int(r): p for p, r in enumerate(positions)}
    seen = 0
    for shard in built.shards:
        rows = shard.column("row", mmap=False)
        at = np.array([position_of_row[int(r)] for r in rows], np.int64)
        got = shard.read(built.history_field)
        want = expected.take(at)
        for column in ("user_row", "item_row", "user_num", "item_num", "label", "item_score"):
            np.testing.assert_array_equal(getattr(got, column), getattr(want, column), column)
        for window in (w for w in (got.history, *got.sequences) if w is not None):
            max_len = data.users.seq[window.field].shape[1]
            np.testing.assert_array_equal(window.padded(max_len),
                                          _in_memory(want, window.field, max_len))
        in_memory_fields = {w.field for w in (want.history, *want.sequences) if w is not None}
        assert {w.field for w in (got.history, *got.sequences) if w is not None} == \
            in_memory_fields
        seen += len(rows)
    assert seen == len(positions)


def _assert_tables_equal(got: EncodedTable, want: EncodedTable) -> None:
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.cat, want.cat)
    np.testing.assert_array_equal(got.num, want.num)
    assert len(got.seq) == len(want.seq)
    for a, b in zip(got.seq, want.seq, strict=True):
        np.testing.assert_array_equal(a, b)
    assert (got.score is None) == (want.score is None)
    if got.score is not None:
        np.testing.assert_array_equal(got.score, want.score)


def _assert_build_equals_memory(config: DataConfig, out: Path, shard_rows: int) -> BuiltData:
    build(BuildConfig(config, shard_rows=shard_rows, progress=False), out)
    built = BuiltData(out)
    _, data = prepare_data(config)
    timestamp = _timestamps(data, config)
    positions = split_rows(timestamp, config.split, config.seed)
    assert built.user_codec == data.user_codec and built.item_codec == data.item_codec
    assert built.prior == pytest.approx(data.prior, abs=0)
    _assert_tables_equal(built.users, data.users)
    _assert_tables_equal(built.items, data.items)
    _assert_split_equal(built.splits["train"], data.train, positions["train"], data)
    for mode, splits in data.held_out.items():
        for held, expected in splits.items():
            _assert_split_equal(built.held_out[mode][held], expected, positions[held.value], data)
    return built


def _timestamps(data: EncodedData, config: DataConfig) -> np.ndarray:
    from training.data import load_split

    _, raw, _ = load_split(config)
    return raw.interactions["timestamp"].to_numpy(np.int64)


@pytest.mark.parametrize("split", list(SplitKind))
def test_generated_movielens_shape(synth_schema: Path, tmp_path: Path, split: SplitKind) -> None:
    built = _assert_build_equals_memory(DataConfig(schema=synth_schema, split=split),
                                        tmp_path / "built", shard_rows=1_500)
    assert built.manifest["buckets"] > 3  # the rows really were spread over user buckets


@pytest.mark.parametrize("split", list(SplitKind))
def test_generated_taobao_shape_with_event_sequences(tmp_path: Path, split: SplitKind) -> None:
    schema = generate_taobao(tmp_path / "tb", TaobaoSizes(400, 300, 6_000, 40_000), seed=3)
    built = _assert_build_equals_memory(DataConfig(schema=schema, split=split),
                                        tmp_path / "built", shard_rows=1_000)
    assert built.manifest["buckets"] > 3 and built.user_codec.sequences


def test_refuses_to_overwrite_and_leaves_nothing_half_written(synth_schema: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "built"
    out.mkdir()
    with pytest.raises(FileExistsError):
        build(BuildConfig(DataConfig(schema=synth_schema), progress=False), out)
    broken = synth_schema.parent / "broken.yaml"
    broken.write_text(synth_schema.read_text().replace("interactions.parquet", "missing.parquet"))
    with pytest.raises(DataError, match=r"missing\.parquet"):
        build(BuildConfig(DataConfig(schema=broken), progress=False), tmp_path / "other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["built"]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["ml-100k", "ml-1m"])
def test_movielens(dataset: str, tmp_path: Path) -> None:
    _assert_build_equals_memory(DataConfig(dataset=dataset, split=SplitKind.temporal),
                                tmp_path / "built", shard_rows=200_000)
