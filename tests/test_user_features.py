"""A request's user features are encoded exactly as the training codec encodes the raw values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from model.features import OOV, EncodedTable, HistoryCodec, NumericCodec, TokenCodec, TowerCodec
from service.errors import InvalidUserFeatures
from service.user_features import UserFeatureEncoder

CODEC = TowerCodec(
    id=TokenCodec("user_id", ("u1", "u2")),
    tokens=(TokenCodec("city", ("paris", "rome", "5")),
            TokenCodec("zip", ("750", "001"), prefix=3),
            TokenCodec("tags", ("a", "b", "c"), multi=True, sep="|", max_len=3)),
    numeric=(NumericCodec("age", mean=40.0, std=12.5),),
    history=HistoryCodec("history", max_len=4, vocab_size=9),
)
ITEM_TOKEN = {"i1": 2, "i2": 3, "i3": 4, "i4": 5, "i5": 6}  # the item tower's id tokens


def _item_tokens(ids: Sequence[str]) -> np.ndarray:
    return np.array([ITEM_TOKEN.get(i, OOV) for i in ids], np.int64)


def _stored() -> EncodedTable:
    frame = pd.DataFrame({"city": ["rome", "paris"], "zip": ["00100", "75011"],
                          "tags": ["a|b", "c"], "age": [30, 50]}, index=pd.Index(["u1", "u2"]))
    return CODEC.encode(frame, history=np.array([[3, 2, 0, 0], [0, 0, 0, 0]]))


def _assert_same(a: EncodedTable, b: EncodedTable) -> None:
    np.testing.assert_array_equal(a.cat, b.cat)
    for x, y in zip(a.seq, b.seq, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(a.num, b.num, rtol=1e-6)


@pytest.mark.parametrize("features", [
    {},
    {"city": "rome", "zip": "75002", "tags": "b|a||c|a", "age": 28.5, "history": ["i2", "i1"]},
    {"city": "berlin", "zip": "7", "tags": "", "age": None, "history": []},
    {"city": 5, "tags": "zzz|a", "age": 41, "history": ["i9", "i3", "i4", "i5", "i1", "i2"]},
    {"city": None, "zip": None, "tags": None},
])
def test_an_unknown_user_is_encoded_as_the_codec_encodes_the_raw_row(
        features: dict[str, Any]) -> None:
    encoder = UserFeatureEncoder(CODEC, _stored(), _item_tokens)
    raw = {c: [features.get(c)] for c in CODEC.columns if c != "history"}
    history = _item_tokens(features.get("history", [])[:4])
    expected = CODEC.encode(pd.DataFrame(raw, index=pd.Index(["stranger"])),
                            history=np.pad(history, (0, 4 - len(history)))[None])
    _assert_same(encoder.encode("stranger", None, features), expected)


def test_a_known_user_keeps_the_stored_fields_the_request_does_not_give() -> None:
    stored = _stored()
    encoder = UserFeatureEncoder(CODEC, stored, _item_tokens)
    fresh = encoder.encode("u1", 0, {"history": ["i5", "nope", "i1", "i2", "i3"], "age": 52})
    expected = stored.take(np.array([0]))
    expected.seq[-1][0] = [6, OOV, 2, 3]  # the 4 most recent, the unknown id OOV
    expected.num[0, 0] = (52 - 40.0) / 12.5
    _assert_same(fresh, expected)
    assert fresh.ids.tolist() == ["u1"]
    _assert_same(encoder.encode("u1", 0, {}), stored.take(np.array([0])))
    np.testing.assert_array_equal(stored.seq[-1][0], [3, 2, 0, 0])  # the stored row is unchanged


@pytest.mark.parametrize(("features", "field"), [
    ({"history": "i1 i2"}, "history"),
    ({"age": "old"}, "age"),
    ({"age": [3]}, "age"),
    ({"age": 4.5e39}, "age"),  # beyond a float32 once standardised: not an inf in the tower
    ({"city": ["rome"]}, "city"),
    ({"city": True}, "city"),
    ({"shoe_size": 44}, "shoe_size"),
])
def test_a_wrong_type_or_an_unknown_field_is_refused_by_name(features: dict[str, Any],
                                                             field: str) -> None:
    encoder = UserFeatureEncoder(CODEC, _stored(), _item_tokens)
    with pytest.raises(InvalidUserFeatures) as refused:
        encoder.encode("u1", 0, features)
    assert refused.value.field == f"user_features.{field}"


def test_the_json_schema_names_each_field_and_the_values_it_accepts() -> None:
    schema = UserFeatureEncoder(CODEC, _stored(), _item_tokens).json_schema
    assert set(schema) == set(CODEC.columns) - {"user_id"}
    assert schema["history"]["type"] == "array"
    age = schema["age"]
    assert age["type"] == ["number", "null"] and age["minimum"] < 0 < 1e38 < age["maximum"]
    assert {branch["type"] for branch in schema["city"]["anyOf"]} == {"string", "number", "null"}


def test_an_event_sequence_is_a_list_of_tokens_most_recent_first() -> None:
    codec = TowerCodec(id=TokenCodec("user_id", ("u1",)),
                       sequences=(TokenCodec("cate", ("c1", "c2", "c3"), multi=True, max_len=3),))
    stored = codec.encode(pd.DataFrame(index=pd.Index(["u1"])),
                          sequences=[np.array([[4, 2, 0]])])  # c3, c1
    encoder = UserFeatureEncoder(codec, stored, _item_tokens)
    fresh = encoder.encode("u1", 0, {"cate": ["c2", "c9", 1, "c3", "c1"]})
    np.testing.assert_array_equal(fresh.seq[codec.layout.sequences["cate"]], [[3, OOV, OOV]])
    _assert_same(encoder.encode("u1", 0, {}), stored)
    with pytest.raises(InvalidUserFeatures, match="list of tokens") as caught:
        encoder.encode("u1", 0, {"cate": "c1 c2"})
    assert caught.value.field == "user_features.cate"
