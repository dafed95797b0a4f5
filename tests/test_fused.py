"""The fused CPU kernel is the FE-Block score: equal to index_select + score_one_vs_n."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.aligned import CACHE_LINE, aligned_copy
from model.fused import PREFETCH_AHEAD, maxsim_rows
from model.interaction import score_one_vs_n


def _reference(items: np.ndarray, rows: np.ndarray, user: np.ndarray) -> np.ndarray:
    gathered = torch.from_numpy(items).index_select(0, torch.from_numpy(rows))
    return score_one_vs_n(torch.from_numpy(user), gathered).numpy()


# Item heads 1..8: fewer than, exactly and more than the four the kernel takes per pass.
@pytest.mark.parametrize(("item_heads", "user_rows", "dim"),
                         [(1, 3, 8), (2, 4, 8), (3, 6, 16), (4, 12, 32), (5, 2, 32), (8, 12, 4)])
def test_the_fused_kernel_equals_gather_then_score_one_vs_n(item_heads: int, user_rows: int,
                                                            dim: int) -> None:
    rng = np.random.default_rng(item_heads)
    items = rng.standard_normal((300, item_heads, dim), dtype=np.float32)
    user = rng.standard_normal((user_rows, dim), dtype=np.float32)
    rows = rng.integers(0, len(items), 257)  # duplicates and any order, like a request
    np.testing.assert_allclose(maxsim_rows(items, rows, user), _reference(items, rows, user),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("count", [0, 1, PREFETCH_AHEAD, PREFETCH_AHEAD + 1])
def test_short_candidate_lists_score_every_row_and_prefetch_none_past_the_end(count: int) -> None:
    rng = np.random.default_rng(count)
    items = rng.standard_normal((10, 4, 8), dtype=np.float32)
    user = rng.standard_normal((6, 8), dtype=np.float32)
    rows = np.arange(10 - count, 10)  # the last rows of the catalogue
    np.testing.assert_allclose(maxsim_rows(items, rows, user), _reference(items, rows, user),
                               rtol=1e-5, atol=1e-5)


def test_aligned_copies_start_on_a_cache_line_and_keep_the_values() -> None:
    array = np.random.default_rng(0).standard_normal((7, 4, 32), dtype=np.float32)[1:]
    copy = aligned_copy(array)
    assert copy.ctypes.data % CACHE_LINE == 0
    assert copy.flags.c_contiguous and copy.flags.writeable
    np.testing.assert_array_equal(copy, array)
