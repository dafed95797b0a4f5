"""Reading dataset tables into normalised frames, on small hand-written files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from training.schema import DatasetSchema, EntityTable, FeatureColumn
from training.tables import DataError, load_dataset, read_entity_table

QUOTED = '"Weird Al" Live (1999)'  # a leading quote would open a quoted field in CSV
HEELS = '5" Heels (2001)'  # an unbalanced quote


def _write(path: Path, rows: list[list[str]], sep: str = "\t", eol: str = "\n") -> Path:
    path.write_text("".join(sep.join(row) + eol for row in rows), encoding="utf-8", newline="")
    return path


def _schema(**overrides: Any) -> DatasetSchema:
    """An ml-1m-like schema over the files `_recbole_files` writes."""
    spec: dict[str, Any] = {
        "name": "tiny",
        "interactions": {
            "file": "tiny.inter",
            "user_id": "user_id",
            "item_id": "item_id",
            "timestamp": "timestamp",
            "label": {"column": "rating", "positive_above": 3, "drop": [3]},
        },
        "users": {
            "file": "tiny.user",
            "id": "user_id",
            "id_prefix": "1m_",
            "features": [{"column": "gender"}, {"column": "zip_code", "prefix": 3}],
        },
        "items": {
            "file": "tiny.item",
            "id": "item_id",
            "features": [{"column": "genre", "kind": "multi"}, {"column": "release_year"}],
        },
    }
    for table, fields in overrides.items():
        spec[table] = {**spec[table], **fields}
    return DatasetSchema.model_validate(spec)


def _recbole_files(folder: Path, eol: str = "\r\n") -> Path:
    _write(
        folder / "tiny.inter",
        [
            ["user_id:token", "item_id:token", "rating:float", "timestamp:float"],
            ["1m_1", QUOTED, "5", "978300760"],
            ["1m_1", HEELS, "3", "978300761"],
            ["1m_2", QUOTED, "2", "978300762"],
            ["1m_3", "Unlisted (1990)", "4", "978300763.0"],
        ],
        eol=eol,
    )
    _write(
        folder / "tiny.user",
        [
            ["user_id:token", "age:float", "gender:token", "zip_code:token"],
            ["1m_1", "1", "F", "05201"],
            ["1m_2", "56", "M", "70072"],
            ["1m_9", "25", "M", "55117"],
        ],
        eol=eol,
    )
    _write(
        folder / "tiny.item",
        [
            ["item_id:token", "release_year:float", "genre:token_seq"],
            [QUOTED, "1999.0", "Comedy Drama"],
            [HEELS, "2001", ""],
        ],
        eol=eol,
    )
    return folder


@pytest.mark.parametrize("eol", ["\r\n", "\n"], ids=["crlf", "lf"])
def test_recbole_files_are_read_raw_with_the_movielens_label_protocol(
    tmp_path: Path, eol: str
) -> None:
    raw = load_dataset(_schema(), _recbole_files(tmp_path, eol))

    inter = raw.interactions
    assert list(inter.columns) == ["user_id", "item_id", "label", "timestamp"]
    assert isinstance(inter.index, pd.RangeIndex)
    # Rating 3 is dropped, y = rating > 3, the "1m_" prefix is gone, quotes are kept verbatim.
    assert inter["user_id"].tolist() == ["1", "2", "3"]
    assert inter["item_id"].tolist() == [QUOTED, QUOTED, "Unlisted (1990)"]
    assert inter["label"].dtype == np.float32
    assert inter["label"].tolist() == [1.0, 0.0, 1.0]
    assert inter["timestamp"].dtype == np.int64
    assert inter["timestamp"].tolist() == [978300760, 978300762, 978300763]

    assert list(raw.users.columns) == ["gender", "zip_code"]
    assert raw.users.loc["1"].tolist() == ["F", "05201"]
    assert raw.items.loc[QUOTED].tolist() == ["Comedy Drama", "1999.0"]
    assert raw.items.loc[HEELS].tolist() == ["", "2001"]


def test_entities_cover_the_entity_file_and_every_interaction_id(tmp_path: Path) -> None:
    raw = load_dataset(_schema(), _recbole_files(tmp_path))
    # "9" rated nothing but is in the users file; "3" rated but has no row there.
    assert raw.users.index.name == "user_id"
    assert raw.users.index.tolist() == ["1", "2", "9", "3"]
    assert raw.users.loc["3"].tolist() == ["", ""]
    assert raw.items.index.name == "item_id"
    assert raw.items.index.tolist() == [QUOTED, HEELS, "Unlisted (1990)"]
    assert raw.items.index.is_unique


def test_an_entity_table_without_a_file_holds_just_the_interaction_ids(tmp_path: Path) -> None:
    schema = _schema(items={"file": None, "features": []})
    raw = load_dataset(schema, _recbole_files(tmp_path))
    assert raw.items.index.tolist() == [QUOTED, "Unlisted (1990)"]
    assert raw.items.columns.empty


def test_read_entity_table_strips_the_prefix_and_keeps_features_as_text(tmp_path: Path) -> None:
    _recbole_files(tmp_path)
    table = EntityTable(
        file="tiny.user",
        format="recbole",
        id="user_id",
        id_prefix="1m_",
        features=[FeatureColumn(column="age")],
    )
    users = read_entity_table(table, tmp_path / "tiny.user")
    assert users.index.tolist() == ["1", "2", "9"]
    assert users["age"].tolist() == ["1", "56", "25"]


def test_a_missing_column_is_named_with_the_file_and_its_columns(tmp_path: Path) -> None:
    schema = _schema(users={"features": [{"column": "occupation"}]})
    with pytest.raises(DataError) as caught:
        load_dataset(schema, _recbole_files(tmp_path))
    message = str(caught.value)
    assert "'occupation'" in message
    assert str(tmp_path / "tiny.user") in message
    assert "user_id, age, gender, zip_code" in message


def test_a_missing_file_is_reported_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"file not found: .*tiny\.inter"):
        load_dataset(_schema(), tmp_path)


def test_duplicate_entity_ids_are_rejected(tmp_path: Path) -> None:
    _recbole_files(tmp_path)
    _write(
        tmp_path / "tiny.item",
        [
            ["item_id:token", "genre:token_seq", "release_year:float"],
            ["a", "Drama", "1990"],
            ["a", "Comedy", "1991"],
        ],
    )
    with pytest.raises(DataError, match="duplicate ids in 'item_id': 'a'"):
        load_dataset(_schema(), tmp_path)


def test_labels_must_be_binary_without_a_threshold(tmp_path: Path) -> None:
    schema = _schema(interactions={"label": {"column": "rating"}})
    with pytest.raises(DataError, match=r"must hold 0/1.*found 2, 3, 4, 5"):
        load_dataset(schema, _recbole_files(tmp_path))


def test_non_numeric_labels_are_rejected(tmp_path: Path) -> None:
    _recbole_files(tmp_path)
    _write(
        tmp_path / "tiny.inter",
        [["user_id", "item_id", "rating", "timestamp"], ["1m_1", "x", "five", "1"]],
    )
    with pytest.raises(DataError, match=r"'rating' must be numeric.*five"):
        load_dataset(_schema(), tmp_path)


def test_no_interactions_left_after_label_filtering_is_an_error(tmp_path: Path) -> None:
    schema = _schema(interactions={"label": {"column": "rating", "drop": [2, 3, 4, 5]}})
    with pytest.raises(DataError, match="no interactions left"):
        load_dataset(schema, _recbole_files(tmp_path))


def test_without_a_timestamp_the_file_row_number_orders_interactions(tmp_path: Path) -> None:
    schema = _schema(interactions={"timestamp": None})
    raw = load_dataset(schema, _recbole_files(tmp_path))
    # Row 1 (rating 3) is dropped; the others keep their row numbers in the file.
    assert raw.interactions["timestamp"].tolist() == [0, 2, 3]
    assert raw.interactions["timestamp"].dtype == np.int64


def test_auto_format_tells_plain_tsv_from_recbole_by_the_header(tmp_path: Path) -> None:
    _recbole_files(tmp_path)
    # A plain header: read as ordinary TSV, where quotes do quote.
    _write(
        tmp_path / "tiny.item", [["item_id", "genre", "release_year"], ['"a\tb"', "Drama", "1990"]]
    )
    raw = load_dataset(_schema(), tmp_path)
    assert "a\tb" in raw.items.index
    assert raw.users.loc["1"].tolist() == ["F", "05201"]  # recbole, picked by its header


def test_an_unknown_suffix_asks_for_an_explicit_format(tmp_path: Path) -> None:
    _recbole_files(tmp_path)
    (tmp_path / "tiny.inter").rename(tmp_path / "tiny.dat")
    schema = _schema(interactions={"file": "tiny.dat"})
    with pytest.raises(DataError, match="set `format`"):
        load_dataset(schema, tmp_path)


def test_csv_and_parquet_values_become_strings_without_float_ids(tmp_path: Path) -> None:
    _write(
        tmp_path / "clicks.csv",
        [["uid", "sku", "clicked"], ["7", "0012", "1"], ["8", "0012", "0"], ["7", "NA", "1"]],
        sep=",",
    )
    # Parquet keeps types: integer ids and a float feature with a null.
    pd.DataFrame({"uid": [7, 9], "age": [30.0, None]}).to_parquet(tmp_path / "users.parquet")
    schema = DatasetSchema.model_validate(
        {
            "name": "shop",
            "interactions": {
                "file": "clicks.csv",
                "user_id": "uid",
                "item_id": "sku",
                "label": {"column": "clicked"},
            },
            "users": {
                "file": "users.parquet",
                "id": "uid",
                "features": [{"column": "age", "kind": "numeric"}],
            },
            "items": {"id": "sku"},
        }
    )
    raw = load_dataset(schema, tmp_path)
    assert raw.interactions["item_id"].tolist() == ["0012", "0012", "NA"]
    assert raw.interactions["label"].tolist() == [1.0, 0.0, 1.0]
    assert raw.interactions["timestamp"].tolist() == [0, 1, 2]
    assert raw.users.index.tolist() == ["7", "9", "8"]
    assert raw.users["age"].tolist() == ["30", "", ""]
