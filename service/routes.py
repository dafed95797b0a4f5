"""HTTP routes: /score, /recommend, the probes, /metrics and the admin reload.

The scoring routes are `async def`: they compute on the event loop. A request is a few compiled
calls that never wait on I/O (a few milliseconds at most: docs/benchmarks/serve-cpu.md has the
p50 and p99 per candidate count), while FastAPI's thread-pool
hop for a plain `def` route cost ~0.15 ms of CPU a request (thread wake-ups and a GIL hand-off).
Parallelism comes from --workers, not threads. Only the admin reload, which may load a bundle,
stays a plain `def` in the thread pool.

Each scoring request reads the reloader's `serving` once (the live Scorer and a rollout's
Challenger) and uses only those references, so a hot swap never changes a bundle under a running
request. In an ab rollout the challenger answers its share of the users (service.challenger); in a
shadow rollout a sampled /score request is handed to the shadow thread once its response is sent
(service.shadow). Responses name the version that answered.

The scoring routes' work is `score_answer` and `recommend_answer` (app state, body bytes ->
Answer). service.scoring_lane calls them in front of the app's middleware and answers the
requests that succeed; the routes below call them for the rest, which the error handlers answer.
"""

from __future__ import annotations

import secrets
import time
from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request, Response
from starlette.background import BackgroundTask
from starlette.datastructures import State

from service.body_ids import BodyIds
from service.errors import Forbidden, NotReady
from service.reloader import Serving
from service.request_body import openapi_body, parse_body
from service.responses import ErrorResponse, ModelResponse, ReloadResponse, StatusResponse
from service.schemas import RecommendRequest, RecommendResponse, ScoreRequest, ScoreResponse
from service.scorer import Scorer, Scores
from service.scoring_lane import Answer, Answerer
from service.shadow import ShadowJob

router = APIRouter()
admin_router = APIRouter(prefix="/admin", tags=["admin"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (413, 422, 503)
}


def live_scorer(request: Request) -> Scorer:
    scorer: Scorer | None = request.app.state.reloader.scorer
    if scorer is None:
        raise NotReady("no model bundle is loaded yet")
    return scorer


async def _answer(serving: Serving, route: str, user_id: str, *args: Any
                  ) -> tuple[Scorer, str, Scores]:
    """Who answers (the scorer and its role) and the answer: Scorer.score or .recommend (the
    route's name) of the live bundle, or of an ab challenger for its users."""
    live, challenger = serving.live, serving.challenger
    if live is None:
        raise NotReady("no model bundle is loaded yet")
    if challenger is not None and challenger.answers(user_id):
        answer = await challenger.call(getattr(challenger.scorer, route), user_id, *args)
        if answer is not None:  # else it failed: the live bundle answers
            return challenger.scorer, "challenger", answer
    return live, "live", getattr(live, route)(user_id, *args)


def _spelled(value: object) -> orjson.Fragment:
    """What orjson cannot write itself: ids kept in the request body (service.body_ids)."""
    if isinstance(value, BodyIds):
        return value.json()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_bytes(payload: dict[str, Any]) -> bytes:
    # orjson writes the float32 score arrays directly, without a list of Python floats.
    return orjson.dumps(payload, default=_spelled, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(payload: dict[str, Any]) -> Response:
    return Response(json_bytes(payload), media_type="application/json")


def _encoded(state: State, route: str, size: int, started: float, version: str, role: str,
             result: Scores, **extra: Any) -> bytes:
    """`result` as the route's JSON body (plus `extra` fields); then counts an unknown user and
    records the stage times, encoding included, and the handler time. Nothing is counted before
    the body is written: a request that fails is answered again by the full app
    (service.scoring_lane), which must not count it twice."""
    encoding = time.perf_counter()
    body = json_bytes({"model_version": version, "user_known": result.user_known,
                       "item_ids": result.item_ids, "scores": result.scores, **extra})
    done = time.perf_counter()
    metrics = state.metrics
    if not result.user_known:
        metrics.unknown_user(route, version, role).inc()
    metrics.user_path(route, result.user_path).inc()
    metrics.observe_stages(route, {**result.stages, "encode": done - encoding})
    metrics.observe(route, size, done - started, version, role)
    return body


async def score_answer(state: State, raw: bytes) -> Answer:
    """/score's answer to the body `raw`; the errors of an invalid request or an unready app."""
    body = parse_body(ScoreRequest, raw)
    started = time.perf_counter()
    serving: Serving = state.reloader.serving
    budget_ms = body.budget_ms or state.settings.score_budget_ms
    budget_s = None if budget_ms is None else budget_ms / 1e3
    scorer, role, result = await _answer(serving, "score", body.user_id, body.candidate_ids,
                                         body.top_k, body.user_features, body.strict, budget_s)
    encoded = _encoded(state, "score", len(body.candidate_ids), started, scorer.version, role,
                       result, unknown_item_ids=result.unknown_item_ids, scored=result.scored)
    if result.unknown_item_ids:
        state.metrics.unknown_item(scorer.version, role).inc(len(result.unknown_item_ids))
    challenger = serving.challenger
    if role == "live" and challenger is not None and challenger.samples():
        job = ShadowJob(scorer, body.user_id, body.user_features, result.rows,
                        result.scores if body.top_k is None else None)
        return Answer(encoded, partial(challenger.shadow_after_response, job))
    return Answer(encoded)


async def recommend_answer(state: State, raw: bytes) -> Answer:
    """/recommend's answer to the body `raw`."""
    body = parse_body(RecommendRequest, raw)
    started = time.perf_counter()
    scorer, role, result = await _answer(state.reloader.serving, "recommend", body.user_id,
                                         body.k, body.exclude_ids, body.user_features)
    return Answer(_encoded(state, "recommend", body.k, started, scorer.version, role, result))


SCORING: dict[str, Answerer] = {"/score": score_answer, "/recommend": recommend_answer}


def _response(answer: Answer) -> Response:
    return Response(answer.body, media_type="application/json",
                    background=None if answer.after is None else BackgroundTask(answer.after))


# The scoring routes as the full app serves them: what service.scoring_lane could not answer
# (errors, oversized or cut-off bodies) and the OpenAPI document's entries.
@router.post("/score", response_model=ScoreResponse, responses=_ERRORS,
             openapi_extra=openapi_body(ScoreRequest))
async def score(request: Request) -> Response:
    """Click probabilities of the candidates for one user (fresh `user_features` override the
    stored row; unknown users: the default row plus features)."""
    return _response(await score_answer(request.app.state, await request.body()))


@router.post("/recommend", response_model=RecommendResponse, responses=_ERRORS,
             openapi_extra=openapi_body(RecommendRequest))
async def recommend(request: Request) -> Response:
    """The user's top k of the whole catalogue, best first."""
    return _response(await recommend_answer(request.app.state, await request.body()))


@router.get("/healthz", response_model=StatusResponse)
async def healthz(request: Request) -> dict[str, Any]:
    """The process is up; model_version is null while the first bundle loads."""
    scorer: Scorer | None = request.app.state.reloader.scorer
    return {"status": "ok", "model_version": scorer.version if scorer else None}


@router.get("/readyz", response_model=StatusResponse, responses={503: {"model": ErrorResponse}})
async def readyz(request: Request) -> dict[str, Any]:
    """A bundle is loaded and warmed: 503 until then."""
    return {"status": "ready", "model_version": live_scorer(request).version}


@router.get("/model", response_model=ModelResponse, responses={503: {"model": ErrorResponse}})
async def model(request: Request) -> dict[str, Any]:
    """The live bundle: version, parent, age, sizes, memory, architecture, offline metrics; and
    the challenger of a rollout in progress, if this process holds one."""
    reloader = request.app.state.reloader
    challenger = reloader.serving.challenger
    return {**live_scorer(request).summary(), "on_disk": reloader.live_on_disk,
            "challenger": challenger.summary() if challenger is not None else None}


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    registry = request.app.state.metrics
    return Response(registry.render(), media_type=registry.content_type)


@admin_router.post("/reload", response_model=ReloadResponse,
                   responses={403: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
def reload(request: Request,
           x_admin_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """Load the bundle CURRENT names now (even one refused before); 409 if it cannot serve."""
    expected = request.app.state.settings.admin_token.get_secret_value()
    given = (x_admin_token or "").encode()
    if not secrets.compare_digest(given, expected.encode()):  # bytes: any header value
        raise Forbidden("a valid X-Admin-Token header is required")
    result = request.app.state.reloader.check(force=True)
    return {"model_version": result.version, "previous_version": result.previous,
            "reloaded": result.reloaded}
