"""Guard rails of a rollout: the challenger's failures and slowness stop it, without anyone
watching. A challenger is stopped (once) when
- it has failed `max_errors` times (an exception, or a call past `timeout_s`: a hang), or
- the median of its last WINDOW call times is above `max_latency_s`, once MIN_CALLS are in.
What stopping means is the caller's `trip(reason, detail)` (service.reloader: the challenger is
dropped here and the rollout ended in the store, so every replica stops).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

WINDOW = 50  # recent challenger calls whose median latency is watched
MIN_CALLS = 20  # no latency verdict on fewer


class GuardRails:
    def __init__(self, max_errors: int, max_latency_s: float, timeout_s: float,
                 trip: Callable[[str, str], None]) -> None:
        self.timeout_s = timeout_s
        self._max_errors = max_errors
        self._max_latency_s = max_latency_s
        self._trip = trip
        self._errors = 0
        self._recent: deque[float] = deque(maxlen=WINDOW)  # seconds of the last calls
        self._lock = threading.Lock()  # calls end on the event loop and in the shadow thread
        self.tripped = False

    def succeeded(self, seconds: float) -> None:
        with self._lock:
            self._recent.append(seconds)
            if len(self._recent) < MIN_CALLS:
                return
            median = sorted(self._recent)[len(self._recent) // 2]
        if median > self._max_latency_s:
            self._stop("latency", f"median challenger time {median * 1e3:.1f} ms over the last "
                                  f"{len(self._recent)} calls, the limit is "
                                  f"{self._max_latency_s * 1e3:g} ms")

    def failed(self, reason: str, detail: str) -> None:
        """A call that raised (`reason` "error") or ran past timeout_s ("timeout")."""
        with self._lock:
            self._errors += 1
            errors = self._errors
        if errors >= self._max_errors or reason == "timeout":
            self._stop(reason, f"{detail} ({errors} failed calls, the limit is "
                               f"{self._max_errors})")

    def _stop(self, reason: str, detail: str) -> None:
        with self._lock:
            if self.tripped:
                return
            self.tripped = True
        self._trip(reason, detail)
