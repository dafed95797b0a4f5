"""Hot bundle swaps: watch CURRENT and CHALLENGER; load, verify and warm a new bundle beside the
live one; swap.

What requests read is one attribute, `serving` (the live Scorer and the rollout's Challenger, if
any), and a swap is one reference assignment: a request that has read it finishes on the bundles
it started with, later requests get the new ones, nobody waits. A bundle that does not verify,
load or warm is refused — a log line and inttower_reload_failures_total — and the live bundle keeps
serving; it is tried again with backoff when the cause may pass (an OSError), else not until
CURRENT moves or a reload is forced. A challenger that is refused, or that the guard rails trip
(service.guard), is dropped here at once and its rollout ended in the store, so every replica
stops it. A promotion reuses the challenger's loaded Scorer as the live one. Memory peaks at three
bundles while a challenger is held and a new one loads.
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
from functools import partial
from pathlib import Path

from model import rollout, store
from model.bundle import load_bundle
from model.rollout import Rollout
from service.challenger import Challenger
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
class Serving:
    live: Scorer | None  # None until the first bundle loads
    challenger: Challenger | None = None


@dataclass(frozen=True)
class _Refusal:
    version: str
    attempts: int
    retry_at: float  # time.monotonic(); inf: not before CURRENT moves or a forced reload


class Reloader:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.serving = Serving(None)  # what requests read
        self._settings = settings
        self._metrics = metrics
        self._lock = threading.Lock()  # one load at a time: the watcher and /admin/reload
        self._swap = threading.Lock()  # one change of `serving` at a time (guard rails trip
        self._stopped: set[Rollout] = set()  # from any thread); rollouts ended here
        self.live_on_disk = True  # the live bundle's folder was there at the last check
        self._refused: _Refusal | None = None
        self._log = RepeatLimitedLog(log, logging.ERROR, REPEAT_LOG_S)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def scorer(self) -> Scorer | None:
        """The live bundle's Scorer."""
        return self.serving.live

    def check(self, force: bool = False) -> ReloadResult:
        """Swap in the bundle CURRENT names if it is new; BundleRefused if it cannot serve, or
        if CURRENT cannot be read. Every failed check is counted (inttower_reload_failures_total).
        Then take up, change or drop the challenger CHALLENGER names (never raises).

        A version refused before is skipped until its retry is due, unless `force`.
        """
        with self._lock:
            try:
                return self._check_live(force)
            finally:
                self._check_challenger()

    def _check_live(self, force: bool) -> ReloadResult:
        live = self.scorer.version if self.scorer else None
        self._see_live_folder(live)
        try:
            version = store.current_version(self._settings.artifacts)
        except (OSError, store.BundleError) as exc:
            raise self._failed(f"cannot read {store.CURRENT}: {exc}", exc, live) from exc
        if version is None or version == live or not (force or self._due(version)):
            return ReloadResult(live, live, reloaded=False)
        held = self.serving.challenger
        try:
            scorer = (held.scorer if held is not None and held.scorer.version == version
                      else self._load(version))  # a promotion: loaded already
        except Exception as exc:  # whatever breaks a bundle, the live one must keep serving
            self._refuse(version, transient=isinstance(exc, OSError))
            raise self._failed(f"bundle {version} refused: {exc}", exc, live) from exc
        with self._swap:
            self.serving = Serving(scorer, self.serving.challenger)  # the swap
        _settle_heap()
        self._refused = None
        self._log.recovered()
        self._metrics.bundle_loaded(scorer.version, scorer.created_at)
        self._see_live_folder(version)
        log.info("serving bundle %s (was %s)", version, live)
        return ReloadResult(version, live, reloaded=True)

    def _check_challenger(self) -> None:
        """Hold the challenger CHALLENGER names: load it, take a changed share or mode, or drop
        it when the rollout ended, was stopped here, or names the live version."""
        artifacts = self._settings.artifacts
        try:
            wanted = rollout.challenger(artifacts)
        except (OSError, rollout.RolloutError) as exc:
            self._metrics.reload_failures.inc()
            self._log.report(f"cannot read {store.CHALLENGER}: {exc}", None)
            return
        held, live = self.serving.challenger, self.scorer
        if (wanted is None or wanted in self._stopped
                or (live is not None and wanted.version == live.version)):
            if held is not None:
                self._hold(None, held)
            return
        if held is not None and held.rollout == wanted:
            return
        try:
            scorer = (held.scorer if held is not None and held.scorer.version == wanted.version
                      else self._load(wanted.version))
        except Exception as exc:  # a challenger that cannot serve ends its rollout
            self._metrics.reload_failures.inc()
            self._trip(wanted, "refused", f"bundle {wanted.version} refused: {exc}")
            return
        self._hold(Challenger(wanted, scorer, self._settings, self._metrics.rollout,
                              partial(self._trip, wanted)), held)
        log.info("challenger %s held (%s, share %g)", wanted.version, wanted.mode.value,
                 wanted.share)

    def _hold(self, challenger: Challenger | None, replaced: Challenger | None) -> bool:
        """Serve `challenger` in place of `replaced` (False if `replaced` is no longer held)."""
        with self._swap:
            if self.serving.challenger is not replaced:
                return False
            self.serving = Serving(self.serving.live, challenger)
        if replaced is not None:
            replaced.close()
        self._metrics.rollout.held(*((challenger.rollout.version, challenger.rollout.mode.value)
                                     if challenger is not None else (None,)))
        return True

    def _trip(self, stopped: Rollout, reason: str, detail: str) -> None:
        """The guard rails (or a failed load) stop `stopped`: dropped here at once, then ended in
        the store in the background (file writes stay off the request path)."""
        self._stopped.add(stopped)
        held = self.serving.challenger
        if held is not None and held.rollout == stopped:
            self._hold(None, held)
        self._metrics.rollout.stops.labels(reason).inc()
        log.error("rollout of %s stopped (%s): %s", stopped.version, reason, detail)
        threading.Thread(target=self._end_in_store, args=(stopped, f"{reason}: {detail}"),
                         name="rollout-stop", daemon=True).start()

    def _end_in_store(self, stopped: Rollout, reason: str) -> None:
        try:
            rollout.stop(self._settings.artifacts, reason, stopped.version)
        except (OSError, rollout.RolloutError) as exc:  # stopped here either way
            log.warning("could not end the rollout of %s in the store: %s", stopped.version, exc)

    def check_hang(self) -> None:
        """Stop a rollout whose shadow call has run past the timeout (the watcher calls it)."""
        held = self.serving.challenger
        if held is not None and held.shadow is not None:
            held.shadow.check_hang()

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
        """Stop polling (waits for a load in progress to finish) and the shadow thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        held = self.serving.challenger
        if held is not None:
            held.close()

    def _watch(self) -> None:
        while not self._stop.wait(self._settings.reload_interval_s):
            self.check_hang()
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
