"""Synthetic interactions, users and items with a schema file, for tests and scale benchmarks.

A hidden model generates the labels, so there is something to learn:
- Every user and item has a latent vector. A user's is its segment's centroid plus noise; an
  item's is its category's centroid plus its tags' mean vector plus noise. The features thus carry
  part of what the ids carry fully, which is what cold users and items have to go on.
- One more latent dimension pairs the user's age with a per-category age preference.
- logit = bias + <u, v> + user effect (region + personal bias) + item quality; price grows with
  quality; the bias is calibrated so that about 68 % of labels are positive.
- Item popularity is Zipf-like, user activity log-normal, and timestamps grow with the row
  number. About 0.5 % of users and of items (at least one each) never interact.
Everything is vectorised numpy/pyarrow and interactions are written in chunks, so 1M items and
10M interactions take well under 1 GB of memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from training.schema import (
    DatasetSchema,
    EntityTable,
    FeatureColumn,
    FeatureKind,
    HistorySpec,
    InteractionTable,
    LabelSpec,
)

LATENT_DIM = 8
SEGMENTS, REGIONS, CATEGORIES, TAGS, MAX_TAGS = 8, 50, 20, 30, 4
POSITIVE_RATE = 0.68
CHUNK = 1_000_000  # interaction rows generated and written at a time
START, SPAN = 1_600_000_000, 180 * 86_400  # timestamps: 180 days from 2020-09-13
# Latent scales: the dot product of a user and an item latent has a standard deviation near 1.
CENTROID_STD, NOISE_STD = 0.45, 0.35


@dataclass(frozen=True)
class _Side:
    """One tower's table plus the hidden truth that drives the labels."""

    table: pa.Table
    latent: np.ndarray  # (n, LATENT_DIM + 1) float32
    effect: np.ndarray  # (n,) float32, added to the logit
    cdf: np.ndarray  # (n,) cumulative sampling weight; flat steps for ids that never interact


def generate(
    out_dir: Path,
    users: int,
    items: int,
    interactions: int,
    seed: int = 0,
    fmt: Literal["csv", "parquet"] = "parquet",
    integer_item_ids: bool = False,
) -> Path:
    """Write `interactions.<fmt>`, `users.<fmt>`, `items.<fmt>` and `schema.yaml` into `out_dir`;
    return the schema's path. The same arguments always give the same files.

    Items are named "i0", "i1", ...; with `integer_item_ids`, "0", "1", ...: canonical decimal
    integers, the catalogues the service looks up without strings (model.kernels.id_index). The data
    is otherwise the same."""
    if users < 2 or items < 2 or interactions < 1:
        raise ValueError("need at least 2 users, 2 items and 1 interaction")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    user_side = _users(rng, users)
    item_side = _items(rng, items, prefix="" if integer_item_ids else "i")
    _write(user_side.table, out_dir / f"users.{fmt}", fmt)
    _write(item_side.table, out_dir / f"items.{fmt}", fmt)
    _write_interactions(
        rng, user_side, item_side, interactions, out_dir / f"interactions.{fmt}", fmt
    )
    path = out_dir / "schema.yaml"
    _schema(fmt).dump(path)
    return path


def _schema(fmt: Literal["csv", "parquet"]) -> DatasetSchema:
    return DatasetSchema(
        name="synth",
        interactions=InteractionTable(
            file=f"interactions.{fmt}",
            format=fmt,
            user_id="user_id",
            item_id="item_id",
            timestamp="timestamp",
            label=LabelSpec(column="label"),
        ),
        users=EntityTable(
            file=f"users.{fmt}",
            format=fmt,
            id="user_id",
            label_rate=True,
            history=HistorySpec(max_len=20),
            features=[
                FeatureColumn(column="segment"),
                FeatureColumn(column="region"),
                FeatureColumn(column="age", kind=FeatureKind.numeric),
            ],
        ),
        items=EntityTable(
            file=f"items.{fmt}",
            format=fmt,
            id="item_id",
            label_rate=True,
            label_rate_in="score",  # out of the precomputed item tower, as the MovieLens schemas
            features=[
                FeatureColumn(column="category"),
                FeatureColumn(column="tags", kind=FeatureKind.multi, sep="|", max_len=MAX_TAGS),
                FeatureColumn(column="price", kind=FeatureKind.numeric),
            ],
        ),
    )


def _users(rng: np.random.Generator, n: int) -> _Side:
    segment = rng.integers(SEGMENTS, size=n)
    region = rng.integers(REGIONS, size=n)
    age = np.clip(np.rint(22 + 5 * segment + rng.normal(0, 8, n)), 16, 80).astype(np.int64)
    centroids = rng.normal(0, CENTROID_STD, (SEGMENTS, LATENT_DIM))
    latent = centroids[segment] + rng.normal(0, NOISE_STD, (n, LATENT_DIM))
    age_z = (age - 45) / 15  # meets each category's age preference in the last dimension
    region_effect = rng.normal(0, 0.4, REGIONS)
    effect = region_effect[region] + rng.normal(0, 0.5, n)
    table = pa.table(
        {
            "user_id": _names("u", np.arange(n)),
            "segment": _names("s", segment),
            "region": _names("r", region, width=2),
            "age": age,
        }
    )
    activity = rng.lognormal(0, 1, n)
    return _Side(table, _stack(latent, age_z), effect.astype(np.float32), _cdf(rng, activity))


def _items(rng: np.random.Generator, n: int, prefix: str) -> _Side:
    """The items table and the truth behind it; item k is named `prefix` + "k"."""
    category = rng.integers(CATEGORIES, size=n)
    tags, n_tags = _tags(rng, category)
    centroids = rng.normal(0, CENTROID_STD, (CATEGORIES, LATENT_DIM))
    tag_vectors = rng.normal(0, CENTROID_STD, (TAGS, LATENT_DIM))
    tag_mean = sum(tag_vectors[tags[:, j]] * (j < n_tags)[:, None] for j in range(MAX_TAGS))
    latent = (
        centroids[category]
        + 0.5 * tag_mean / n_tags[:, None]
        + rng.normal(0, NOISE_STD, (n, LATENT_DIM))
    )
    age_preference = rng.normal(0, 0.5, CATEGORIES)
    quality = rng.normal(0, 0.6, n)
    category_price = rng.normal(0, 1, CATEGORIES)
    price = np.round(
        np.exp(3 + 0.3 * category_price[category] + 0.6 * quality + rng.normal(0, 0.3, n)), 2
    )
    kept = np.arange(MAX_TAGS)[None, :] < n_tags[:, None]
    tag_lists = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(n_tags)]), pa.int32()),
        _names("t", tags[kept], width=2),
    )
    table = pa.table(
        {
            "item_id": _names(prefix, np.arange(n)),
            "category": _names("c", category, width=2),
            "tags": pc.binary_join(tag_lists, "|"),
            "price": price,
        }
    )
    # Zipf-like popularity over a random order of items.
    popularity = 1.0 / (1.0 + rng.permutation(n)) ** 0.9
    return _Side(
        table,
        _stack(latent, age_preference[category]),
        quality.astype(np.float32),
        _cdf(rng, popularity),
    )


def _tags(rng: np.random.Generator, category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, MAX_TAGS) distinct tags per item, drawn from its category's tag distribution (the
    first `n_tags` of each row are used), and `n_tags` in 1..MAX_TAGS."""
    tag_probs = rng.dirichlet(np.full(TAGS, 0.3), CATEGORIES).astype(np.float32)
    # Gumbel top-k: the k largest of log p + Gumbel noise are a sample without replacement.
    gumbel = rng.gumbel(size=(len(category), TAGS)).astype(np.float32)
    scores = np.log(tag_probs[category] + 1e-12) + gumbel
    top = np.argsort(-scores, axis=1)[:, :MAX_TAGS]
    return top, rng.integers(1, MAX_TAGS + 1, size=len(category))


def _write_interactions(
    rng: np.random.Generator,
    users: _Side,
    items: _Side,
    n: int,
    path: Path,
    fmt: Literal["csv", "parquet"],
) -> None:
    # The bias is calibrated on pairs drawn like the real ones.
    pairs = min(n, 100_000)
    bias = calibrate_bias(
        _logits(users, items, sample(rng, users.cdf, pairs), sample(rng, items.cdf, pairs)),
        POSITIVE_RATE,
    )
    user_ids, item_ids = users.table.column("user_id"), items.table.column("item_id")
    schema = pa.schema(
        [
            ("user_id", pa.string()),
            ("item_id", pa.string()),
            ("label", pa.int8()),
            ("timestamp", pa.int64()),
        ]
    )
    writer = pq.ParquetWriter(path, schema) if fmt == "parquet" else pcsv.CSVWriter(path, schema)
    with writer:
        for lo in range(0, n, CHUNK):
            size = min(CHUNK, n - lo)
            user_row, item_row = sample(rng, users.cdf, size), sample(rng, items.cdf, size)
            logit = bias + _logits(users, items, user_row, item_row)
            label = rng.random(size) < 1.0 / (1.0 + np.exp(-logit))
            writer.write_table(
                pa.table(
                    {
                        "user_id": user_ids.take(user_row),
                        "item_id": item_ids.take(item_row),
                        "label": label.astype(np.int8),
                        "timestamp": START + np.arange(lo, lo + size, dtype=np.int64) * SPAN // n,
                    },
                    schema=schema,
                )
            )


def _logits(users: _Side, items: _Side, user_row: np.ndarray, item_row: np.ndarray) -> np.ndarray:
    dot = np.einsum("nd,nd->n", users.latent[user_row], items.latent[item_row])
    return dot + users.effect[user_row] + items.effect[item_row]


def calibrate_bias(logits: np.ndarray, rate: float) -> float:
    """The bias that makes the mean of sigmoid(bias + logits) `rate` (bisection; the mean grows
    with the bias)."""
    lo, hi = -20.0, 20.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(mid + logits)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _cdf(rng: np.random.Generator, weight: np.ndarray) -> np.ndarray:
    """Cumulative sampling distribution with a few random ids (0.5 %, at least one) left out."""
    weight = weight.copy()
    weight[rng.choice(len(weight), max(1, len(weight) // 200), replace=False)] = 0.0
    cdf = np.cumsum(weight)
    return cdf / cdf[-1]


def sample(rng: np.random.Generator, cdf: np.ndarray, size: int | tuple[int, ...]
           ) -> np.ndarray:
    """Indices drawn with the probabilities of the cumulative distribution `cdf`."""
    # side="right" never lands on a zero-weight id: its cdf step is empty.
    return np.searchsorted(cdf, rng.random(size), side="right")


def _stack(latent: np.ndarray, extra: np.ndarray) -> np.ndarray:
    return np.column_stack([latent, extra]).astype(np.float32)


def _names(prefix: str, codes: np.ndarray, width: int = 0) -> pa.Array:
    """`prefix` + the decimal code, zero-padded to `width` digits: ("r", 7, 2) -> "r07"."""
    digits = pc.cast(pa.array(codes), pa.string())
    if width:
        digits = pc.utf8_lpad(digits, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _write(table: pa.Table, path: Path, fmt: Literal["csv", "parquet"]) -> None:
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pcsv.write_csv(table, path)
