"""A rollout's challenger in service: its rollout (model.rollout), its Scorer (loaded, verified
and warmed like the live one), its guard rails and, in shadow mode, its shadow thread.

- ab: `answers(user_id)` says whether the challenger answers this user (a hash: the same on every
  worker and replica). Its call runs in the thread pool under the guard rails' timeout, so a
  challenger that hangs holds no other request; one that raises or times out is answered by the
  live bundle instead (and counted: the guard rails stop the rollout).
- shadow: `samples()` draws the requests to compare; `shadow.offer` queues them (service.shadow).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from model.rollout import Mode, Rollout
from service import comparison
from service.errors import ServiceError
from service.guard import GuardRails
from service.rollout_metrics import RolloutMetrics
from service.scorer import Scorer, Scores
from service.settings import Settings
from service.shadow import ShadowJob, ShadowWorker

log = logging.getLogger(__name__)


class Challenger:
    def __init__(self, rollout: Rollout, scorer: Scorer, settings: Settings,
                 metrics: RolloutMetrics, trip: Callable[[str, str], None]) -> None:
        self.rollout = rollout
        self.scorer = scorer
        self._metrics = metrics
        self.guard = GuardRails(settings.rollout_max_errors,
                                settings.rollout_max_latency_ms / 1e3,
                                settings.rollout_timeout_s, trip)
        self.shadow = None
        if rollout.mode is Mode.shadow:
            comparison.warm()
            self.shadow = ShadowWorker(scorer, self.guard, metrics, settings.shadow_queue_size)

    def answers(self, user_id: str) -> bool:
        """ab: the challenger answers this user's requests."""
        return self.rollout.serves(user_id)

    def samples(self) -> bool:
        """shadow: this request is scored again by the challenger."""
        return self.shadow is not None and random.random() < self.rollout.share

    async def call(self, method: Callable[..., Scores], *args: Any) -> Scores | None:
        """`method(*args)` (the challenger Scorer's score or recommend), in the thread pool,
        within the timeout; None if it raised or timed out (the caller answers with the live
        bundle). A client error (service.errors) is the challenger's answer, and raised."""
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(run_in_threadpool(method, *args),
                                            self.guard.timeout_s)
        except ServiceError:
            raise
        except TimeoutError:
            self._failed("timeout", f"a call ran past {self.guard.timeout_s:g} s")
            return None
        except Exception as exc:  # whatever the challenger does, the live bundle answers
            log.warning("challenger %s failed a request: %r", self.scorer.version, exc)
            self._failed("error", f"a call raised {exc!r}")
            return None
        seconds = time.perf_counter() - started
        self._metrics.seconds.labels(Mode.ab.value).observe(seconds)
        self.guard.succeeded(seconds)
        return result

    async def shadow_after_response(self, job: ShadowJob) -> None:
        """Offer `job` to the shadow thread: a response's background task, run on the event
        loop once the response is sent (async: Starlette runs a plain function in its pool)."""
        if self.shadow is not None:
            self.shadow.offer(job)

    def close(self) -> None:
        """The rollout is over here: the shadow thread stops after its job in hand."""
        if self.shadow is not None:
            self.shadow.close()

    def summary(self) -> dict[str, Any]:
        """GET /model's `challenger`."""
        return {**self.scorer.summary(), "mode": self.rollout.mode.value,
                "share": self.rollout.share, "salt": self.rollout.salt,
                "started_at": self.rollout.started_at}

    def _failed(self, reason: str, detail: str) -> None:
        self._metrics.failures.labels(reason).inc()
        self.guard.failed(reason, detail)
