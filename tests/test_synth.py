"""The synthetic generator: files in the schema format, read back, with a learnable signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from inttower.cli import app
from training.schema import DatasetSchema
from training.synth import generate
from training.tables import RawData, load_dataset

SIZES = {"users": 2_000, "items": 1_000, "interactions": 60_000}


@pytest.fixture(scope="module")
def parquet_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("parquet"), **SIZES, seed=3)


@pytest.fixture(scope="module")
def raw(parquet_schema: Path) -> RawData:
    return load_dataset(DatasetSchema.load(parquet_schema), parquet_schema.parent)


def _auc(label: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties."""
    ranks = pd.Series(score).rank().to_numpy()
    positive = label == 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_the_schema_file_loads_back_with_files_beside_it(parquet_schema: Path) -> None:
    schema = DatasetSchema.load(parquet_schema)
    assert schema.interactions.file == "interactions.parquet"
    assert schema.users.label_rate and schema.items.label_rate
    assert schema.users.history is not None and schema.items.history is None
    assert [f.column for f in schema.users.features] == ["segment", "region", "age"]
    assert [f.column for f in schema.items.features] == ["category", "tags", "price"]
    for table in (schema.interactions, schema.users, schema.items):
        assert table.file is not None
        assert (parquet_schema.parent / table.file).is_file()


def test_labels_have_both_classes_with_a_majority_of_positives(raw: RawData) -> None:
    assert len(raw.interactions) == SIZES["interactions"]
    assert set(raw.interactions["label"].unique()) == {0.0, 1.0}
    assert 0.6 <= raw.interactions["label"].mean() <= 0.75
    assert raw.interactions["timestamp"].is_monotonic_increasing


def test_some_users_and_items_never_interact(raw: RawData) -> None:
    assert len(raw.users) == SIZES["users"]
    assert len(raw.items) == SIZES["items"]
    assert 0 < len(raw.users) - raw.interactions["user_id"].nunique() < SIZES["users"] // 10
    assert 0 < len(raw.items) - raw.interactions["item_id"].nunique() < SIZES["items"] // 10


def test_items_carry_one_to_four_distinct_tags(raw: RawData) -> None:
    tags = raw.items["tags"].str.split("|")
    assert tags.map(len).between(1, 4).all()
    assert (tags.map(len) == tags.map(set).map(len)).all()


def test_features_and_ids_predict_held_out_labels(raw: RawData) -> None:
    inter = raw.interactions
    cut = int(len(inter) * 0.8)
    train, test = inter.iloc[:cut], inter.iloc[cut:]
    prior = train["label"].mean()

    def smoothed_rate(train_keys: pd.Series, test_keys: pd.Series) -> np.ndarray:
        stats = train["label"].groupby(train_keys.to_numpy()).agg(["sum", "count"])
        rate = (stats["sum"] + 5 * prior) / (stats["count"] + 5)
        return rate.reindex(test_keys.to_numpy()).fillna(prior).to_numpy()

    segment = raw.users["segment"].reindex(inter["user_id"]).to_numpy()
    category = raw.items["category"].reindex(inter["item_id"]).to_numpy()
    cross = pd.Series(segment + "/" + category)
    y = test["label"].to_numpy()
    assert _auc(y, smoothed_rate(cross.iloc[:cut], cross.iloc[cut:])) > 0.6
    assert _auc(y, smoothed_rate(train["item_id"], test["item_id"])) > 0.58


def test_csv_and_parquet_hold_the_same_data(tmp_path: Path, raw: RawData) -> None:
    schema_path = generate(tmp_path, **SIZES, seed=3, fmt="csv")
    from_csv = load_dataset(DatasetSchema.load(schema_path), tmp_path)
    assert DatasetSchema.load(schema_path).users.format == "csv"
    pd.testing.assert_frame_equal(from_csv.interactions, raw.interactions)
    pd.testing.assert_frame_equal(from_csv.users, raw.users)
    pd.testing.assert_frame_equal(from_csv.items, raw.items)


def test_another_seed_gives_other_data(tmp_path: Path, raw: RawData) -> None:
    schema_path = generate(tmp_path, **SIZES, seed=4)
    other = load_dataset(DatasetSchema.load(schema_path), tmp_path)
    assert not other.interactions["item_id"].equals(raw.interactions["item_id"])


def test_integer_item_ids_name_the_same_items_by_their_row_number(tmp_path: Path,
                                                                  raw: RawData) -> None:
    sizes = [a for k, v in SIZES.items() for a in (f"--{k}", str(v))]
    result = CliRunner().invoke(app, ["data", "synth", "--out", str(tmp_path), *sizes, "--seed",
                                      "3", "--integer-item-ids"])
    assert result.exit_code == 0, result.output
    numbered = load_dataset(DatasetSchema.load(Path(result.stdout.strip())), tmp_path)
    assert numbered.items.index.tolist() == [str(k) for k in range(SIZES["items"])]
    renamed = raw.interactions.assign(item_id=raw.interactions["item_id"].str.removeprefix("i"))
    pd.testing.assert_frame_equal(numbered.interactions, renamed)
    pd.testing.assert_frame_equal(numbered.users, raw.users)
    assert (numbered.items.to_numpy() == raw.items.to_numpy()).all()


def test_too_small_sizes_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 2 users"):
        generate(tmp_path, users=1, items=5, interactions=10)
