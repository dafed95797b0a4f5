"""One chunk of users' activity in the Taobao shape (training.synth_taobao): their behaviour
events, their ad impressions and the hidden logit of each impression's click.

The hidden model: every user has 1-8 interest categories, drawn from the categories' popularity
tilted by their profile group's affinity, and a favourite brand in each. Behaviour events fall
mostly (85 %) in the interest categories, on the favourite brand more often than not; about 90 %
are page views. Half the impressions target one of the user's interests, half follow the ads'
popularity. A click's logit = bias + 0.9 log1p(the user's events on the ad's category in the 3
days before the impression) + 0.6 log1p(events on the ad's brand at any earlier time) + the
group's affinity for the category + the ad's quality + the placement's (pid) effect. Behaviour
strictly before the impression counts, and a chunk holds each user's events and impressions
together, so the counts are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from training.synth import sample

DAY = 86_400
END = 1_494_691_200  # 2017-05-13 16:00 UTC, the real log's last day
IMPRESSION_DAYS, BEHAVIOUR_DAYS, RECENT_DAYS = 8, 22, 3
GROUPS = 13  # cms_group_id: gender (2) x age level (0-6), 0-12
MAX_INTERESTS = 8
BTAGS = pa.array(["pv", "cart", "fav", "buy"])
BTAG_SHARE = [0.90, 0.045, 0.03, 0.025]
PIDS = pa.array(["430548_1007", "430539_1007"])
WEIGHT_CATE, WEIGHT_BRAND = 0.9, 0.6


@dataclass(frozen=True)
class Catalogue:
    """Categories, brands and ads, and the hidden truth about them."""

    category_cdf: np.ndarray  # (C,) popularity
    brand_start: np.ndarray  # (C,) brands of category c are brand_start[c] + [0, brand_count[c])
    brand_count: np.ndarray  # (C,)
    ad_cate: np.ndarray  # (A,)
    ad_brand: np.ndarray  # (A,) -1 where ad_feature leaves it empty
    ad_quality: np.ndarray  # (A,)
    ad_cdf: np.ndarray  # (A,) impression popularity
    ads_by_cate: np.ndarray  # (A,) ad rows sorted by category
    cate_ad_start: np.ndarray  # (C + 1,) category c's ads: ads_by_cate[start[c]:start[c + 1]]
    affinity: np.ndarray  # (GROUPS, C) how much each profile group likes each category


def activity(rng: np.random.Generator, c: Catalogue, users: np.ndarray,
           group: np.ndarray, events: np.ndarray, shown: np.ndarray
           ) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """The behaviour events and impressions of a chunk of `users` (their profile `group`, their
    number of `events` and of impressions `shown`), and each impression's click logit less the
    bias."""
    n_cate, n_brand = len(c.category_cdf), int(c.brand_count.sum())
    # Interests (U', MAX_INTERESTS): the first k[u] slots count; popular and group-liked first.
    tilted = np.exp(c.affinity)
    k = np.minimum(1 + rng.poisson(2.5, len(users)), MAX_INTERESTS)
    interests = np.empty((len(users), MAX_INTERESTS), np.int64)
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        liked = cdf(np.diff(c.category_cdf, prepend=0.0) * tilted[g])
        interests[rows] = sample(rng, liked, (len(rows), MAX_INTERESTS))
    favourite = c.brand_start[interests] + (
        rng.random(interests.shape) * c.brand_count[interests]).astype(np.int64)

    # Behaviour events: (E,) rows of the chunk's users.
    owner = np.repeat(np.arange(len(users)), events)
    slot = (rng.random(len(owner)) * k[owner]).astype(np.int64)
    cate = interests[owner, slot]
    wander = rng.random(len(owner)) >= 0.85
    cate[wander] = sample(rng, c.category_cdf, int(wander.sum()))
    brand = c.brand_start[cate] + (rng.random(len(owner)) * c.brand_count[cate]).astype(np.int64)
    loyal = (rng.random(len(owner)) < 0.6) & ~wander
    brand[loyal] = favourite[owner[loyal], slot[loyal]]
    start = END - BEHAVIOUR_DAYS * DAY
    event_time = rng.integers(start, END, len(owner))
    btag = sample(rng, cdf(np.array(BTAG_SHARE)), len(owner))
    behaviour = pa.table({
        "user": pa.array(users[owner] + 1),
        "time_stamp": pa.array(event_time),
        "btag": _strings(btag, BTAGS),
        "cate": pa.array(cate + 1),
        "brand": pa.array(brand + 1),
    })

    # Impressions: (I,) rows, half targeted at an interest category, half by popularity.
    viewer = np.repeat(np.arange(len(users)), shown)
    ad = sample(rng, c.ad_cdf, len(viewer))
    targeted = rng.random(len(viewer)) < 0.5
    wanted = interests[viewer, (rng.random(len(viewer)) * k[viewer]).astype(np.int64)]
    have = c.cate_ad_start[wanted + 1] - c.cate_ad_start[wanted]
    targeted &= have > 0
    pick = c.cate_ad_start[wanted] + (rng.random(len(viewer)) * have).astype(np.int64)
    ad[targeted] = c.ads_by_cate[pick[targeted]]
    shown_at = rng.integers(END - IMPRESSION_DAYS * DAY, END, len(viewer))
    pid = (rng.random(len(viewer)) < 0.3).astype(np.int64)
    impressions = pa.table({
        "user": pa.array(users[viewer] + 1),
        "time_stamp": pa.array(shown_at),
        "adgroup_id": pa.array(ad + 1),
        "pid": _strings(pid, PIDS),
    })

    # Counts of the viewer's events strictly before the impression, via sorted (key, time).
    on_cate = _count_before(owner * n_cate + cate, event_time - start,
                            viewer * n_cate + c.ad_cate[ad], shown_at - start, RECENT_DAYS * DAY)
    ad_brand = c.ad_brand[ad]
    on_brand = _count_before(owner * n_brand + brand, event_time - start,
                             viewer * n_brand + np.maximum(ad_brand, 0), shown_at - start,
                             BEHAVIOUR_DAYS * DAY)
    on_brand[ad_brand < 0] = 0
    logit = (WEIGHT_CATE * np.log1p(on_cate) + WEIGHT_BRAND * np.log1p(on_brand)
             + 0.5 * c.affinity[group[viewer], c.ad_cate[ad]] + c.ad_quality[ad]
             + np.where(pid == 1, -0.3, 0.0))
    return behaviour, impressions, logit


def _count_before(event_key: np.ndarray, event_time: np.ndarray, query_key: np.ndarray,
                  query_time: np.ndarray, window: int) -> np.ndarray:
    """(Q,) for each query, the events with its key and a time in [time - window, time): ties
    excluded. Keys and times are non-negative; a time is below BEHAVIOUR_DAYS + 1 days."""
    span = (BEHAVIOUR_DAYS + 1) * DAY
    sorted_events = np.sort(event_key * span + event_time)
    upto = np.searchsorted(sorted_events, query_key * span + query_time, side="left")
    since = np.searchsorted(sorted_events, query_key * span + np.maximum(query_time - window, 0),
                            side="left")
    return upto - since


def _strings(codes: np.ndarray, values: pa.Array) -> pa.Array:
    """A string column stored with a dictionary (a few distinct values)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), values)


def cdf(weight: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weight)
    return cdf / cdf[-1]

