"""Hot bundle swaps: watch CURRENT; load, verify and warm a new bundle beside the live one; swap.

The live Scorer is one attribute, and a swap is one reference assignment: a request that has read
it finishes on the bundle it started with, later requests get the new one, nobody waits. A bundle
that does not verify, load or warm is refused — a log line and inttower_reload_failures_total — and
is not tried again until CURRENT moves or a reload is forced; the live bundle keeps serving.
Memory peaks at two bundles during a swap.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from model import store
from model.bundle import load_bundle
from service.errors import BundleRefused
from service.metrics import Metrics
from service.scorer import Scorer
from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    version: str | None  # live after the check
    previous: str | None  # live before it
    reloaded: bool


class Reloader:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.scorer: Scorer | None = None  # what requests read; None until the first load
        self._settings = settings
        self._metrics = metrics
        self._lock = threading.Lock()  # one load at a time: the watcher and /admin/reload
        self._refused: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self, force: bool = False) -> ReloadResult:
        """Swap in the bundle CURRENT names if it is new; BundleRefused if it cannot serve.

        A version refused before is skipped unless `force`.
        """
        with self._lock:
            live = self.scorer.version if self.scorer else None
            version = store.current_version(self._settings.artifacts)
            if version is None or version == live or (version == self._refused and not force):
                return ReloadResult(live, live, reloaded=False)
            try:
                scorer = self._load(version)
            except Exception as exc:  # whatever breaks a bundle, the live one must keep serving
                self._refused = version
                self._metrics.reload_failures.inc()
                log.error("refused bundle %s, still serving %s: %s", version, live, exc,
                          exc_info=not isinstance(exc, store.BundleError))
                raise BundleRefused(f"bundle {version} refused: "
                                    f"{_relative(exc, self._settings.artifacts)}") from exc
            self.scorer = scorer  # the swap
            _settle_heap()
            self._refused = None
            self._metrics.bundle_loaded(scorer.version, scorer.created_at)
            log.info("serving bundle %s (was %s)", version, live)
            return ReloadResult(version, live, reloaded=True)

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
            try:
                self.check()
            except BundleRefused:
                pass  # logged and counted by check()
            except Exception:  # e.g. an unreadable CURRENT: keep watching
                log.exception("bundle watcher: checking %s failed", self._settings.artifacts)


def _relative(exc: Exception, artifacts: Path) -> str:
    """`exc`'s message with paths inside the store written relative to it: what /admin/reload
    tells a client names the store's files, not this machine's folders."""
    message = str(exc)
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
