"""The Taobao-shaped generator: the real tables' columns and types, exact sizes, a click rate near
5 % that follows the user's recent behaviour, Parquet parts the pipeline reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import training.synth_taobao as taobao
from inttower.cli import app
from training.metrics import auc
from training.schema import DatasetSchema
from training.tables import DataError, load_dataset

SIZES = taobao.TaobaoSizes(users=1_500, ads=800, impressions=40_000, behaviours=300_000)


@pytest.fixture(scope="module")
def schema_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(taobao, "EVENTS_PER_CHUNK", 100_000)  # several parts per table
        return taobao.generate_taobao(tmp_path_factory.mktemp("taobao"), SIZES, seed=5)


def _parts(folder: Path) -> pa.Table:
    return ds.dataset(sorted(folder.glob("*.parquet"))).to_table()


def test_tables_have_the_real_columns_types_and_sizes(schema_path: Path) -> None:
    root = schema_path.parent
    impressions, behaviour = _parts(root / "raw_sample"), _parts(root / "behavior_log")
    assert len(list((root / "raw_sample").glob("part-*.parquet"))) >= 3
    assert impressions.column_names == ["user", "time_stamp", "adgroup_id", "pid", "nonclk", "clk"]
    assert behaviour.column_names == ["user", "time_stamp", "btag", "cate", "brand"]
    assert impressions.num_rows == SIZES.impressions and behaviour.num_rows == SIZES.behaviours
    ads = pq.read_table(root / "ad_feature.parquet")
    assert ads.column_names == ["adgroup_id", "cate_id", "campaign_id", "customer", "brand",
                                "price"]
    assert ads.num_rows == SIZES.ads and 0 < ads.column("brand").null_count < SIZES.ads
    profile = pq.read_table(root / "user_profile.parquet")
    assert profile.column_names == [
        "userid", "cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level",
        "shopping_level", "occupation", "new_user_class_level"]
    assert 0.85 * SIZES.users < profile.num_rows < SIZES.users  # some users have no profile
    assert set(pd.unique(behaviour.column("btag").to_pandas())) == {"pv", "cart", "fav", "buy"}
    days = (np.ptp(impressions.column("time_stamp").to_numpy()),
            np.ptp(behaviour.column("time_stamp").to_numpy()))
    assert days[0] <= 8 * 86_400 < days[1] <= 22 * 86_400


def test_about_five_percent_click_and_nonclk_is_the_complement(schema_path: Path) -> None:
    impressions = _parts(schema_path.parent / "raw_sample").to_pandas()
    assert 0.03 < impressions["clk"].mean() < 0.07
    assert (impressions["clk"] + impressions["nonclk"] == 1).all()


def test_clicks_follow_the_users_recent_behaviour_on_the_ads_category(schema_path: Path) -> None:
    root = schema_path.parent
    shown = _parts(root / "raw_sample").to_pandas().reset_index(names="row")
    ads = pq.read_table(root / "ad_feature.parquet").to_pandas()[["adgroup_id", "cate_id"]]
    shown = shown.merge(ads, on="adgroup_id")
    events = _parts(root / "behavior_log").to_pandas()[["user", "time_stamp", "cate"]]
    pairs = shown.merge(events.rename(columns={"cate": "cate_id", "time_stamp": "at"}),
                        on=["user", "cate_id"])
    recent = pairs[(pairs["at"] < pairs["time_stamp"])
                   & (pairs["at"] >= pairs["time_stamp"] - 3 * 86_400)]
    count = recent.groupby("row").size().reindex(shown["row"], fill_value=0).to_numpy()
    assert auc(shown["clk"].to_numpy(), count) > 0.8  # 0.69 without the category term


def test_the_same_seed_writes_the_same_tables(schema_path: Path, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(taobao, "EVENTS_PER_CHUNK", 100_000)
        again = taobao.generate_taobao(tmp_path, SIZES, seed=5).parent
    for folder in ("raw_sample", "behavior_log"):
        assert _parts(again / folder).equals(_parts(schema_path.parent / folder))
    assert pq.read_table(again / "ad_feature.parquet").equals(
        pq.read_table(schema_path.parent / "ad_feature.parquet"))


def test_the_pipeline_reads_the_parts_through_the_schema(schema_path: Path) -> None:
    raw = load_dataset(DatasetSchema.load(schema_path), schema_path.parent)
    assert len(raw.interactions) == SIZES.impressions
    assert 0.03 < raw.interactions["label"].mean() < 0.07
    assert len(raw.items) == SIZES.ads
    users_without_profile = raw.users.loc[raw.users["cms_group_id"] == ""]
    assert len(users_without_profile) > 0  # complete: every user of the impressions is there


def test_a_folder_without_parts_is_a_clear_error(schema_path: Path, tmp_path: Path) -> None:
    schema = DatasetSchema.load(schema_path)
    (tmp_path / "raw_sample").mkdir()
    with pytest.raises(DataError, match=r"no \*\.parquet parts"):
        load_dataset(schema, tmp_path)


def test_cli_writes_the_taobao_shape_and_refuses_what_it_cannot(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["data", "synth", "--shape", "taobao", "--out", str(tmp_path),
                                 "--users", "50", "--ads", "20", "--impressions", "300",
                                 "--behaviours", "2000"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "raw_sample" / "part-00000.parquet").is_file()
    for bad in (["--shape", "amazon"], ["--shape", "taobao", "--format", "csv"],
                ["--shape", "taobao", "--ads", "1"]):
        result = runner.invoke(app, ["data", "synth", "--out", str(tmp_path), *bad])
        assert result.exit_code == 2, (bad, result.output)
