"""Held-out rows as served (training.split.EvalMode), on a hand-made log whose features are known:
`cutoff` gives users and items their state after all train events; `online` recounts the user's
state from every logged event strictly before the row (train, valid and test; ties excluded),
items still at the cutoff."""

import numpy as np
import pandas as pd
import pytest
import torch

from training.dataset import HistoryWindows
from training.encoded import EncodedData, EncodedSplit
from training.features import encode_dataset
from training.schema import DatasetSchema
from training.split import EvalMode, HeldOut
from training.tables import RawData

SCHEMA = DatasetSchema.model_validate({
    "name": "toy",
    "interactions": {"file": "i.csv", "user_id": "u", "item_id": "i", "label": {"column": "y"},
                     "timestamp": "t"},
    "users": {"id": "u", "label_rate": True, "history": {"max_len": 2}},
    "items": {"id": "i", "label_rate": True},
})
# (user, item, label, time): rows 0-3 train, 4-5 valid, 6-8 test. Row 7 ties with row 5 at t=4.
LOG = [("a", "x", 1, 1), ("a", "y", 0, 2), ("b", "x", 1, 1), ("b", "z", 1, 3),
       ("a", "z", 1, 5), ("b", "y", 1, 4),
       ("a", "y", 1, 6), ("b", "x", 0, 4), ("b", "y", 1, 7)]
SPLITS = {"train": np.arange(0, 4), "valid": np.arange(4, 6), "test": np.arange(6, 9)}


def _encode(labels: list[int] | None = None) -> EncodedData:
    users, items, label, time = zip(*LOG, strict=True)
    inter = pd.DataFrame({"user_id": users, "item_id": items,
                          "label": np.array(labels or label, np.float32),
                          "timestamp": np.array(time, np.int64)})
    user_table = pd.DataFrame(index=pd.Index(["a", "b"], name="user_id"))
    item_table = pd.DataFrame(index=pd.Index(["x", "y", "z"], name="item_id"))
    return encode_dataset(RawData(SCHEMA, inter, user_table, item_table), SPLITS)


def _history(data: EncodedData, split: EncodedSplit) -> np.ndarray:
    """(N, 2) history tokens of each row as batches see them, most recent first."""
    if split.history is None:
        return data.users.seq[-1][split.user_row]
    return HistoryWindows(split.history, 2, torch.device("cpu")).gather(
        torch.arange(len(split))).numpy()


def _held_out(data: EncodedData, mode: EvalMode) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user numerics, item numerics, history tokens) of the valid then test rows (4-8)."""
    parts = [data.held_out[mode][split] for split in HeldOut]
    return (np.concatenate([p.user_num for p in parts]),
            np.concatenate([p.item_num for p in parts]),
            np.concatenate([_history(data, p) for p in parts]))


def _tokens(data: EncodedData) -> dict[str, int]:
    return {str(i): int(data.items.cat[r, 0]) for r, i in enumerate(data.items.ids)}


@pytest.mark.parametrize("mode, counts, positives, histories", [
    # cutoff: a has 2 train events (1 positive: x), b has 2 (both positive, z latest)
    (EvalMode.cutoff, [2, 2, 2, 2, 2], [1, 2, 1, 2, 2],
     [["x", ""], ["z", "x"], ["x", ""], ["z", "x"], ["z", "x"]]),
    # online: row 6 also sees valid row 4 (a, z, +); row 7 at t=4 not row 5 (a tie); row 8 sees
    # rows 2, 3, 5 (b, y, +) and 7 (b, x, -)
    (EvalMode.online, [2, 2, 3, 2, 4], [1, 2, 2, 2, 3],
     [["x", ""], ["z", "x"], ["z", "x"], ["z", "x"], ["y", "z"]]),
])
def test_held_out_rows_see_the_state_their_mode_serves(
        mode: EvalMode, counts: list[int], positives: list[int],
        histories: list[list[str]]) -> None:
    data = _encode()
    token = {**_tokens(data), "": 0}
    user_num, item_num, history = _held_out(data, mode)
    stat = data.user_codec.label_stat
    assert stat is not None
    np.testing.assert_allclose(user_num[:, -2:],
                               stat.columns(np.array(counts), np.array(positives)), atol=1e-6)
    np.testing.assert_array_equal(history, [[token[i] for i in h] for h in histories])
    # items stay at the cutoff in both modes: x 2 events (2 +), y 1 (0 +), z 1 (1 +)
    item_stat = data.item_codec.label_stat
    assert item_stat is not None
    cutoff = {"x": (2, 2), "y": (1, 0), "z": (1, 1)}
    items = [LOG[r][1] for r in range(4, 9)]
    np.testing.assert_allclose(
        item_num[:, -2:],
        item_stat.columns(*(np.array([cutoff[i][k] for i in items]) for k in (0, 1))), atol=1e-6)


def test_a_held_out_row_never_sees_its_own_label_but_later_rows_see_it_online() -> None:
    base = _encode()
    labels = [label for *_, label, _ in LOG]
    flipped = _encode([1 - v if r == 4 else v for r, v in enumerate(labels)])  # valid row 4
    for mode in EvalMode:
        (before, _, _), (after, _, _) = _held_out(base, mode), _held_out(flipped, mode)
        np.testing.assert_array_equal(before[0], after[0])  # row 4 itself
        moved = not np.array_equal(before[2], after[2])  # row 6: user a at t=6
        assert moved is (mode is EvalMode.online)
    # training rows and the stored tables never see a held-out label
    np.testing.assert_array_equal(base.train.user_num, flipped.train.user_num)
    np.testing.assert_array_equal(base.users.num, flipped.users.num)
    np.testing.assert_array_equal(base.users.seq[-1], flipped.users.seq[-1])
