"""Prometheus metrics of one app instance, in its own registry (two apps in a process never clash).

Series (GET /metrics):
    inttower_request_seconds{route, candidates, version, role}
                                                  handler time; candidates buckets the /score
                                                  candidate count, or the /recommend k; role:
                                                  live, or challenger (an ab rollout's share)
    inttower_stage_seconds{route, stage}          where handler time goes: user_tower,
                                                  gather_score (candidate heads + FE-Block),
                                                  encode (JSON response); search (faiss) for
                                                  /recommend
    inttower_unknown_users_total{route, version, role}
                                                  requests for users outside the bundle
    inttower_user_path_total{route, path}         requests by how the user's heads were had:
                                                  cached (precomputed at load) or online (the
                                                  user tower ran, on fresh features if sent)
    inttower_unknown_items_total{version, role}   /score candidates outside the bundle
    inttower_errors_total{status}                 error responses by HTTP status
    inttower_client_disconnects_total             clients gone before their body arrived
    inttower_model_info{version}                  the live bundle version
    inttower_bundle_age_seconds                   now - the live bundle's created_at
    inttower_reloads_total                        bundles swapped in (the first load included)
    inttower_reload_failures_total                failed checks: a bundle refused (the old one
                                                  kept serving) or CURRENT unreadable
    inttower_live_bundle_on_disk                  0 once the live bundle's folder is gone
    inttower_challenger_*, inttower_shadow_*      a rollout's series (service.rollout_metrics)
With several uvicorn workers (`inttower serve --workers N`) the series live in prometheus_client's
multiprocess mode: each worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (the server
makes and clears that folder, service.server), and /metrics, on whichever worker answers it, reads
them all: counters and histograms summed over the workers, inttower_model_info 1 for each version
a live worker serves, the bundle age as the answering worker last saw it. The process_* series
(CPU, memory of one process) are left out there: they would describe one worker of N.
"""

from __future__ import annotations

import bisect
import functools
import os
import time
from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from service.rollout_metrics import RolloutMetrics

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable

# Upper bounds of the candidate-count buckets; the label is "<=10", ..., ">10000".
CANDIDATE_BOUNDS = (10, 100, 1_000, 10_000)
_CANDIDATE_LABELS = (*(f"<={b}" for b in CANDIDATE_BOUNDS), f">{CANDIDATE_BOUNDS[-1]}")
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Stages take tens of microseconds to a few milliseconds.
STAGE_BUCKETS = (0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)


def candidate_bucket(count: int) -> str:
    return _CANDIDATE_LABELS[bisect.bisect_left(CANDIDATE_BOUNDS, count)]


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._multiprocess = MULTIPROCESS_DIR in os.environ
        if not self._multiprocess:
            ProcessCollector(registry=self.registry)
        reg = self.registry
        self.latency = Histogram("inttower_request_seconds", "Scoring request time in the handler",
                                 ["route", "candidates", "version", "role"],
                                 buckets=LATENCY_BUCKETS, registry=reg)
        self.stages = Histogram("inttower_stage_seconds", "Scoring time per stage",
                                ["route", "stage"], buckets=STAGE_BUCKETS, registry=reg)
        self.unknown_users = Counter("inttower_unknown_users", "Requests for unknown users",
                                     ["route", "version", "role"], registry=reg)
        self.user_paths = Counter("inttower_user_path", "Requests by user-heads path",
                                  ["route", "path"], registry=reg)
        self.unknown_items = Counter("inttower_unknown_items", "Unknown /score candidates",
                                     ["version", "role"], registry=reg)
        self.errors = Counter("inttower_errors", "Error responses", ["status"], registry=reg)
        self.client_disconnects = Counter(
            "inttower_client_disconnects", "Requests whose client left before sending the whole "
            "body: no response, and not an error of the server", registry=reg)
        self.model = Gauge("inttower_model_info", "The live bundle: 1 for the version served",
                           ["version"], multiprocess_mode="livemax", registry=reg)
        self.bundle_age = Gauge("inttower_bundle_age_seconds", "Age of the live bundle",
                                multiprocess_mode="livemostrecent", registry=reg)
        # livemin: 0 when any worker's live bundle is gone from the store.
        self.live_bundle_on_disk = Gauge(
            "inttower_live_bundle_on_disk", "1 while the live bundle's folder is in the store; "
            "0: served from memory, a restart could not load it", multiprocess_mode="livemin",
            registry=reg)
        self._live: tuple[str, float] | None = None  # version and created_at of the live bundle
        self.reloads = Counter("inttower_reloads", "Bundles swapped in", registry=reg)
        self.reload_failures = Counter("inttower_reload_failures",
                                       "Bundles refused; the previous one kept serving",
                                       registry=reg)
        self.rollout = RolloutMetrics(reg)
        # The labelled series, resolved once per label set (a few routes x buckets or stages):
        # `labels()` validates and locks on every call, twice the cost of the observation itself.
        self._latency_series = functools.cache(self.latency.labels)
        self._stage_series = functools.cache(self.stages.labels)
        self.user_path = functools.cache(self.user_paths.labels)
        self.unknown_user = functools.cache(self.unknown_users.labels)
        self.unknown_item = functools.cache(self.unknown_items.labels)

    def observe(self, route: str, candidates: int, seconds: float, version: str,
                role: str) -> None:
        self._latency_series(route, candidate_bucket(candidates), version, role).observe(seconds)

    def observe_stages(self, route: str, stages: Mapping[str, float]) -> None:
        for stage, seconds in stages.items():
            self._stage_series(route, stage).observe(seconds)

    def bundle_loaded(self, version: str, created_at: float) -> None:
        """A new bundle is live; `created_at` is its creation time (epoch seconds)."""
        if self._live is not None:
            self.model.labels(self._live[0]).set(0)  # what other workers' files read as gone
            self.model.remove(self._live[0])
        self.model.labels(version).set(1)
        self._live = (version, created_at)
        self.reloads.inc()

    def close(self) -> None:
        """This worker is stopping: in multiprocess mode its gauges leave what /metrics reports
        (prometheus_client's mark_process_dead), while its counts stay in the sums. A worker
        killed outright cannot do this: its gauges stay until the server restarts."""
        if self._multiprocess:
            mark_process_dead(os.getpid())

    def render(self) -> bytes:
        if self._live is not None:
            self.bundle_age.set(time.time() - self._live[1])
        if not self._multiprocess:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker)
        return generate_latest(every_worker)
