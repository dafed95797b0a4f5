"""`create_app(settings)`: the FastAPI app. The bundle is loaded in the lifespan, never at import.

Start-up tries CURRENT once: with no bundle published yet (or a bad one) the app still starts —
/healthz answers, /readyz and the scoring routes answer 503 — and the watcher serves the first good
bundle that appears. `uvicorn --factory service.app:create_app` builds it from the environment.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import torch
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service.body_limit import BodyLimit
from service.error_handlers import install_error_handlers
from service.errors import BundleRefused
from service.metrics import Metrics
from service.openapi import live_openapi
from service.protocol import SETTINGS_STATE
from service.reloader import Reloader
from service.routes import SCORING, admin_router, router
from service.scoring_lane import LanedFastAPI
from service.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()
    reloader = Reloader(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Settings]]:
        # Process-wide, and inherited by threads started later (the thread pool, the watcher);
        # restored on shutdown for whoever runs the app in-process (tests).
        threads = torch.get_num_threads()
        torch.set_num_threads(settings.torch_threads)
        with suppress(BundleRefused):  # logged and counted; the watcher takes the next good one
            await run_in_threadpool(reloader.check)
        if reloader.scorer is None:
            log.warning("no servable bundle in %s yet: /readyz answers 503 until one is published",
                        settings.artifacts)
        reloader.start()
        try:
            yield {SETTINGS_STATE: settings}  # uvicorn's app state: the connection guards read it
        finally:
            await run_in_threadpool(reloader.stop)
            metrics.close()
            torch.set_num_threads(threads)

    app = LanedFastAPI(  # service.scoring_lane answers the scoring requests that succeed
        lane=SCORING, max_body_bytes=settings.max_body_bytes,
        title="inttower",
        summary="IntTower pre-ranking: score a user's candidates, or recommend from the catalogue.",
        lifespan=lifespan,
        # FastAPI's OpenTelemetry hooks look for configured providers on every request; this
        # service exports Prometheus metrics (service.metrics) and configures none.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.reloader = reloader
    app.openapi = live_openapi(app, settings, lambda: reloader.scorer)  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(router)
    if settings.admin_token is not None:  # without a token the admin routes do not exist (404)
        app.include_router(admin_router)
    return app
