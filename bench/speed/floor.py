"""The two floors that `inttower bench serve` measures /score against.

Both are served by `service.server.serve` with the service's uvicorn settings (uvloop, httptools
with the connection guards of service/protocol.py), take a /score body and answer N floats for
its N candidate ids, with no model.

framework  `create_floor_app`: the service's own stack minus the model: the scoring lane in
           front of FastAPI with the same body-size middleware and error handlers, the same
           request parsing (`parse_body(ScoreRequest, ...)`, run on the event loop like /score),
           the same JSON encoder. What /score costs beyond this is the model.
minimal    `create_minimal_app`: a FastAPI route that reads the raw body through `orjson.loads`
           and answers `{"item_ids": the N ids, "scores": N float32}` with the same encoder; no
           middleware, no pydantic, no validation, no model. What HTTP, the framework and JSON
           alone cost: the service's cost beyond it is the physics of /score (validating, looking
           up and scoring N candidates), which is what the issue-12 goals bound. (The service's
           scoring lane answers in front of the framework this floor runs through.)

Run: python -m bench.speed.floor --port 8001 [--workers 2] [--minimal]
"""

from __future__ import annotations

import argparse

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from starlette.datastructures import State

from service.body_limit import BodyLimit
from service.error_handlers import install_error_handlers
from service.metrics import Metrics
from service.request_body import parse_body
from service.routes import json_bytes, json_response
from service.schemas import ScoreRequest
from service.scoring_lane import Answer, LanedFastAPI
from service.server import serve
from service.settings import Settings


def _scores(settings: Settings) -> np.ndarray:
    # Probability-like floats, formatted by the encoder as the real scores are (zeros are cheaper).
    return np.random.default_rng(0).random(settings.max_candidates, dtype=np.float32)


def create_floor_app() -> FastAPI:
    settings = Settings()
    floats = _scores(settings)

    async def answer(state: State, raw: bytes) -> Answer:
        body = parse_body(ScoreRequest, raw)
        return Answer(json_bytes({"scores": floats[: len(body.candidate_ids)]}))

    app = LanedFastAPI(lane={"/score": answer}, max_body_bytes=settings.max_body_bytes,
                       title="inttower framework floor")
    app.state.metrics = Metrics()  # the error handlers count errors there
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)

    @app.post("/score")  # what the lane hands on: errors
    async def score(request: Request) -> Response:
        return Response((await answer(request.app.state, await request.body())).body,
                        media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def create_minimal_app() -> FastAPI:
    floats = _scores(Settings())
    app = FastAPI(title="inttower minimal floor")

    @app.post("/score")
    async def score(request: Request) -> Response:
        ids = orjson.loads(await request.body())["candidate_ids"]
        return json_response({"item_ids": ids, "scores": floats[: len(ids)]})

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--minimal", action="store_true",
                        help="The minimal floor instead of the framework one.")
    args = parser.parse_args()
    factory = "create_minimal_app" if args.minimal else "create_floor_app"
    serve(args.host, args.port, args.workers, access_log=False,
          app=f"bench.speed.floor:{factory}")


if __name__ == "__main__":
    main()
