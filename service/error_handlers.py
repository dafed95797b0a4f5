"""Every error response, in one place: domain errors and invalid requests become 4xx/503 with a
message naming the field at fault; anything unexpected becomes a 500 that never echoes the
exception (it is logged with a request id, which the client gets back to quote).

Body: {"detail": "<field>: <message>; ...", "errors": [{"field", "message", "type"}, ...]}.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from service.errors import ServiceError

log = logging.getLogger(__name__)

RETRY_AFTER_S = "2"  # what a 503 asks clients to wait: about one reload poll
# nginx's "client closed request": written to no one (the client is gone), and not a 5xx.
CLIENT_CLOSED_REQUEST = 499


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _internal_error)


def error_response(request: Request, status: int, detail: str,
                   errors: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    request.app.state.metrics.errors.labels(str(status)).inc()
    body: dict[str, Any] = {"detail": detail}
    if errors:
        body["errors"] = errors
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


async def _service_error(request: Request, exc: ServiceError) -> Response:
    status = exc.status
    headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else None
    if exc.field is None:
        return error_response(request, status, exc.message, headers=headers)
    error = {"field": exc.field, "message": exc.message, "type": type(exc).__name__}
    return error_response(request, status, f"{exc.field}: {exc.message}", [error], headers)


async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    errors = [{"field": field_name(e["loc"]), "message": e["msg"], "type": e["type"]}
              for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return error_response(request, 422, detail, errors)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return error_response(request, exc.status_code, str(exc.detail), headers=exc.headers)


async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
    request.app.state.metrics.client_disconnects.inc()
    log.info("%s %s: the client disconnected before its body arrived", request.method,
             request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _internal_error(request: Request, exc: Exception) -> Response:
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    log.error("request %s: %s %s failed", request_id, request.method, request.url.path,
              exc_info=exc)
    return error_response(request, 500, f"internal error; request id {request_id}",
                          headers={"X-Request-ID": request_id})


def field_name(loc: Sequence[str | int]) -> str:
    """("body", "candidate_ids", 3) -> "candidate_ids[3]"; the body as a whole is "body"."""
    if loc and loc[0] == "body":
        loc = loc[1:]
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else part
    return name or "body"
