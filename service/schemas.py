"""Request and response bodies of the HTTP API, named by direction, with their limits.

Ids are strings. JSON integers are accepted (the OpenAPI schema declares both): a list of item
ids that are all integers within int64 becomes an int64 array, which model.kernels.id_index looks up
without a string per id; elsewhere an integer becomes its decimal string. Any other JSON type is
refused with a 422 naming the field. Counts (k, top_k) are integers, 84.0 included, as JSON
Schema counts integers. Limits that depend on the deployment (candidates per request, body bytes)
live in `service.settings` and are enforced by the scorer and the body-size middleware; static
limits are declared here.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

MAX_ID_CHARS = 256
MAX_K = 1000
MAX_EXCLUDED = 10_000
MAX_FEATURES = 64
MAX_BUDGET_MS = 60_000.0

_JSON_KINDS = {float: "a number with a fraction", bool: "a boolean", type(None): "null",
               dict: "an object", list: "an array"}


def _id_error(value: object, position: int | None) -> PydanticCustomError:
    where = "" if position is None else f"item {position} is "
    kind = _JSON_KINDS.get(type(value), type(value).__name__)
    return PydanticCustomError("id_type", f"{where}{kind}; ids are strings or integers")


def _integer_text(value: object) -> str | None:
    """The decimal string of a JSON integer: an int, or a number whose fraction is zero (584.0
    is an integer to JSON Schema); None for anything else. Not isinstance: True is an int to
    Python, not an id."""
    if type(value) is int:
        return str(value)
    if type(value) is float and value.is_integer():
        return str(int(value))
    return None


# A user id sent as an integer is read as its decimal string, which must fit MAX_ID_CHARS. The
# OpenAPI document writes big integers as floats: 10**256 - 1 became 1e+256 and admitted a
# 257-digit id. So the exclusive bounds are powers of ten a digit inside the limit, which a
# float writes exactly as text (1e+255: readers take it for 10**255), and validation compares
# against those integers.
_USER_ID_BELOW = 10 ** (MAX_ID_CHARS - 1)
_USER_ID_ABOVE = -(10 ** (MAX_ID_CHARS - 2))


def _coerce_user_id(value: object) -> object:
    if type(value) is str:
        return value
    text = _integer_text(value)
    if text is None:
        raise _id_error(value, None)
    if not _USER_ID_ABOVE < value < _USER_ID_BELOW:  # type: ignore[operator]
        raise PydanticCustomError("id_range", f"an integer id of {len(text)} characters; "
                                              f"integer ids are within ({_USER_ID_ABOVE:.0e}, "
                                              f"{_USER_ID_BELOW:.0e})")
    return text


def _coerce_ids(values: list[object]) -> list[str]:
    """Integers become strings; anything else that is not a string is refused by position."""
    ids = []
    for position, v in enumerate(values):
        text = v if type(v) is str else _integer_text(v)
        if text is None:
            raise _id_error(v, position)
        ids.append(text)
    return ids


def _validate_ids(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """A list of ids. All strings validate in pydantic's compiled core alone; only when that
    fails are integers turned into strings and the list validated again."""
    try:
        return handler(value)
    except ValidationError:
        if not isinstance(value, list):
            raise
        return handler(_coerce_ids(value))


# What the schema declares: a string, or an integer within the bounds above.
_INTEGER_ID = {"type": "integer", "exclusiveMinimum": float(_USER_ID_ABOVE),
               "exclusiveMaximum": float(_USER_ID_BELOW)}
UserId = Annotated[str, BeforeValidator(_coerce_user_id), StringConstraints(min_length=1,
                                                                       max_length=MAX_ID_CHARS),
                   WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1,
                                              "maxLength": MAX_ID_CHARS}, _INTEGER_ID]})]

# A list of strings, integers among them turned into strings. No per-id length check: it would cost
# a callback per id; the body-size limit bounds them. Limits on the count go inside the annotation,
# `Annotated[ItemIds, Field(min_length=1)]`: those of a `= Field(...)` default, pydantic would hand
# to the list[str] inside.
def _ids_json(**bounds: int) -> WithJsonSchema:
    """The JSON schema of an id list, with its `minItems` / `maxItems` (the override drops the
    Field bounds from the schema, not from validation)."""
    return WithJsonSchema({"type": "array", "items": {"anyOf": [{"type": "string"},
                                                                {"type": "integer"}]}, **bounds})


# Dumped as a list: service.fast_body's requests hold them as service.body_ids.BodyIds.
ItemIds = Annotated[list[str], WrapValidator(_validate_ids), PlainSerializer(list), _ids_json()]


def _integral(value: object) -> object:
    """84.0 is the integer 84, as JSON Schema counts integers; 84.5 stays a float (refused)."""
    return int(value) if type(value) is float and value.is_integer() else value


# A count: a JSON integer, written with a fraction of zero or not.
Count = Annotated[int, BeforeValidator(_integral)]
MAX_HISTORY = 1024  # item ids in a request's history (a model reads its max_len most recent)
MAX_FEATURE_CHARS = 1024


def _feature_value(value: object) -> object:
    """A string, a number, null, or a list of item ids (integers become strings); one clear
    message otherwise (a union of types would answer one error per member)."""
    if type(value) is str and len(value) > MAX_FEATURE_CHARS:
        raise PydanticCustomError("feature_length", f"longer than {MAX_FEATURE_CHARS} characters")
    if value is None or type(value) in (str, int, float):
        return value
    if type(value) is list:
        if len(value) > MAX_HISTORY:
            raise PydanticCustomError("history_length", f"more than {MAX_HISTORY} item ids")
        return _coerce_ids(value)
    kind = _JSON_KINDS.get(type(value), type(value).__name__)
    raise PydanticCustomError("feature_type", f"{kind}; a feature is a string, a number, null "
                                              "or (the history, an event sequence) a list of "
                                              "item ids or tokens")


RawFeature = Annotated[Any, PlainValidator(_feature_value), WithJsonSchema({"anyOf": [
    {"type": "string", "maxLength": MAX_FEATURE_CHARS}, {"type": "number"}, {"type": "null"},
    {"type": "array", "items": {"type": ["string", "integer"]}, "maxItems": MAX_HISTORY}]})]
UserFeatures = Annotated[
    dict[Annotated[str, StringConstraints(max_length=MAX_ID_CHARS)], RawFeature],
    Field(
        max_length=MAX_FEATURES,
        description="Fresh raw user features, as in training: categorical values as strings "
        "(multi-valued ones joined by their separator), numbers as numbers, the history "
        "(GET /model's user_history.field) as a list of item ids and an event sequence as a "
        "list of tokens, most recent first. They "
        "override the stored row's fields for a known user and fill the default row of an "
        "unknown one; the user tower then runs on them. Fields not given keep the stored "
        "(or missing) values.",
    ),
]


class RequestModel(BaseModel):
    # Strict: "5" is not an int and 1 is not a bool; unknown fields are typos, not extensions.
    # Only keys go through the JSON parser's string cache: ids rarely repeat between requests,
    # and caching them cost ~20 µs of 60 at 1,000 random ids of a 100,000-item catalogue.
    model_config = ConfigDict(strict=True, extra="forbid", cache_strings="keys")

    @classmethod
    def from_json(cls, raw: bytes) -> Self:
        """The request in `raw`; ValidationError naming the fields otherwise."""
        return cls.model_validate_json(raw)


SCORE_EXAMPLE: dict[str, Any] = {"user_id": "42", "candidate_ids": ["1", "50", "181"]}
RECOMMEND_EXAMPLE: dict[str, Any] = {"user_id": "42", "k": 10, "exclude_ids": ["50"]}


class ScoreRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SCORE_EXAMPLE]})

    user_id: UserId
    candidate_ids: Annotated[ItemIds, Field(min_length=1), _ids_json(minItems=1)] = Field(
        description="Items to score; duplicates allowed.")
    # The bound before the validator: after it, pydantic writes `ge` into the JSON schema, which
    # no JSON Schema reader knows (clients and the contract test took 0 for valid).
    top_k: Annotated[int, Field(ge=1), BeforeValidator(_integral)] | None = Field(
        None, description="Return only the best k, best first.")
    user_features: UserFeatures | None = None
    strict: bool = Field(False, description="Answer 422 instead of listing unknown candidates.")
    budget_ms: float | None = Field(
        None, gt=0, le=MAX_BUDGET_MS,
        description="Latency budget: score the known candidates in request order only while "
        "they fit in this many milliseconds of scoring work (user tower, id lookup, FE-Block; "
        "counted from when the scorer starts, after the body is parsed). `scored` in the "
        "response says how many were. Default: the server's INTTOWER_SCORE_BUDGET_MS, if set.")


class ScoreResponse(BaseModel):
    model_version: str
    user_known: bool
    item_ids: list[str]  # known candidates: request order, or best first with top_k
    scores: list[float]  # click probabilities, aligned with item_ids
    unknown_item_ids: list[str]  # candidates the bundle does not know, not scored
    # Known candidates scored: all of them, or under a latency budget the first `scored` known
    # candidates in request order (the rest were not scored in time).
    scored: int


class RecommendRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RECOMMEND_EXAMPLE]})

    user_id: UserId
    k: Count = Field(100, ge=1, le=MAX_K)
    exclude_ids: Annotated[ItemIds, Field(max_length=MAX_EXCLUDED),
                           _ids_json(maxItems=MAX_EXCLUDED)] = Field(default_factory=list)
    user_features: UserFeatures | None = None


class RecommendResponse(BaseModel):
    model_version: str
    user_known: bool
    item_ids: list[str]  # best first
    scores: list[float]
