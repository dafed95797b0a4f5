"""The Prometheus series of a rollout (model.rollout), in the app's registry (service.metrics).

    inttower_challenger_info{version, mode}       1 while this challenger is held
    inttower_challenger_seconds{mode}             the challenger's scoring time per call
    inttower_challenger_failures_total{reason}    error (it raised) or timeout (a hang)
    inttower_rollout_stops_total{reason}          rollouts the guard rails stopped: error,
                                                  timeout, latency, refused (did not load)
    inttower_shadow_total{outcome}                shadow jobs: compared, dropped (queue full:
                                                  nothing waits for the challenger), failed,
                                                  incomparable (no candidate known to both)
    inttower_shadow_topk_overlap{k}               per compared request (service.comparison)
    inttower_shadow_rank_correlation              Spearman, per compared request
    inttower_shadow_score_shift                   mean challenger - live probability
Means are `_sum / _count`; `inttower rollout status --url` prints them. The two figures that can
be negative are summaries (sum and count): prometheus_client writes no `_sum` for a histogram
with negative buckets.
"""

from __future__ import annotations

import functools

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

from service.comparison import Comparison

SHARE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
SECONDS_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class RolloutMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        reg = registry
        self.info = Gauge("inttower_challenger_info", "The challenger held: 1 for its version",
                          ["version", "mode"], multiprocess_mode="livemax", registry=reg)
        self.seconds = Histogram("inttower_challenger_seconds", "Challenger scoring time",
                                 ["mode"], buckets=SECONDS_BUCKETS, registry=reg)
        self.failures = Counter("inttower_challenger_failures", "Challenger calls that raised "
                                "or timed out", ["reason"], registry=reg)
        self.stops = Counter("inttower_rollout_stops", "Rollouts stopped by the guard rails",
                             ["reason"], registry=reg)
        self.shadow = Counter("inttower_shadow", "Shadow jobs by outcome", ["outcome"],
                              registry=reg)
        self.overlap = Histogram("inttower_shadow_topk_overlap", "Top-k overlap, challenger vs "
                                 "live", ["k"], buckets=SHARE_BUCKETS, registry=reg)
        self.correlation = Summary("inttower_shadow_rank_correlation", "Spearman rank "
                                   "correlation, challenger vs live", registry=reg)
        self.shift = Summary("inttower_shadow_score_shift", "Mean challenger - live "
                             "probability", registry=reg)
        self._held: tuple[str, str] | None = None
        self.outcome = functools.cache(self.shadow.labels)

    def held(self, version: str | None, mode: str | None = None) -> None:
        """The challenger this process holds now (None: none)."""
        if self._held is not None:
            self.info.labels(*self._held).set(0)  # what other workers' files read as gone
            self.info.remove(*self._held)
        self._held = None if version is None or mode is None else (version, mode)
        if self._held is not None:
            self.info.labels(*self._held).set(1)

    def compared(self, comparison: Comparison) -> None:
        self.outcome("compared").inc()
        for k, share in comparison.overlap.items():
            self.overlap.labels(str(k)).observe(share)
        if comparison.rank_correlation is not None:
            self.correlation.observe(comparison.rank_correlation)
        self.shift.observe(comparison.score_shift)
