"""The scoring lane answers successful /score and /recommend requests in front of the app, with
the very bytes the app's routes write; every other request reaches the app as it was sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import State
from starlette.types import Message, Receive, Scope, Send

from service.reloader import Serving
from service.routes import SCORING
from service.scoring_lane import ScoringLane
from training.trainer import TrainResult


class _Recorder:
    """An ASGI app standing for the full app: records what it was asked, then lets `inner`
    answer it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.bodies = inner, []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        messages: list[Message] = []

        async def recording() -> Message:
            messages.append(await receive())
            return messages[-1]

        await self.inner(scope, recording, send)
        self.bodies.append(b"".join(m.get("body", b"") for m in messages))


@pytest.fixture
def lane(client: TestClient) -> Iterator[tuple[TestClient, ScoringLane, _Recorder]]:
    client.get("/healthz")  # the stack is built on the first request
    lane = client.app.middleware_stack  # type: ignore[attr-defined]
    assert isinstance(lane, ScoringLane)
    full, lane.app = lane.app, _Recorder(lane.app)
    try:
        yield client, lane, lane.app  # type: ignore[misc]
    finally:
        lane.app = full


def test_a_successful_request_is_answered_by_the_lane_as_the_app_answers_it(
        lane: tuple[TestClient, ScoringLane, _Recorder], trained: TrainResult) -> None:
    client, _, full = lane
    items = [str(i) for i in trained.data.items.ids[:5]]
    for path, body in (("/score", {"user_id": str(trained.data.users.ids[0]),
                                   "candidate_ids": [*items, "not-an-item"], "top_k": 3}),
                       ("/recommend", {"user_id": "u-unknown", "k": 4, "exclude_ids": items})):
        by_lane = client.post(path, json=body)
        assert by_lane.status_code == 200 and full.bodies == []
        by_app = _through(full.inner, client.app, path, orjson.dumps(body))
        assert by_lane.content == by_app  # the same function wrote both
        assert by_lane.headers["content-type"] == "application/json"


def test_errors_reach_the_app_with_the_body_as_sent(
        lane: tuple[TestClient, ScoringLane, _Recorder]) -> None:
    client, _, full = lane
    sent = b'{"user_id": "u1", "candidate_ids": []}'
    refused = client.post("/score", content=sent)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "candidate_ids"
    assert full.bodies == [sent]
    assert client.get("/healthz").status_code == 200 and len(full.bodies) == 2  # not a score


def test_a_body_over_the_limit_or_cut_off_reaches_the_app_whole() -> None:
    """Chunked bodies: the app gets every message the lane read, then the connection's."""
    seen: list[list[Message]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages = [await receive()]
        while messages[-1].get("more_body"):
            messages.append(await receive())
        seen.append(messages)

    state = State()
    state.reloader = type("R", (), {"serving": Serving(None, None)})()  # not ready: an error
    lane = ScoringLane(app, SCORING, state, max_body_bytes=10)
    chunks = [{"type": "http.request", "body": b"x" * 6, "more_body": True},
              {"type": "http.request", "body": b"y" * 6, "more_body": True},
              {"type": "http.request", "body": b"z", "more_body": False}]
    for messages, headers in ((chunks, []), (chunks[2:], [(b"content-length", b"99")]),
                              ([{"type": "http.disconnect"}], []), (chunks[2:], [])):
        scope = {"type": "http", "method": "POST", "path": "/score", "headers": headers}
        asyncio.run(lane(scope, _receiving(list(messages)), _no_send))
        assert seen[-1] == messages  # whatever the lane read, and the rest, in order


def _receiving(pending: list[Message]) -> Receive:
    async def receive() -> Message:
        return pending.pop(0)

    return receive


async def _no_send(message: Message) -> None:
    raise AssertionError(f"the lane answered: {message}")


def _through(stack: Any, app: Any, path: str, body: bytes) -> bytes:
    """`body` POSTed to `path` of `app`'s middleware `stack` (the app without the lane); the
    response body."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": [(b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80), "app": app}
    asyncio.run(stack(scope, receive, send))
    assert sent[0]["status"] == 200, sent
    return b"".join(m.get("body", b"") for m in sent[1:])
