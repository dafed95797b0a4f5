"""The framework floor that `inttower bench serve` measures /score against.

The service's own stack minus the model: FastAPI with the same body-size middleware and error
handlers, the same request parsing (`json_body(ScoreRequest)` in an `async def` route, run on
the event loop like /score), the same JSON encoder, served by `service.server.serve` with the
same uvicorn settings. It answers N floats for N candidate ids. What /score costs beyond this
is the model.

Run: python -m training.bench.floor --port 8001 [--workers 2]
"""

from __future__ import annotations

import argparse
from typing import Annotated

import numpy as np
from fastapi import Depends, FastAPI, Response

from service.body_limit import BodyLimit
from service.error_handlers import install_error_handlers
from service.metrics import Metrics
from service.request_body import json_body
from service.routes import json_response
from service.schemas import ScoreRequest
from service.server import serve
from service.settings import Settings


def create_floor_app() -> FastAPI:
    settings = Settings()
    # Probability-like floats, formatted by the encoder as the real scores are (zeros are cheaper).
    floats = np.random.default_rng(0).random(settings.max_candidates, dtype=np.float32)
    app = FastAPI(title="inttower framework floor")
    app.state.metrics = Metrics()  # the error handlers count errors there
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)

    @app.post("/score")
    async def score(body: Annotated[ScoreRequest, Depends(json_body(ScoreRequest))]) -> Response:
        return json_response({"scores": floats[: len(body.candidate_ids)]})

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    serve(args.host, args.port, args.workers, access_log=False,
          app="training.bench.floor:create_floor_app")


if __name__ == "__main__":
    main()
