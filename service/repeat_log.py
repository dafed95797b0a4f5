"""A log line per kind of event, not per event: the first of a run of identical messages is
logged, then one line per `every_s` while the run lasts, saying how many were not logged. For
events that can come by the thousand (a failing watcher every poll, a connection flood)."""

from __future__ import annotations

import logging
import threading
import time


class RepeatLimitedLog:
    def __init__(self, logger: logging.Logger, level: int, every_s: float = 60.0) -> None:
        self._logger, self._level, self._every_s = logger, level, every_s
        self._lock = threading.Lock()  # the watcher thread and the event loop may share one
        self._last: str | None = None
        self._logged_at = 0.0
        self._unlogged = 0

    def report(self, message: str, exc_info: BaseException | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            if message == self._last and now - self._logged_at < self._every_s:
                self._unlogged += 1
                return
            repeats = f" (and {self._unlogged} times since the last line)" if self._unlogged else ""
            self._last, self._logged_at, self._unlogged = message, now, 0
        self._logger.log(self._level, "%s%s", message, repeats, exc_info=exc_info)

    def recovered(self) -> None:
        with self._lock:
            self._last, self._unlogged = None, 0
