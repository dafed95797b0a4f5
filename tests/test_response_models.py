"""Every route's responses match the model it declares: the routes write their JSON themselves
(orjson), so FastAPI never checks them, and without this test the declared models would only be
documentation. Exact field sets, strict types; the error body of each route too."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from service import responses, schemas
from service.errors import ServiceError
from service.responses import ErrorResponse

# (method, path) -> requests whose answer must be the route's declared model (status 200).
REQUESTS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("POST", "/score"): [
        {"json": {"user_id": "u1", "candidate_ids": ["i1", "i2", "nope"]}},
        {"json": {"user_id": "stranger", "candidate_ids": ["i3", "i1"], "top_k": 1}},
        {"json": {"user_id": "u2", "candidate_ids": ["i1", "i2", "i3"], "budget_ms": 50}},
    ],
    ("POST", "/recommend"): [{"json": {"user_id": "u1", "k": 5, "exclude_ids": ["i1"]}}],
    ("GET", "/healthz"): [{}],
    ("GET", "/readyz"): [{}],
    ("GET", "/model"): [{}],
    ("POST", "/admin/reload"): [{}],
}
# Requests each route must refuse with the error body (ErrorResponse).
REFUSED: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/score"): {"json": {"user_id": "u1", "candidate_ids": "i1"}},
    ("POST", "/recommend"): {"json": {"user_id": "u1", "k": 0}},
    ("POST", "/admin/reload"): {"headers": {"X-Admin-Token": "wrong"}},
}


def _declared(app: FastAPI) -> dict[tuple[str, str], type[BaseModel]]:
    """(method, path) -> the model its 200 answer declares, as the OpenAPI document names it."""
    declared = {}
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            content = operation["responses"]["200"].get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            if ref is not None:
                name = ref.rsplit("/", 1)[-1]
                declared[(method.upper(), path)] = getattr(schemas, name, None) or getattr(
                    responses, name)
    return declared


def _matches(model: type[BaseModel], body: dict[str, Any]) -> None:
    undeclared = set(body) - set(model.model_fields)
    assert not undeclared, f"fields the model does not declare: {undeclared}"
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert required <= set(body), f"missing fields {required - set(body)}"
    model.model_validate(body, strict=True)


def test_every_route_with_a_declared_model_is_exercised_here(admin_client: TestClient) -> None:
    assert set(_declared(admin_client.app)) == set(REQUESTS)


@pytest.mark.parametrize("route", list(REQUESTS), ids=" ".join)
def test_responses_are_their_declared_model(admin_client: TestClient, admin_token: str,
                                            route: tuple[str, str]) -> None:
    model = _declared(admin_client.app)[route]
    for request in REQUESTS[route]:
        # The admin token opens /admin/reload; the other routes ignore it.
        response = admin_client.request(*route, headers={"X-Admin-Token": admin_token}, **request)
        assert response.status_code == 200, response.text
        _matches(model, response.json())


@pytest.mark.parametrize("route", list(REFUSED), ids=" ".join)
def test_refusals_are_the_error_model(admin_client: TestClient, route: tuple[str, str]) -> None:
    response = admin_client.request(*route, **REFUSED[route])
    assert 400 <= response.status_code < 500
    _matches(ErrorResponse, response.json())


def test_an_error_class_without_an_http_status_fails_where_it_is_written() -> None:
    with pytest.raises(TypeError, match="names no HTTP status"):
        type("Forgetful", (ServiceError,), {})
