"""The faiss item index: exact search, IVF, the dot ablation, save/load, the bundle file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model import store
from model.bundle import ITEM_INDEX, load_bundle
from model.item_index import ItemIndex, build_item_index, index_rows, query_rows
from training.trainer import TrainResult


def _vectors(n: int, heads: int = 3, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, heads, dim)).astype(np.float32)


def _brute_force_items(vectors: np.ndarray, queries: np.ndarray, depth: int) -> np.ndarray:
    """Items owning each query's `depth` best head vectors by inner product, unioned."""
    sims = queries @ index_rows(vectors).T  # (Q, N*Hi)
    best = np.argsort(-sims, axis=1, kind="stable")[:, :depth]
    return np.unique(best // vectors.shape[1])


def test_exact_search_returns_the_items_of_each_querys_best_head_vectors() -> None:
    vectors = _vectors(50)
    queries = _vectors(4, heads=2, seed=1).reshape(-1, 8)  # 8 user rows
    index = build_item_index(vectors)
    assert index.describe() == {"kind": "flat", "rows": 150, "dim": 8, "rows_per_item": 3}
    np.testing.assert_array_equal(index.search(queries, 5), _brute_force_items(vectors, queries, 5))


def test_depth_beyond_the_index_returns_every_item_once() -> None:
    vectors = _vectors(7)
    rows = build_item_index(vectors).search(np.ones((2, 8), np.float32), 10_000)
    np.testing.assert_array_equal(rows, np.arange(7))


def test_large_catalogues_get_an_ivf_index_that_is_exact_when_every_cell_is_probed(
    tmp_path: Path,
) -> None:
    vectors = _vectors(400)
    index = build_item_index(vectors, exact_max_rows=100, nprobe=10_000)
    assert index.describe()["kind"] == "ivf"
    queries = _vectors(2, seed=2).reshape(-1, 8)
    expected = _brute_force_items(vectors, queries, 20)
    np.testing.assert_array_equal(index.search(queries, 20), expected)
    index.save(tmp_path / "ivf.faiss")  # nprobe survives the file
    np.testing.assert_array_equal(
        ItemIndex.load(tmp_path / "ivf.faiss", vectors.shape).search(queries, 20), expected
    )


def test_the_dot_ablation_indexes_one_flat_row_per_item() -> None:
    vectors = _vectors(30, heads=2)
    user = _vectors(3, heads=2, seed=4)  # (L=3, Hu=2, d=8)
    index = build_item_index(vectors, fe_block=False)
    assert index.describe()["rows_per_item"] == 1
    query = query_rows(user, fe_block=False)  # (1, Hu*d): the last layer, flattened
    best = np.argsort(-(vectors.reshape(30, -1) @ user[-1].reshape(-1)))[:4]
    np.testing.assert_array_equal(index.search(query, 4), np.sort(best))


def test_loading_an_index_built_for_other_vectors_fails(tmp_path: Path) -> None:
    build_item_index(_vectors(10)).save(tmp_path / "index.faiss")
    with pytest.raises(ValueError, match="holds 30 rows of 8"):
        ItemIndex.load(tmp_path / "index.faiss", _vectors(11).shape)


def test_published_bundles_carry_an_index_over_their_item_vectors(
    trained: TrainResult, trained_artifacts: Path
) -> None:
    path = store.current_path(trained_artifacts)
    bundle = load_bundle(path)
    assert ITEM_INDEX in bundle.manifest["files"]  # hashed like every other file
    assert bundle.manifest["item_index"] == bundle.item_index.describe()
    queries = np.random.default_rng(5).standard_normal((4, bundle.config.head_dim), np.float32)
    expected = _brute_force_items(bundle.item_vectors.dequantised(), queries, 10)
    np.testing.assert_array_equal(bundle.item_index.search(queries, 10), expected)


def test_a_bundle_whose_manifest_lists_no_index_is_refused(trained_artifacts: Path,
                                                           tmp_path: Path) -> None:
    path = shutil.copytree(store.current_path(trained_artifacts), tmp_path / "bundle")
    manifest = json.loads((path / store.MANIFEST).read_text())
    del manifest["files"][ITEM_INDEX]
    (path / store.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(store.BundleError, match=f"lists no {ITEM_INDEX}"):
        load_bundle(path)
