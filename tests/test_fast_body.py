"""The fast decoding of request bodies (service.fast_body) answers exactly as pydantic's full
validation: the same values for every body pydantic accepts, pydantic's own error for every body
it refuses. And the common bodies do take the fast path (their ids stay in the body)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from service.body_ids import BodyIds
from service.fast_body import parse
from service.schemas import MAX_ID_CHARS, RecommendRequest, RequestModel, ScoreRequest

# Ids and values near every edge the two decoders could disagree on.
_TEXT = st.text(st.sampled_from(['a', '7', ' ', '"', '\\', 'é', '\x00', '\x1f', '\u2028', '0']),
                max_size=6)
_ID = st.one_of(_TEXT, st.integers(-(2**64), 2**64), st.sampled_from([0, 12.0, 1.5, True, None]))
_NUMBER = st.one_of(st.integers(-3, 2**64), st.sampled_from(
    [0.0, 2.0, 2.5, -1.0, 1e-9, 60_000, 60_000.5, True, False, None, "3"]))
_FEATURES = st.one_of(st.none(), st.sampled_from([[], "x"]), st.dictionaries(
    st.sampled_from(["history", "age", "gender", "x" * (MAX_ID_CHARS + 1)]),
    st.one_of(_TEXT, _NUMBER, st.lists(_ID, max_size=3)), max_size=3))
_USER = st.one_of(_TEXT, st.integers(-5, 10**6), st.sampled_from(
    ["x" * MAX_ID_CHARS, "x" * (MAX_ID_CHARS + 1), 7.0, None]))
_IDS = st.one_of(st.lists(_ID, max_size=5), st.lists(st.text("i0123", min_size=1, max_size=4),
                                                     min_size=1, max_size=5), _TEXT, st.none())


def _body(fields: dict[str, Any], draw_absent: set[str], spaced: bool) -> bytes:
    kept = {k: v for k, v in fields.items() if k not in draw_absent}
    return json.dumps(kept, indent=1 if spaced else None, ensure_ascii=False).encode()


def _same(model: type[RequestModel], raw: bytes) -> RequestModel | None:
    """parse(model, raw) against model.model_validate_json(raw): equal values or equal errors;
    the parsed request, or None when refused."""
    try:
        expected = model.model_validate_json(raw)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as raised:
            parse(model, raw)
        assert raised.value.errors() == exc.errors()
        return None
    parsed = parse(model, raw)
    got = {name: list(value) if isinstance(value, BodyIds) else value
           for name, value in parsed.__dict__.items()}
    assert got == expected.__dict__
    return parsed


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user=_USER, ids=_IDS, top_k=_NUMBER, features=_FEATURES, strict=_NUMBER,
       budget=_NUMBER, absent=st.sets(st.sampled_from(
           ["user_id", "candidate_ids", "top_k", "user_features", "strict", "budget_ms"])),
       extra=st.booleans(), spaced=st.booleans())
def test_score_bodies_parse_as_the_full_validation(user: Any, ids: Any, top_k: Any,
                                                   features: Any, strict: Any, budget: Any,
                                                   absent: set[str], extra: bool,
                                                   spaced: bool) -> None:
    fields = {"user_id": user, "candidate_ids": ids, "top_k": top_k, "user_features": features,
              "strict": strict, "budget_ms": budget, **({"typo": 1} if extra else {})}
    _same(ScoreRequest, _body(fields, absent, spaced))


@settings(max_examples=300, deadline=None)
@given(user=_USER, k=_NUMBER, excluded=_IDS, features=_FEATURES,
       absent=st.sets(st.sampled_from(["user_id", "k", "exclude_ids", "user_features"])),
       spaced=st.booleans())
def test_recommend_bodies_parse_as_the_full_validation(user: Any, k: Any, excluded: Any,
                                                       features: Any, absent: set[str],
                                                       spaced: bool) -> None:
    fields = {"user_id": user, "k": k, "exclude_ids": excluded, "user_features": features}
    _same(RecommendRequest, _body(fields, absent, spaced))


@pytest.mark.parametrize("raw", [
    b'{"user_id": "u", "candidate_ids": [-0, 1]}',  # the id "0", not "-0"
    b'{"user_id": "u", "candidate_ids": [1E2, 2]}',
    b'{"user_id": "u", "candidate_ids": ["a\\u0062", "\\/"]}',
    b'{"user_id": "u", "candidate_ids": ["\xff"]}',  # not UTF-8
    b'{"user_id": "u", "candidate_ids": [ "a" , 7 ] , "top_k" : 1 }',
    b'{"user_id": "u", "candidate_ids": ["a"], "candidate_ids": ["b"]}',
    b'{"user_id": "u", "candidate_ids": ["a"]} x',
    b'{"user_id": "u", "candidate_ids": ["a"], "user_features": {"history": ["\xff"]}}',
    b'{"user_id": "u", "candidate_ids": ["a"], "budget_ms": 1e400}',
    b'["u"]',
])
def test_odd_score_bodies_parse_as_the_full_validation(raw: bytes) -> None:
    _same(ScoreRequest, raw)


@pytest.mark.parametrize("ids", [["i1", "i2", "x y"], [17, 0, -3, 2**70], ["a", 7]])
def test_common_bodies_keep_their_ids_in_the_body(ids: list[object]) -> None:
    raw = json.dumps({"user_id": "u1", "candidate_ids": ids,
                      "user_features": {"history": ["i1", 3]}}).encode()
    request = _same(ScoreRequest, raw)
    assert request is not None and isinstance(request.candidate_ids, BodyIds)
    excluded = _same(RecommendRequest, json.dumps({"user_id": "u1", "exclude_ids": ids}).encode())
    assert excluded is not None and isinstance(excluded.exclude_ids, BodyIds)
