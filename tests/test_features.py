"""Leakage: statistics are fitted on train rows only, and every interaction feature of a row comes
from train events strictly earlier than that row (its own label and valid / test labels never)."""

import numpy as np
import pandas as pd
import pytest
import torch

from model.features import EncodedTable
from training.as_of import AFTER_ALL, prior_events
from training.dataset import HistoryWindows
from training.encoded import EncodedData, EncodedSplit
from training.features import encode_dataset
from training.schema import DatasetSchema
from training.tables import RawData

SCHEMA = DatasetSchema.model_validate({
    "name": "toy",
    "interactions": {"file": "i.csv", "user_id": "u", "item_id": "i", "label": {"column": "y"},
                     "timestamp": "t"},
    "users": {"file": "u.csv", "id": "u", "label_rate": True, "history": {"max_len": 2},
              "features": [{"column": "job"}, {"column": "age", "kind": "numeric"}]},
    "items": {"file": "i.csv", "id": "i", "label_rate": True, "features": [
        {"column": "tags", "kind": "multi", "sep": "|", "max_len": 3}]},
})
# A hand-made log with ties in time: (user, item, label, time); rows 0-5 train, 6 valid, 7-8 test.
LOG = [("a", "x", 1, 1), ("a", "y", 1, 2), ("a", "z", 0, 2), ("a", "w", 1, 3),
       ("b", "x", 0, 1), ("b", "y", 1, 1),
       ("a", "x", 1, 4),
       ("b", "z", 1, 0), ("c", "x", 1, 5)]
SPLITS = {"train": np.arange(0, 6), "valid": np.arange(6, 7), "test": np.arange(7, 9)}


def _raw(labels: list[int] | None = None) -> RawData:
    users, items, label, time = zip(*LOG, strict=True)
    inter = pd.DataFrame({"user_id": users, "item_id": items,
                          "label": np.array(labels or label, np.float32),
                          "timestamp": np.array(time, np.int64)})
    user_table = pd.DataFrame({"job": ["dev", "art", "pilot"], "age": ["20", "60", "99"]},
                              index=pd.Index(["a", "b", "c"], name="user_id"))
    item_table = pd.DataFrame({"tags": ["t1|t2", "t2", "t3", "t9|t1"]},
                              index=pd.Index(["x", "y", "z", "w"], name="item_id"))
    return RawData(SCHEMA, inter, user_table, item_table)


def _histories(split: EncodedSplit, users: EncodedTable | None = None,
               max_len: int = 2) -> np.ndarray:
    """(N, max_len) tokens of each row's history, most recent first, 0-padded, as batches see
    them: the split's own windows, else the user table's stored history."""
    if split.history is None:
        assert users is not None
        return users.seq[-1][split.user_row]
    return HistoryWindows(split.history, max_len, torch.device("cpu")).gather(
        torch.arange(len(split))).numpy()


def _token(data: EncodedData, item: str) -> int:
    return int(data.items.cat[list(data.items.ids).index(item), 0])


def _features(data: EncodedData) -> list[np.ndarray]:
    """What no valid / test label may move: the tables a bundle stores, the train rows and the
    held-out rows as served from the bundle (cutoff mode). Online rows see earlier held-out
    labels by design (tests/test_eval_modes.py)."""
    arrays = [data.users.cat, data.users.num, *data.users.seq, data.items.num]
    for split in (data.train, data.split("valid"), data.split("test")):
        arrays += [split.user_num, split.item_num, _histories(split, data.users)]
    return arrays


def test_vocabularies_and_scalers_see_only_train_entities() -> None:
    data = encode_dataset(_raw(), SPLITS)
    assert data.user_codec.tokens[0].vocab == ("art", "dev")  # c (pilot) appears in test only
    assert data.user_codec.id.vocab == ("a", "b")
    assert data.item_codec.tokens[0].vocab == ("t1", "t2", "t3", "t9")  # w is a train item
    assert data.user_codec.numeric[0].mean == pytest.approx(40.0)  # users a, b; not c's 99
    c_row = list(data.users.ids).index("c")
    assert data.users.cat[c_row, 0] == 1 and data.users.cat[c_row, 1] == 1  # OOV id and job


def test_a_log_with_ties_gives_the_expected_histories_and_rates() -> None:
    data = encode_dataset(_raw(), SPLITS)
    x, y, w = (_token(data, i) for i in "xyw")
    # user a: row 0 sees nothing; rows 1 and 2 share t=2, so each sees only row 0; row 3 sees
    # rows 0-2. User b's rows 4, 5 tie at t=1. The history keeps the 2 most recent positives.
    # Held-out rows (cutoff mode) see their user's state after all train events: the valid row
    # 6 sees a's four, b's test row 7 b's two (though it is earlier: the stored state), c none.
    np.testing.assert_array_equal(_histories(data.train),
                                  [[0, 0], [x, 0], [x, 0], [y, x], [0, 0], [0, 0]])
    np.testing.assert_array_equal(_histories(data.split("valid"), data.users), [[w, y]])
    np.testing.assert_array_equal(_histories(data.split("test"), data.users), [[y, 0], [0, 0]])
    stat = data.user_codec.label_stat
    assert stat is not None and stat.prior == pytest.approx(4 / 6)
    np.testing.assert_allclose(data.train.user_num[:, -2:],
                               stat.columns(np.array([0, 1, 1, 3, 0, 0]),
                                            np.array([0, 1, 1, 2, 0, 0])), atol=1e-6)
    np.testing.assert_allclose(data.split("valid").user_num[:, -2:],
                               stat.columns(np.array([4]), np.array([3])), atol=1e-6)
    # items: x has train events at t=1 (+ from a, - from b): the valid row sees both
    item_stat = data.item_codec.label_stat
    assert item_stat is not None
    np.testing.assert_allclose(data.split("valid").item_num[:, -2:],
                               item_stat.columns(np.array([2]), np.array([1])), atol=1e-6)
    np.testing.assert_allclose(data.train.item_num[[0, 4], -2:],
                               item_stat.columns(np.zeros(2), np.zeros(2)), atol=1e-6)


def test_the_tables_hold_each_users_state_after_all_train_events() -> None:
    data = encode_dataset(_raw(), SPLITS)
    y, w = (_token(data, i) for i in "yw")
    ids = list(data.users.ids)
    np.testing.assert_array_equal(data.users.seq[-1][[ids.index(u) for u in "abc"]],
                                  [[w, y], [y, 0], [0, 0]])
    stat = data.user_codec.label_stat
    assert stat is not None
    np.testing.assert_allclose(data.users.num[[ids.index(u) for u in "abc"], -2:],
                               stat.columns(np.array([4, 2, 0]), np.array([3, 1, 0])), atol=1e-6)


def test_changing_valid_and_test_labels_changes_no_feature() -> None:
    base = encode_dataset(_raw(), SPLITS)
    labels = [label for *_, label, _ in LOG]
    flipped_labels = [*labels[:6], *(1 - v for v in labels[6:])]
    flipped = encode_dataset(_raw(flipped_labels), SPLITS)
    assert base.user_codec == flipped.user_codec and base.item_codec == flipped.item_codec
    for a, b in zip(_features(base), _features(flipped), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("row", range(6))
def test_no_train_row_sees_its_own_label(row: int) -> None:
    """Flipping a train row's label leaves that row's earlier-event counts and history alone
    (only the global prior, a mean over all train rows, may move its smoothed rate)."""
    labels = [label for *_, label, _ in LOG]
    flipped_labels = [1 - v if i == row else v for i, v in enumerate(labels)]
    base, flipped = encode_dataset(_raw(), SPLITS), encode_dataset(_raw(flipped_labels), SPLITS)
    np.testing.assert_array_equal(_histories(base.train)[row], _histories(flipped.train)[row])
    users, times = [u for u, *_ in LOG], np.array([t for *_, t in LOG])
    code = pd.factorize(pd.Series(users))[0]
    train = SPLITS["train"]
    for run in (labels, flipped_labels):
        events = prior_events(code[train], times[train], np.array(run)[train], code[[row]],
                              times[[row]])
        assert (events.count[0], events.positives[0]) == (
            int(((code[train] == code[row]) & (times[train] < times[row])).sum()),
            int(np.sum(np.array(labels)[train][(code[train] == code[row])
                                               & (times[train] < times[row])])))


# Time scales: small offsets, and nanosecond epochs wide enough that entity * span overflows
# an int64 key, which makes prior_events rank the distinct times instead.
@pytest.mark.parametrize("scale", [1, 10**17])
def test_prior_events_match_a_direct_count_on_random_logs(scale: int) -> None:
    rng = np.random.default_rng(0)
    entity, time, label = rng.integers(0, 5, 300), rng.integers(0, 20, 300), rng.integers(0, 2, 300)
    q_entity, q_time = rng.integers(0, 6, 100), rng.integers(-1, 22, 100)
    time, q_time = time * scale, q_time * scale
    q_time[:5] = AFTER_ALL  # the cutoff state: after every event
    events = prior_events(entity, time, label, q_entity, q_time)
    for q in range(100):
        earlier = (entity == q_entity[q]) & (time < q_time[q])
        assert events.count[q] == earlier.sum()
        assert events.positives[q] == label[earlier].sum()
        # the positives' window holds exactly those events, oldest first
        window = events.positive_order[events.positive_end[q] - events.positives[q]:
                                       events.positive_end[q]]
        assert set(window) == set(np.flatnonzero(earlier & (label == 1)))
        assert np.all(np.diff(time[window]) >= 0)


def test_without_statistics_the_towers_read_only_their_tables() -> None:
    plain = SCHEMA.model_copy(update={
        "users": SCHEMA.users.model_copy(update={"label_rate": False, "history": None}),
        "items": SCHEMA.items.model_copy(update={"label_rate": False})})
    raw = _raw()
    data = encode_dataset(RawData(plain, raw.interactions, raw.users, raw.items), SPLITS)
    assert data.user_codec.label_stat is None and data.user_codec.history is None
    assert data.user_codec.spec.num_dim == 1 and data.user_codec.spec.seq_vocab == ()
    assert all(s.history is None for s in data.every_split())


def test_the_layout_names_where_encode_puts_each_field() -> None:
    data = encode_dataset(_raw(), SPLITS)
    layout, codec = data.user_codec.layout, data.user_codec
    ids = list(data.users.ids)
    a = ids.index("a")
    assert data.users.cat[a, layout.cat["u"]] == codec.id.encode(pd.Series(["a"]))[0]
    assert data.users.cat[a, layout.cat["job"]] == codec.tokens[0].encode(pd.Series(["dev"]))[0]
    assert data.users.num[a, layout.num["age"]] == pytest.approx(-1.0)  # (20 - 40) / 20
    assert layout.history is not None and layout.label_stat is not None
    np.testing.assert_array_equal(data.users.seq[layout.history][a],
                                  [_token(data, "w"), _token(data, "y")])
    stat = codec.label_stat
    assert stat is not None
    np.testing.assert_allclose(stat.counts(data.users.num[:, layout.label_stat]), [4, 2, 0],
                               atol=1e-6)
    items = data.item_codec.layout
    assert items.seq == {"tags": 0} and items.history is None and items.num_dim == 2
