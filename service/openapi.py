"""The OpenAPI document as this deployment answers (GET /openapi.json, /docs).

FastAPI builds the static document from the routes once. Each read adds the limits that
depend on the deployment and on the live bundle, so that a request the document calls valid gets a
2xx (tests/test_openapi_contract.py holds it to that):
- /score's `candidate_ids` has `maxItems`: the settings' max_candidates;
- `user_features` lists the live bundle's fields, each with the values it accepts, and no
  others (service.user_features); before a bundle is loaded, any names;
- each request body carries `x-max-body-bytes` (max_body_bytes): no JSON Schema keyword bounds
  a document's size.
What no schema can say stays in the descriptions: `"strict": true` answers 422 for candidates
the bundle does not know.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.scorer import Scorer
from service.settings import Settings

SCORING_ROUTES = ("/score", "/recommend")


def live_openapi(app: FastAPI, settings: Settings,
                 live: Callable[[], Scorer | None]) -> Callable[[], dict[str, Any]]:
    """What `app.openapi` becomes; `live()` is the Scorer serving now (or None)."""
    static: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not static:
            static.update(get_openapi(title=app.title, version=app.version, summary=app.summary,
                                      routes=app.routes))
        document = copy.deepcopy(static)
        scorer = live()
        for path in SCORING_ROUTES:
            body = document["paths"][path]["post"]["requestBody"]
            body["x-max-body-bytes"] = settings.max_body_bytes
            schema = body["content"]["application/json"]["schema"]
            if scorer is not None:
                _bundle_fields(schema["properties"]["user_features"],
                               scorer.user_heads.feature_schema)
        score = document["paths"]["/score"]["post"]["requestBody"]
        candidates = score["content"]["application/json"]["schema"]["properties"]["candidate_ids"]
        candidates["maxItems"] = settings.max_candidates
        return document

    return openapi


def _bundle_fields(user_features: dict[str, Any], fields: dict[str, dict[str, Any]]) -> None:
    """`user_features` (an object or null) narrowed to the bundle's `fields`."""
    for option in user_features["anyOf"]:
        if option.get("type") == "object":
            option.pop("additionalProperties", None)
            option.pop("propertyNames", None)
            option["properties"] = copy.deepcopy(fields)
            option["additionalProperties"] = False
