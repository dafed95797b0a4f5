"""A Taobao-shaped synthetic dataset: the four tables of Alibaba's display-ads data (Tianchi data
id 56, the third dataset of the IntTower paper) with their real column names and types, at any
size, learnable the way the real data is.

The real dataset, for scale (`inttower data synth --shape taobao` makes a small one by default):

- raw_sample: 26,557,961 impressions over 8 days, about 5 % clicked: user, time_stamp,
  adgroup_id, pid, nonclk, clk;
- ad_feature: 846,811 ads: adgroup_id, cate_id (6,769 categories), campaign_id, customer, brand
  (99,815; empty for some ads), price;
- user_profile: 1,061,768 users (some users of raw_sample have none): userid, cms_segid,
  cms_group_id, final_gender_code, age_level, pvalue_level, shopping_level, occupation,
  new_user_class_level;
- behavior_log: 723,268,134 events over 22 days: user, time_stamp, btag (pv, cart, fav, buy),
  cate, brand.

(The real user_profile's header spells the last column "new_user_class_level " with a trailing
space; here it has none.) The behaviour log covers the impressions' 8 days and the 14 before.

Clicks follow the user's recent behaviour on the ad's category and brand, the profile's taste
for the category, the ad and the placement (training.synth_taobao_activity); the bias is
calibrated so that about 5 % of impressions are clicked. Users are generated chunk by
chunk and written as Parquet parts: memory follows the chunk, not the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from training.schema import (
    DatasetSchema,
    EntityTable,
    EventSequence,
    EventsTable,
    FeatureColumn,
    FeatureKind,
    HistorySpec,
    InteractionTable,
    LabelSpec,
)
from training.synth import calibrate_bias, sample
from training.synth_taobao_activity import GROUPS, Catalogue, activity, cdf

CLICK_RATE = 0.05
EVENTS_PER_CHUNK = 4_000_000  # behaviour events generated and written at a time


@dataclass(frozen=True)
class TaobaoSizes:
    users: int = 10_000
    ads: int = 5_000
    impressions: int = 200_000
    behaviours: int = 2_000_000

    def __post_init__(self) -> None:
        if self.users < 2 or self.ads < 2 or self.impressions < 1 or self.behaviours < 1:
            raise ValueError("need at least 2 users, 2 ads, 1 impression and 1 behaviour")

    @property
    def categories(self) -> int:  # 6,769 at the real size
        return int(np.clip(self.ads // 125, 20, 6_769))

    @property
    def brands(self) -> int:  # 99,815 at the real size
        return int(np.clip(self.ads // 8, self.categories, 99_815))


def generate_taobao(out_dir: Path, sizes: TaobaoSizes, seed: int = 0) -> Path:
    """Write raw_sample/ and behavior_log/ (Parquet parts), ad_feature.parquet,
    user_profile.parquet and schema.yaml into `out_dir`; return the schema's path. The same
    arguments always give the same files."""
    rng = np.random.default_rng(seed)
    for folder in ("raw_sample", "behavior_log"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
        for stale in (out_dir / folder).glob("part-*.parquet"):
            stale.unlink()  # a smaller rerun must not leave parts of a bigger one behind
    catalogue = _catalogue(rng, sizes)
    pq.write_table(_ad_feature(rng, catalogue), out_dir / "ad_feature.parquet")
    group = _profile_groups(rng, sizes.users)
    pq.write_table(_user_profile(rng, group), out_dir / "user_profile.parquet")
    busy = rng.lognormal(0.0, 1.0, sizes.users)  # how active each user is
    events = rng.multinomial(sizes.behaviours, busy / busy.sum())
    shown = rng.multinomial(sizes.impressions, busy**0.7 / (busy**0.7).sum())
    users_per_chunk = max(1, int(EVENTS_PER_CHUNK * sizes.users / sizes.behaviours))
    bias = None
    for part, lo in enumerate(range(0, sizes.users, users_per_chunk)):
        users = np.arange(lo, min(lo + users_per_chunk, sizes.users))
        behaviour, impressions, logit = activity(rng, catalogue, users, group[users],
                                               events[users], shown[users])
        bias = calibrate_bias(logit, CLICK_RATE) if bias is None else bias  # from the first chunk
        clk = (rng.random(len(logit)) < 1.0 / (1.0 + np.exp(-(bias + logit)))).astype(np.int64)
        impressions = impressions.append_column("nonclk", pa.array(1 - clk))
        impressions = impressions.append_column("clk", pa.array(clk))
        pq.write_table(behaviour, out_dir / "behavior_log" / f"part-{part:05d}.parquet")
        pq.write_table(impressions, out_dir / "raw_sample" / f"part-{part:05d}.parquet")
    path = out_dir / "schema.yaml"
    taobao_schema().dump(path)
    return path


def taobao_schema() -> DatasetSchema:
    """Impressions as interactions, user_profile and ad_feature as the towers' tables, and the
    behaviour log as the source of two user sequences: the categories and the brands of the
    user's 50 latest events."""
    categorical = [FeatureColumn(column=c) for c in (
        "cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level",
        "shopping_level", "occupation", "new_user_class_level")]
    return DatasetSchema(
        name="taobao-synth",
        interactions=InteractionTable(
            file="raw_sample", format="parquet", user_id="user", item_id="adgroup_id",
            timestamp="time_stamp", label=LabelSpec(column="clk"),
        ),
        users=EntityTable(
            file="user_profile.parquet", id="userid", label_rate=True,
            history=HistorySpec(max_len=20), features=categorical,
        ),
        items=EntityTable(
            file="ad_feature.parquet", id="adgroup_id", label_rate=True, label_rate_in="score",
            features=[*(FeatureColumn(column=c) for c in
                        ("cate_id", "campaign_id", "customer", "brand")),
                      FeatureColumn(column="price", kind=FeatureKind.numeric)],
        ),
        events=EventsTable(
            file="behavior_log", format="parquet", user_id="user", timestamp="time_stamp",
            type="btag", sequences=[EventSequence(column="cate", name="recent_cates"),
                                    EventSequence(column="brand", name="recent_brands")],
        ),
    )


def _catalogue(rng: np.random.Generator, sizes: TaobaoSizes) -> Catalogue:
    n_cate, n_brand, n_ads = sizes.categories, sizes.brands, sizes.ads
    category_weight = 1.0 / (1.0 + rng.permutation(n_cate)) ** 1.1  # Zipf-like
    # Every category gets one brand, the rest go by popularity; brands are numbered by category.
    brand_cate = np.sort(np.concatenate([
        np.arange(n_cate), sample(rng, cdf(category_weight), n_brand - n_cate)]))
    brand_count = np.bincount(brand_cate, minlength=n_cate)
    brand_start = np.concatenate([[0], np.cumsum(brand_count)[:-1]])
    ad_cate = sample(rng, cdf(category_weight), n_ads)
    ad_brand = brand_start[ad_cate] + (rng.random(n_ads) * brand_count[ad_cate]).astype(np.int64)
    ad_brand[rng.random(n_ads) < 0.2] = -1
    ads_by_cate = np.argsort(ad_cate, kind="stable")
    cate_ad_start = np.concatenate([[0], np.cumsum(np.bincount(ad_cate, minlength=n_cate))])
    return Catalogue(
        category_cdf=cdf(category_weight), brand_start=brand_start, brand_count=brand_count,
        ad_cate=ad_cate, ad_brand=ad_brand, ad_quality=rng.normal(0.0, 0.5, n_ads),
        ad_cdf=cdf(1.0 / (1.0 + rng.permutation(n_ads)) ** 0.8), ads_by_cate=ads_by_cate,
        cate_ad_start=cate_ad_start, affinity=rng.normal(0.0, 0.7, (GROUPS, n_cate)),
    )


def _ad_feature(rng: np.random.Generator, c: Catalogue) -> pa.Table:
    n_ads = len(c.ad_cate)
    campaign = rng.integers(0, max(1, n_ads // 2), n_ads)  # about two ads per campaign
    customer_of_campaign = rng.integers(0, max(1, n_ads // 3), max(1, n_ads // 2))
    cate_price = rng.normal(0.0, 1.0, len(c.category_cdf))
    price = np.round(np.exp(4.0 + cate_price[c.ad_cate] + rng.normal(0.0, 0.5, n_ads)), 2)
    brand = pa.array(c.ad_brand + 1, mask=c.ad_brand < 0)  # ids from 1; empty where unknown
    return pa.table({
        "adgroup_id": pa.array(np.arange(1, n_ads + 1)),
        "cate_id": pa.array(c.ad_cate + 1),
        "campaign_id": pa.array(campaign + 1),
        "customer": pa.array(customer_of_campaign[campaign] + 1),
        "brand": brand,
        "price": pa.array(price),
    })


def _profile_groups(rng: np.random.Generator, n_users: int) -> np.ndarray:
    """(U,) cms_group_id 0-12: gender (1, 2) x age level (0-6), the women's groups from 6."""
    gender = rng.integers(0, 2, n_users)
    age = rng.integers(0, 7, n_users)
    return np.minimum(gender * 6 + age, GROUPS - 1)


def _user_profile(rng: np.random.Generator, group: np.ndarray) -> pa.Table:
    """About 7 % of users have no profile row, as in the real data."""
    n_users = len(group)
    kept = np.flatnonzero(rng.random(n_users) >= 0.07)
    n = len(kept)
    gender = np.where(group[kept] >= 6, 2, 1)
    age = np.where(group[kept] >= 6, group[kept] - 6, group[kept])
    segid = np.where(rng.random(n) < 0.9, 0, rng.integers(1, 97, n))
    return pa.table({
        "userid": pa.array(kept + 1),
        "cms_segid": pa.array(segid),
        "cms_group_id": pa.array(group[kept]),
        "final_gender_code": pa.array(gender),
        "age_level": pa.array(age),
        "pvalue_level": _levels(rng, n, 3, missing=0.5),
        "shopping_level": pa.array(rng.integers(1, 4, n)),
        "occupation": pa.array((rng.random(n) < 0.06).astype(np.int64)),
        "new_user_class_level": _levels(rng, n, 4, missing=0.3),
    })


def _levels(rng: np.random.Generator, n: int, levels: int, missing: float) -> pa.Array:
    """Levels 1..`levels` as floats, a share `missing` of them empty (the real columns' type)."""
    values = rng.integers(1, levels + 1, n).astype(np.float64)
    return pa.array(values, mask=rng.random(n) < missing)
