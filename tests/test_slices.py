"""Large inputs are cut into slices computed on several threads, joined in order; small ones
stay on the calling thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from service.slices import SlicePool


@pytest.mark.parametrize("length", [0, 1, 199, 200, 201, 1_001])
def test_sliced_results_equal_one_call_over_the_whole_input(length: int) -> None:
    rows = np.random.default_rng(length).integers(0, 1_000, length)
    pool = SlicePool(threads=3, min_rows=100)
    np.testing.assert_array_equal(pool.map(lambda part: part * 2.5, rows), rows * 2.5)


def test_only_inputs_of_two_slices_or_more_leave_the_calling_thread() -> None:
    pool = SlicePool(threads=4, min_rows=100)
    seen: list[tuple[int, int]] = []

    def kernel(part: np.ndarray) -> np.ndarray:
        seen.append((threading.get_ident(), len(part)))
        return part

    pool.map(kernel, np.arange(199))  # one slice's worth
    assert seen == [(threading.get_ident(), 199)]
    seen.clear()
    pool.map(kernel, np.arange(1_000))  # capped at four slices, one on this thread
    assert sorted(length for _, length in seen) == [250, 250, 250, 250]
    assert threading.get_ident() in {thread for thread, _ in seen}
    assert len({thread for thread, _ in seen}) > 1


def test_one_thread_never_slices() -> None:
    assert SlicePool(threads=1, min_rows=1).map(lambda part: part + 1, np.arange(5)).tolist() == [
        1, 2, 3, 4, 5]
