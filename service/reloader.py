"""Hot bundle swaps: watch CURRENT; load, verify and warm a new bundle beside the live one; swap.

The live Scorer is one attribute, and a swap is one reference assignment: a request that has read
it finishes on the bundle it started with, later requests get the new one, nobody waits. A bundle
that does not verify, load or warm is refused — a log line and inttower_reload_failures_total — and
the live bundle keeps serving; it is tried again with backoff when the cause may pass (an OSError),
else not until CURRENT moves or a reload is forced. Memory peaks at two bundles during a swap.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from model import store
from model.bundle import load_bundle
from service.errors import BundleRefused
from service.metrics import Metrics
from service.repeat_log import RepeatLimitedLog
from service.scorer import Scorer
from service.settings import Settings

log = logging.getLogger(__name__)


# A bundle refused for a cause that may pass (permissions, I/O, files still arriving) is tried
# again after RETRY_FIRST_S, doubling up to RETRY_MAX_S; one whose content is wrong waits for
# CURRENT to move or a forced reload.
RETRY_FIRST_S, RETRY_MAX_S = 2.0, 60.0
REPEAT_LOG_S = 60.0  # a failure that repeats is logged again at most this often


@dataclass(frozen=True)
class ReloadResult:
    version: str | None  # live after the check
    previous: str | None  # live before it
    reloaded: bool


@dataclass(frozen=True)
class _Refusal:
    version: str
    attempts: int
    retry_at: float  # time.monotonic(); inf: not before CURRENT moves or a forced reload


class Reloader:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.scorer: Scorer | None = None  # what requests read; None until the first load
        self._settings = settings
        self._metrics = metrics
        self._lock = threading.Lock()  # one load at a time: the watcher and /admin/reload
        self.live_on_disk = True  # the live bundle's folder was there at the last check
        self._refused: _Refusal | None = None
        self._log = RepeatLimitedLog(log, logging.ERROR, REPEAT_LOG_S)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self, force: bool = False) -> ReloadResult:
        """Swap in the bundle CURRENT names if it is new; BundleRefused if it cannot serve, or
        if CURRENT cannot be read. Every failed check is counted (inttower_reload_failures_total).

        A version refused before is skipped until its retry is due, unless `force`.
        """
        with self._lock:
            live = self.scorer.version if self.scorer else None
            self._see_live_folder(live)
            try:
                version = store.current_version(self._settings.artifacts)
            except (OSError, store.BundleError) as exc:
                raise self._failed(f"cannot read {store.CURRENT}: {exc}", exc, live) from exc
            if version is None or version == live or not (force or self._due(version)):
                return ReloadResult(live, live, reloaded=False)
            try:
                scorer = self._load(version)
            except Exception as exc:  # whatever breaks a bundle, the live one must keep serving
                self._refuse(version, transient=isinstance(exc, OSError))
                raise self._failed(f"bundle {version} refused: {exc}", exc, live) from exc
            self.scorer = scorer  # the swap
            _settle_heap()
            self._refused = None
            self._log.recovered()
            self._metrics.bundle_loaded(scorer.version, scorer.created_at)
            self._see_live_folder(version)
            log.info("serving bundle %s (was %s)", version, live)
            return ReloadResult(version, live, reloaded=True)

    def _due(self, version: str) -> bool:
        refused = self._refused
        return refused is None or refused.version != version or time.monotonic() >= refused.retry_at

    def _refuse(self, version: str, transient: bool) -> None:
        attempts = (self._refused.attempts + 1 if self._refused and self._refused.version == version
                    else 1)
        wait = min(RETRY_FIRST_S * 2 ** (attempts - 1), RETRY_MAX_S) if transient else math.inf
        self._refused = _Refusal(version, attempts, time.monotonic() + wait)

    def _failed(self, message: str, exc: Exception, live: str | None) -> BundleRefused:
        """Count and log a failed check; the error for the client, paths relative to the store."""
        self._metrics.reload_failures.inc()
        unexpected = not isinstance(exc, OSError | store.BundleError)  # a traceback for those
        self._log.report(f"{message}; still serving {live}", exc if unexpected else None)
        return BundleRefused(_relative(message, self._settings.artifacts))

    def _see_live_folder(self, live: str | None) -> None:
        """Whether the live bundle's folder is still in the store: the process serves from
        memory either way, but a restart could not load it again (/model, and a gauge)."""
        self.live_on_disk = live is None or store.bundle_path(self._settings.artifacts,
                                                              live).is_dir()
        self._metrics.live_bundle_on_disk.set(int(self.live_on_disk))

    def _load(self, version: str) -> Scorer:
        settings = self._settings
        bundle = load_bundle(store.bundle_path(settings.artifacts, version), settings.device)
        if bundle.version != version:  # a copied or renamed folder: not what CURRENT means
            raise store.BundleError(f"folder {version} holds bundle {bundle.version}")
        scorer = Scorer.from_settings(bundle, settings)
        scorer.warm()
        return scorer

    def start(self) -> None:
        """Poll CURRENT every `reload_interval_s` in a daemon thread until stop()."""
        self._thread = threading.Thread(target=self._watch, name="bundle-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; waits for a load in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self._settings.reload_interval_s):
            with suppress(BundleRefused):  # counted and logged by check()
                self.check()


def _relative(message: str, artifacts: Path) -> str:
    """`message` with paths inside the store written relative to it: what /admin/reload tells a
    client names the store's files, not this machine's folders."""
    for root in (artifacts.resolve(), artifacts):
        message = message.replace(f"{root}{os.sep}", "")
    return message


def _settle_heap() -> None:
    """Collect what the previous bundle left, then exempt every live object from later garbage
    collections: a bundle is hundreds of thousands of long-lived objects that each full
    collection would re-scan for nothing (7 % of a /score request's CPU time, measured)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
