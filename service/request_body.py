"""JSON request bodies, parsed from the raw bytes in one pass (service.fast_body, else pydantic).

Why not FastAPI's body parameters: they parse JSON only under a JSON Content-Type, and the
README's `curl -X POST .../score -d '{...}'` sends application/x-www-form-urlencoded; and
parsing the bytes validates without an intermediate dict. The scoring routes parse their
bodies themselves (`parse_body`) rather than through a dependency: FastAPI's dependency solving
cost ~10 µs of CPU a request (measured in process, 1,000 candidates), and service.scoring_lane
answers them without FastAPI. The schema still reaches the OpenAPI page (/docs) through
`openapi_extra`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from service.fast_body import parse
from service.schemas import RequestModel

R = TypeVar("R", bound=RequestModel)


def parse_body(model: type[R], raw: bytes) -> R:
    """`raw` parsed as `model`; invalid JSON or fields -> 422 naming them."""
    try:
        return parse(model, raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting `model` as the JSON request body, with its first example."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    content: dict[str, Any] = {"schema": schema}
    if schema.get("examples"):
        content["example"] = schema["examples"][0]
    return {"requestBody": {"required": True, "content": {"application/json": content}}}
