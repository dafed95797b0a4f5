"""Shadow scoring: the challenger scores a sampled request again after its response is sent, in
one background thread, and the two answers are compared (service.comparison).

The request path only offers a job to a bounded queue, and a full queue drops the job (counted)
rather than waiting: a slow or hung challenger costs comparisons, never live latency. The thread
runs at a lower CPU priority than the event loop where the OS allows it, and most of a scoring
call runs in compiled kernels that release the GIL. A call running past the guard rails' timeout
is a hang: `check_hang` (the bundle watcher calls it) stops the rollout, and the thread, stuck in
the challenger's code, is abandoned (a daemon).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from service.comparison import compare
from service.guard import GuardRails
from service.rollout_metrics import RolloutMetrics
from service.scorer import ItemIds, Scorer, Scores
from service.user_features import FeatureValue

log = logging.getLogger(__name__)

NICENESS = 10  # the shadow thread's nice increment (Linux: per thread)


@dataclass(frozen=True)
class ShadowJob:
    live: Scorer  # the live bundle that answered
    user_id: str
    candidate_ids: ItemIds
    user_features: Mapping[str, FeatureValue] | None
    # The live answer, when it holds every known candidate's score (no top_k, no budget): the
    # comparison reuses it; else the live bundle scores the whole list again, in the thread.
    live_answer: Scores | None


class ShadowWorker:
    def __init__(self, challenger: Scorer, guard: GuardRails, metrics: RolloutMetrics,
                 queue_size: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self._challenger = challenger
        self._guard = guard
        self._metrics = metrics
        self._clock = clock
        self._jobs: queue.Queue[ShadowJob | None] = queue.Queue(maxsize=queue_size)
        self._busy_since: float | None = None  # clock() when the current challenger call began
        self._thread = threading.Thread(target=self._run, name="shadow-scoring", daemon=True)
        self._thread.start()

    def offer(self, job: ShadowJob) -> None:
        """Queue `job` if there is room, else drop it; never blocks."""
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self._metrics.outcome("dropped").inc()

    def check_hang(self) -> None:
        """Stop the rollout if the challenger's current call has run past the timeout."""
        since = self._busy_since
        if since is not None and self._clock() - since > self._guard.timeout_s:
            self._guard.failed("timeout", f"a shadow call running for over "
                                          f"{self._guard.timeout_s:g} s")

    def close(self, wait: bool = False) -> None:
        """Stop after the job in hand (a hung one never ends: not waited for unless `wait`)."""
        try:
            self._jobs.put_nowait(None)
        except queue.Full:  # the thread is stuck or far behind: drain, then stop it
            while not self._jobs.empty():
                self._jobs.get_nowait()
            self._jobs.put_nowait(None)
        if wait:
            self._thread.join()

    def join_queue(self) -> None:
        """Until every job offered so far is done (tests, benchmarks)."""
        self._jobs.join()

    def _run(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)
        except (AttributeError, OSError) as exc:  # not Linux, or not allowed: full priority
            log.debug("shadow thread keeps its priority: %s", exc)
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                self._compare(job)
            except Exception:  # the live re-score of a job: log it, keep the thread
                log.exception("shadow job for user %r failed", job.user_id if job else None)
            finally:
                self._jobs.task_done()

    def _compare(self, job: ShadowJob) -> None:
        live = job.live_answer or job.live.score(job.user_id, job.candidate_ids,
                                                 user_features=job.user_features)
        self._busy_since = started = self._clock()
        try:
            answer = self._challenger.score(job.user_id, job.candidate_ids,
                                            user_features=job.user_features)
        except Exception as exc:  # whatever the challenger does, the thread goes on
            self._metrics.outcome("failed").inc()
            self._metrics.failures.labels("error").inc()
            log.warning("shadow scoring by %s failed: %r", self._challenger.version, exc)
            self._guard.failed("error", f"shadow scoring raised {exc!r}")
            return
        finally:
            self._busy_since = None
        seconds = self._clock() - started
        self._metrics.seconds.labels("shadow").observe(seconds)
        self._guard.succeeded(seconds)
        comparison = compare(live.item_ids, live.scores, answer.item_ids, answer.scores)
        if comparison is None:  # no candidate known to both
            self._metrics.outcome("incomparable").inc()
            return
        self._metrics.compared(comparison)
