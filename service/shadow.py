"""Shadow scoring: the challenger scores a sampled request again after its response is sent, in
one background thread, and the two answers are compared (service.comparison).

The request path only offers a job to a bounded queue, and a full queue drops the job (counted)
rather than waiting: a slow or hung challenger costs comparisons, never live latency. The thread
shares the process's GIL with the event loop, so it does as little as it can holding it: a job
carries the live answer's catalogue rows, not its ids (no id lookup: a bundle of another
catalogue is reached through a row map built once per live version), and the challenger's
scoring and the comparison are compiled kernels that release the GIL. It also runs at a lower
CPU priority where the OS allows it. A call running past the guard rails' timeout is a hang:
`check_hang` (the bundle watcher calls it) stops the rollout, and the thread, stuck in the
challenger's code, is abandoned (a daemon).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from service.comparison import compare
from service.guard import GuardRails
from service.ranking import sigmoid
from service.rollout_metrics import RolloutMetrics
from service.scorer import Scorer
from service.user_features import FeatureValue

log = logging.getLogger(__name__)

NICENESS = 10  # the shadow thread's nice increment (Linux: per thread)
POLL_S = 0.005  # the thread drains the offered jobs this often


@dataclass(frozen=True)
class ShadowJob:
    live: Scorer  # the live bundle that answered
    user_id: str
    user_features: Mapping[str, FeatureValue] | None
    rows: np.ndarray  # (N,) the live catalogue's rows of the candidates it scored, request order
    # (N,) the live probabilities aligned with `rows` (an answer in request order); None for a
    # top_k answer, which holds the best only: the thread scores `rows` with the live bundle.
    live_scores: np.ndarray | None


class ShadowWorker:
    def __init__(self, challenger: Scorer, guard: GuardRails, metrics: RolloutMetrics,
                 queue_size: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self._challenger = challenger
        self._guard = guard
        self._metrics = metrics
        self._clock = clock
        # Offered jobs. Not a queue.Queue: its put wakes the thread at once, in the middle of the
        # next request, and the GIL handoffs cost the live path ~0.1 ms a request (measured);
        # the thread drains this every POLL_S instead. Appends and pops are atomic.
        self._jobs: deque[ShadowJob] = deque()
        self._queue_size = queue_size
        self._in_hand = 0  # jobs taken off the deque and not done
        self._closed = threading.Event()
        self._busy_since: float | None = None  # clock() when the current challenger call began
        # live version -> its catalogue rows' rows in the challenger's (-1: not there), or None
        # for the same catalogue; built in the thread, for the live bundle of the last job
        self._row_map: tuple[str, np.ndarray | None] | None = None
        self._thread = threading.Thread(target=self._run, name="shadow-scoring", daemon=True)
        self._thread.start()

    def offer(self, job: ShadowJob) -> None:
        """Queue `job` if there is room, else drop it; never blocks, never wakes the thread."""
        if len(self._jobs) >= self._queue_size:
            self._metrics.outcome("dropped").inc()
        else:
            self._jobs.append(job)

    def check_hang(self) -> None:
        """Stop the rollout if the challenger's current call has run past the timeout."""
        since = self._busy_since
        if since is not None and self._clock() - since > self._guard.timeout_s:
            self._guard.failed("timeout", f"a shadow call running for over "
                                          f"{self._guard.timeout_s:g} s")

    def close(self) -> None:
        """Stop after the job in hand, dropping the queued ones (not waited for: a hung job
        never ends)."""
        self._closed.set()
        self._jobs.clear()

    def join_queue(self, timeout_s: float = 30.0) -> None:
        """Until every job offered so far is done (tests, benchmarks)."""
        deadline = time.monotonic() + timeout_s
        while (self._jobs or self._in_hand) and time.monotonic() < deadline:
            time.sleep(POLL_S)

    def _run(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)
        except (AttributeError, OSError) as exc:  # not Linux, or not allowed: full priority
            log.debug("shadow thread keeps its priority: %s", exc)
        while not self._closed.wait(POLL_S):
            while self._jobs and not self._closed.is_set():
                self._in_hand = 1
                job = self._jobs.popleft()
                try:
                    self._compare(job)
                except Exception:  # the live re-score of a job: log it, keep the thread
                    log.exception("shadow job for user %r failed", job.user_id)
                finally:
                    self._in_hand = 0

    def _compare(self, job: ShadowJob) -> None:
        live = (job.live_scores if job.live_scores is not None
                else sigmoid(job.live.logits(job.user_id, job.rows, job.user_features)))
        rows = job.rows
        row_map = self._rows_in_challenger(job.live)
        if row_map is not None:
            rows = row_map[rows]
            both = rows >= 0
            rows, live = rows[both], live[both]
        self._busy_since = started = self._clock()
        try:
            logits = self._challenger.logits(job.user_id, rows, job.user_features)
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
        comparison = compare(live, logits)
        if comparison is None:  # no candidate known to both
            self._metrics.outcome("incomparable").inc()
            return
        self._metrics.compared(comparison)

    def _rows_in_challenger(self, live: Scorer) -> np.ndarray | None:
        """(N_live_items,) the challenger's row of each live catalogue row (-1: it lacks the
        item), or None when the two bundles hold the same catalogue."""
        if self._row_map is None or self._row_map[0] != live.version:
            ids, theirs = live.bundle.items.ids, self._challenger.bundle.items.ids
            same = len(ids) == len(theirs) and bool(np.array_equal(ids, theirs))
            self._row_map = (live.version,
                             None if same else self._challenger.catalogue_rows(ids))
        return self._row_map[1]
