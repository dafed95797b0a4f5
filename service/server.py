"""`inttower serve`: uvicorn (uvloop event loop, httptools parser with the connection guards of
service.protocol) running service.app:create_app.

Settings travel through the environment, the one channel that reaches every worker process:
options given on the command line are written into INTTOWER_* variables first, and each worker's
`create_app()` reads them (service.settings).
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from service.metrics import MULTIPROCESS_DIR
from service.settings import Settings

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
APP = "service.app:create_app"  # the factory uvicorn runs in every worker
PROTOCOL = "service.protocol:GuardedHttpToolsProtocol"  # httptools with connection guards
# uvicorn restarts a worker that does not answer its health ping in time (default 5 s). A spawned
# worker answers only once it has re-imported the CLI module (pandas, torch: seconds on a busy
# machine), so the default can restart every worker forever, none ever serving.
WORKER_HEALTHCHECK_S = 60


def serve(host: str, port: int, workers: int = 1, access_log: bool = True,
          overrides: dict[str, str] | None = None, app: str = APP) -> None:
    """Run the API until interrupted; `overrides` are Settings fields, e.g. {"device": "cuda"}.

    `app` names another app factory to run with exactly these server settings (the benchmark's
    framework floor, bench/speed/floor.py)."""
    os.environ.update({f"INTTOWER_{name.upper()}": value
                       for name, value in (overrides or {}).items()})
    settings = Settings()  # fail fast on a bad environment, before any worker starts
    # torch and faiss size their OpenMP pools from this when they load, in every worker.
    os.environ.setdefault("OMP_NUM_THREADS", str(settings.torch_threads))
    log.info("serving %s on http://%s:%d (%s, %d worker(s))", settings.artifacts, host, port,
             settings.device, workers)
    with _shared_metrics(workers), _exit_zero_after_a_drain():
        uvicorn.run(app, factory=True, host=host, port=port, workers=workers,
                    loop="uvloop", http=PROTOCOL, access_log=access_log,
                    log_config=_log_config(), timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
                    timeout_graceful_shutdown=settings.drain_timeout_s)


@contextmanager
def _exit_zero_after_a_drain() -> Iterator[None]:
    """uvicorn drains on SIGTERM (new connections refused, received requests answered,
    keep-alive connections closed after their response), then raises the signal again with the
    handler it found, which by default kills the process (-15). This handler makes a drained
    exit a clean one (status 0), with one worker as with several."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, the folder their metrics share (service.metrics): the one
    PROMETHEUS_MULTIPROC_DIR names, emptied of an earlier run's files, or a fresh temporary one,
    removed at exit. The workers inherit the variable."""
    if workers == 1:
        yield
        return
    given = os.environ.get(MULTIPROCESS_DIR)
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="inttower-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):  # counts of an earlier run are not this run's
        stale.unlink()
    os.environ[MULTIPROCESS_DIR] = str(folder)
    try:
        yield
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)
            del os.environ[MULTIPROCESS_DIR]


def _log_config() -> dict[str, Any]:
    """uvicorn's own logging, plus the service's loggers (through the root) with timestamps."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["service"] = {"format": LOG_FORMAT}
    config["handlers"]["service"] = {"class": "logging.StreamHandler", "formatter": "service",
                                     "stream": "ext://sys.stderr"}
    config["root"] = {"handlers": ["service"], "level": "INFO"}
    return config
