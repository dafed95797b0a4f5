"""POST /score and /recommend answered in front of the framework when they succeed.

A scoring request's own work is a handful of compiled calls (service.scorer). Around it, the
app's middleware (error handling, the body limit, FastAPI's exit stack), Starlette's routing
and its Request and Response objects each wrap the call and every message it receives and sends.
The lane is the outermost layer of the app (`LanedFastAPI`, which service.app builds): it reads a
scoring request's body itself, answers it through the same function the route calls
(service.routes' `score_answer` and `recommend_answer`) and writes the 200 response.

Every request the lane cannot answer with a 200 goes to the full app: a declared body over the
limit, one that grows past it or is cut off by a disconnect, and any error while answering. The
full app gets the messages read so far replayed and then the connection's own, so it sees the
request exactly as sent and answers as it always would: its error handlers stay the one place
that words an error (and counts it). An error is answered after a second attempt by the routes,
which fail again the same way before any metric is recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class Answer:
    """A scoring route's answer: its JSON body, and what runs once it is sent (a shadowed
    /score hands its job to the shadow thread)."""
    body: bytes
    after: Callable[[], Awaitable[None]] | None = None


# The answer of a route to a request body: (app state, body) -> Answer, or an exception.
Answerer = Callable[[State, bytes], Awaitable[Answer]]


class ScoringLane:
    def __init__(self, app: ASGIApp, answers: Mapping[str, Answerer], state: State,
                 max_body_bytes: int) -> None:
        self.app = app  # the full app: its middleware, routes and error handlers
        self.answers = answers  # POST path -> its route's answer
        self.state = state
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer_for = (self.answers.get(scope["path"]) if scope["type"] == "http"
                      and scope["method"] == "POST" else None)
        if answer_for is None:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        body = await self._body(scope, receive, received)
        answer = None
        if body is not None:
            try:
                answer = await answer_for(self.state, body)
            except Exception:  # the full app answers it again, and words the error
                answer = None
        if answer is None:
            await self.app(scope, _replaying(received, receive), send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_HEADERS, (b"content-length", str(len(answer.body)).encode())]})
        await send({"type": "http.response.body", "body": answer.body})
        if answer.after is not None:
            await answer.after()

    async def _body(self, scope: Scope, receive: Receive, received: list[Message]
                    ) -> bytes | None:
        """The whole body, each message kept in `received`; None when the full app must see
        the request: a declared or received size over the limit, or a disconnect."""
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit()
                                              or int(value) > self.max_body_bytes):
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replaying(received: list[Message], receive: Receive) -> Receive:
    """`receive` that hands out the `received` messages again first."""
    pending = list(received)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


class LanedFastAPI(FastAPI):
    """FastAPI with a ScoringLane in front of its middleware for the POST routes `lane` names."""

    def __init__(self, *, lane: Mapping[str, Answerer], max_body_bytes: int,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lane, self._max_body_bytes = lane, max_body_bytes

    def build_middleware_stack(self) -> ASGIApp:
        return ScoringLane(super().build_middleware_stack(), self._lane, self.state,
                           self._max_body_bytes)
