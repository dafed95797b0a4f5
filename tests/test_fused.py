"""The fused CPU kernel is the FE-Block score: equal to index_select + score_one_vs_n."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.interaction import score_one_vs_n
from model.item_vectors import ItemVectors
from model.kernels.aligned import CACHE_LINE, aligned_copy
from model.kernels.fused import LANES, PREFETCH_AHEAD, _maxsim_rows, maxsim_rows


def _reference(items: np.ndarray, rows: np.ndarray, user: np.ndarray) -> np.ndarray:
    gathered = torch.from_numpy(items).index_select(0, torch.from_numpy(rows))
    return score_one_vs_n(torch.from_numpy(user), gathered).numpy()


# Item heads 1..8: fewer than, exactly and more than the four the kernel takes per pass; user
# rows 2..20: fewer than, exactly and more than the 16 it scores side by side (LANES).
@pytest.mark.parametrize(("item_heads", "user_rows", "dim"),
                         [(1, 3, 8), (2, 4, 8), (3, 6, 16), (4, 12, 32), (5, 2, 32), (8, 12, 4),
                          (3, LANES, 16), (4, LANES + 4, 32)])
def test_the_fused_kernel_equals_gather_then_score_one_vs_n(item_heads: int, user_rows: int,
                                                            dim: int) -> None:
    rng = np.random.default_rng(item_heads)
    items = rng.standard_normal((300, item_heads, dim), dtype=np.float32)
    user = rng.standard_normal((user_rows, dim), dtype=np.float32)
    rows = rng.integers(0, len(items), 257)  # duplicates and any order, like a request
    np.testing.assert_allclose(maxsim_rows(ItemVectors(items), rows, user),
                               _reference(items, rows, user), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("item_heads", "user_rows", "dim"),
                         [(1, 3, 8), (4, 12, 32), (5, 2, 32), (4, LANES + 4, 32)])
def test_int8_codes_score_as_their_dequantised_heads_and_near_the_float_ones(
        item_heads: int, user_rows: int, dim: int) -> None:
    rng = np.random.default_rng(item_heads)
    heads = rng.standard_normal((300, item_heads, dim), dtype=np.float32)
    heads[7, 0] = 0  # a zero head: scale 0, codes 0
    user = rng.standard_normal((user_rows, dim), dtype=np.float32)
    rows = rng.integers(0, len(heads), 257)
    codes = ItemVectors.encode(heads, "int8")
    scored = maxsim_rows(codes, rows, user)
    np.testing.assert_allclose(scored, _reference(codes.dequantised(), rows, user), rtol=1e-5,
                               atol=1e-4)
    # Rounding moves each head's dot product by at most (s/2)·Σ_j |u_j|, so each max by at most
    # the largest of those over the item's heads, and the score by their sum over user rows.
    half_steps = codes.scales[rows] / 2  # (N, Hi)
    bound = (half_steps.max(axis=1)[:, None] * np.abs(user).sum(axis=1)).sum(axis=1)
    assert (np.abs(scored - _reference(heads, rows, user)) <= bound + 1e-4).all()


def test_int8_encoding_keeps_each_head_within_half_a_step() -> None:
    heads = np.random.default_rng(0).standard_normal((50, 4, 32), dtype=np.float32) * 3
    codes = ItemVectors.encode(heads, "int8")
    assert codes.values.dtype == np.int8 and codes.scales.shape == (50, 4)
    assert np.abs(codes.values).max() == 127  # each head's largest component uses the full range
    error = np.abs(codes.dequantised() - heads)
    assert (error <= codes.scales[..., None] / 2 + 1e-6).all()


@pytest.mark.parametrize("count", [0, 1, PREFETCH_AHEAD, PREFETCH_AHEAD + 1])
def test_short_candidate_lists_score_every_row_and_prefetch_none_past_the_end(count: int) -> None:
    rng = np.random.default_rng(count)
    items = rng.standard_normal((10, 4, 8), dtype=np.float32)
    user = rng.standard_normal((6, 8), dtype=np.float32)
    rows = np.arange(10 - count, 10)  # the last rows of the catalogue
    for stored in (ItemVectors(items), ItemVectors.encode(items, "int8")):
        np.testing.assert_allclose(maxsim_rows(stored, rows, user),
                                   _reference(stored.dequantised(), rows, user), rtol=1e-5,
                                   atol=1e-4)


def test_the_item_offsets_and_the_bias_are_added_row_by_row() -> None:
    rng = np.random.default_rng(3)
    items = rng.standard_normal((40, 4, 8), dtype=np.float32)
    user = rng.standard_normal((12, 8), dtype=np.float32)
    offsets = rng.standard_normal(40, dtype=np.float32)
    rows = rng.integers(0, 40, 30)  # more than PREFETCH_AHEAD: the offsets are prefetched too
    for stored in (ItemVectors(items), ItemVectors.encode(items, "int8")):
        expected = _reference(stored.dequantised(), rows, user) + offsets[rows] - 0.5
        np.testing.assert_allclose(maxsim_rows(stored, rows, user, offsets, bias=-0.5),
                                   expected, rtol=1e-5, atol=1e-4)


def test_ordinary_inputs_run_the_kernels_compiled_at_import() -> None:
    # Those two are compiled with the SLP vectoriser; a lazily compiled one would run without it.
    items = np.random.default_rng(0).standard_normal((20, 4, 8), dtype=np.float32)
    rows, user = np.array([3, 1, 3], np.int32), np.ones((12, 8))  # int32 rows, a float64 user
    for stored in (ItemVectors(items), ItemVectors.encode(items, "int8").aligned()):
        maxsim_rows(stored, rows, user)
        maxsim_rows(stored, rows, user, np.zeros(20, np.float32), bias=1.0)
    assert len(_maxsim_rows.signatures) == 2


def test_aligned_copies_start_on_a_cache_line_and_keep_the_values() -> None:
    array = np.random.default_rng(0).standard_normal((7, 4, 32), dtype=np.float32)[1:]
    copy = aligned_copy(array)
    assert copy.ctypes.data % CACHE_LINE == 0
    assert copy.flags.c_contiguous and copy.flags.writeable
    np.testing.assert_array_equal(copy, array)
