"""Leakage: every statistic is fitted on train rows only, and a train row never sees its label."""

import numpy as np
import pandas as pd
import pytest

from training.features import SMOOTHING, encode_dataset
from training.schema import DatasetSchema
from training.tables import RawData

SCHEMA = DatasetSchema.model_validate({
    "name": "toy",
    "interactions": {"file": "i.csv", "user_id": "u", "item_id": "i", "label": {"column": "y"}},
    "users": {"file": "u.csv", "id": "u", "label_rate": True, "features": [
        {"column": "job"}, {"column": "age", "kind": "numeric"}]},
    "items": {"file": "i.csv", "id": "i", "label_rate": True, "features": [
        {"column": "tags", "kind": "multi", "sep": "|", "max_len": 3}]},
})
TRAIN, VALID, TEST = np.arange(0, 6), np.arange(6, 8), np.arange(8, 10)


def _raw(labels: list[float] | None = None) -> RawData:
    inter = pd.DataFrame({
        "user_id": ["a", "a", "a", "b", "b", "c", "a", "c", "d", "b"],
        "item_id": ["x", "y", "x", "x", "z", "y", "z", "w", "x", "w"],
        "label": np.array(labels or [1, 0, 1, 1, 0, 1, 0, 1, 1, 0], dtype=np.float32),
        "timestamp": np.arange(10),
    })
    users = pd.DataFrame({"job": ["dev", "art", "dev", "pilot"], "age": ["20", "40", "60", "99"]},
                         index=pd.Index(["a", "b", "c", "d"], name="user_id"))
    items = pd.DataFrame({"tags": ["t1|t2", "t2", "t3", "t9|t1"]},
                         index=pd.Index(["x", "y", "z", "w"], name="item_id"))
    return RawData(SCHEMA, inter, users, items)


def _encode(raw: RawData):
    return encode_dataset(raw, {"train": TRAIN, "valid": VALID, "test": TEST})


def test_vocabularies_and_scalers_see_only_train_entities() -> None:
    data = _encode(_raw())
    job = data.user_codec.tokens[0]
    assert job.vocab == ("art", "dev")  # "pilot" belongs to user d, who appears only in test
    assert data.user_codec.id.vocab == ("a", "b", "c")
    assert data.item_codec.tokens[0].vocab == ("t1", "t2", "t3")  # w (t9) is valid/test only
    age = data.user_codec.numeric[0]
    assert age.mean == pytest.approx(40.0)  # users a, b, c; not d's 99
    d_row = list(data.users.ids).index("d")
    assert data.users.cat[d_row, 0] == 1 and data.users.cat[d_row, 1] == 1  # OOV id and job


def test_changing_valid_and_test_labels_changes_no_feature() -> None:
    base = _encode(_raw())
    labels = [1, 0, 1, 1, 0, 1, 1, 0, 0, 1]  # valid and test labels flipped
    flipped = _encode(_raw(labels))
    assert base.user_codec == flipped.user_codec and base.item_codec == flipped.item_codec
    np.testing.assert_array_equal(base.users.num, flipped.users.num)
    np.testing.assert_array_equal(base.items.num, flipped.items.num)
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(base.splits[name].user_num, flipped.splits[name].user_num)
        np.testing.assert_array_equal(base.splits[name].item_num, flipped.splits[name].item_num)


def test_train_rows_leave_their_own_label_out_of_the_rate() -> None:
    data = _encode(_raw())
    prior = 4 / 6  # train labels 1 0 1 1 0 1
    rate = data.user_codec.label_rate
    assert rate is not None and data.prior == pytest.approx(prior)

    def standard(pos: float, rows: float) -> float:
        return ((pos + SMOOTHING * prior) / (rows + SMOOTHING) - rate.mean) / rate.std

    # user a has train rows 0, 1, 2 with labels 1, 0, 1
    user_rate = data.splits["train"].user_num[:, -1]
    assert user_rate[0] == pytest.approx(standard(1, 2), abs=1e-5)  # own 1 removed
    assert user_rate[1] == pytest.approx(standard(2, 2), abs=1e-5)  # own 0 removed
    # valid / test rows and the serving table use the full train counts
    a_row = list(data.users.ids).index("a")
    assert data.users.num[a_row, -1] == pytest.approx(standard(2, 3), abs=1e-5)
    assert data.splits["valid"].user_num[0, -1] == pytest.approx(standard(2, 3), abs=1e-5)
    # user d was never in train: the prior
    d_row = list(data.users.ids).index("d")
    assert data.users.num[d_row, -1] == pytest.approx(standard(0, 0), abs=1e-5)


def test_a_train_rows_own_label_does_not_move_its_feature() -> None:
    base = _encode(_raw())
    labels = [0, 0, 1, 1, 0, 1, 0, 1, 1, 0]  # train row 0 flipped
    flipped = _encode(_raw(labels))
    # Row 0's user rate differs only through the prior, never through its own label: recompute
    # from the leave-one-out counts of user a (rows 1, 2 -> 1 positive of 2) in both runs.
    for data, prior in ((base, 4 / 6), (flipped, 3 / 6)):
        rate = data.user_codec.label_rate
        expected = ((1 + SMOOTHING * prior) / (2 + SMOOTHING) - rate.mean) / rate.std
        assert data.splits["train"].user_num[0, -1] == pytest.approx(expected, abs=1e-5)
