"""The shadow section of `inttower bench serve`: what a shadow rollout costs the live path.

One-worker servers of the same live bundle, taken in alternation: one with no challenger, the
others shadowing SHARES of their requests (a refresh-items child of the live bundle, published
into a copy of the store as the challenger). /score N=1000 at one connection and at the
saturation connections; the live path's p50, p99 and req/s with the shadow against without, per
round then the median; and each shadow server's comparison series (jobs compared and dropped,
overlap).
"""

from __future__ import annotations

import shutil
import statistics
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from bench.report import table
from bench.speed.catalogue import catalogue_ids
from bench.speed.measure import alternate, api_launch, measure, medians, score_bodies
from bench.speed.serve_config import ServeConfig
from bench.speed.servers import Server, running
from model import rollout
from model.rollout import Mode
from training.export import refresh_items
from training.publish import Challenger

CANDIDATES = 1_000
SHARES = (1.0, 0.1)  # of the requests shadowed: the goal's, and the rollout default
RATIOS = ("p50_ms", "p99_ms", "per_s")


def shadow_section(config: ServeConfig, main: Path, logs: Path,
                   rng: np.random.Generator) -> dict[str, Any]:
    stores = _shadowed_stores(config.work, main)
    bodies = score_bodies(*catalogue_ids(main), CANDIDATES, rng)
    launches = [api_launch(main, 1, config.device, logs / "api-plain.log"),
                *(api_launch(store, 1, config.device, logs / f"api-shadow-{share:g}.log")
                  for share, store in stores.items())]
    rows = []
    with running(launches) as servers:
        named = dict(zip(["none", *(_name(share) for share in stores)], servers, strict=True))
        for connections in (1, config.connections):
            runs = alternate({name: partial(measure, server, "/score", bodies, connections,
                                            config.seconds)
                              for name, server in named.items()}, config.repeats)
            for share in stores:
                shadow = runs[_name(share)]
                rows.append({"connections": connections, "share": share,
                             "none": medians(runs["none"]), "shadow": medians(shadow),
                             "shadow_vs_none": {key: statistics.median(
                                 s[key] / n[key] for s, n in zip(shadow, runs["none"],
                                                                 strict=True))
                                 for key in RATIOS}})
        series = {_name(share): _shadow_series(named[_name(share)]) for share in stores}
    return {"candidates": CANDIDATES, "workers": 1, "rows": rows, "series": series}


def _name(share: float) -> str:
    return f"shadow {share:.0%}"


def _shadowed_stores(work: Path, main: Path) -> dict[float, Path]:
    """A copy of the `main` store per share, each with the same challenger (a refresh-items
    child of the live bundle) shadowing that share of the requests."""
    stores = {}
    for share in SHARES:
        store = work / f"shadow-artifacts-{share:g}"
        shutil.rmtree(store, ignore_errors=True)
        if not stores:
            shutil.copytree(main, store)
            version = refresh_items(store, progress=False, challenger=Challenger(Mode.shadow,
                                                                                 share))
        else:
            shutil.copytree(next(iter(stores.values())), store)
            rollout.start(store, version, Mode.shadow, share)
        stores[share] = store
    return stores


def _shadow_series(server: Server) -> dict[str, float]:
    """The shadow server's inttower_shadow_total by outcome, and the mean overlap at k=10."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    series: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "inttower_shadow_total":
                series[sample.labels["outcome"]] = sample.value
            elif sample.name in ("inttower_shadow_topk_overlap_sum",
                                 "inttower_shadow_topk_overlap_count") and \
                    sample.labels.get("k") == "10":
                series[sample.name.rsplit("_", 1)[-1]] = sample.value
    if series.get("count"):
        series["overlap_at_10"] = series.pop("sum") / series.pop("count")
    return series


def shadow_goals(section: dict[str, Any]) -> list[tuple[str, str, float, bool, str]]:
    one = next(r for r in section["rows"] if r["connections"] == 1 and r["share"] == 1.0)
    return [(f"/score N={section['candidates']:,} live {name} with shadow at 100 % vs none, "
             "one connection", "<= 1.10x", value, value <= 1.10, "x")
            for name, value in (("p50", one["shadow_vs_none"]["p50_ms"]),
                                ("p99", one["shadow_vs_none"]["p99_ms"]))]


def render_shadow(section: dict[str, Any]) -> list[str]:
    rows = [[str(r["connections"]), f"{r['share']:.0%}",
             *(f"{r[side][k]:,.2f}" for side in ("none", "shadow") for k in RATIOS),
             *(f"{r['shadow_vs_none'][k]:.2f}x" for k in RATIOS)] for r in section["rows"]]
    header = ["conns", "shadowed", *(f"{side} {k}" for side in ("none", "shadow")
                                     for k in ("p50 ms", "p99 ms", "req/s")),
              "p50 ratio", "p99 ratio", "req/s ratio"]
    jobs = "; ".join(f"{name}: " + ", ".join(f"{k} {v:,.0f}" for k, v in series.items()
                                             if k != "overlap_at_10")
                     for name, series in section["series"].items())
    return ["", "## Shadow rollout: the live path with a shadow challenger", "",
            f"/score N={section['candidates']:,}, one worker per server, alternating; a shadow "
            "server's challenger re-scores its share of the requests after their response.", "",
            *table(header, rows), "", f"Shadow jobs, {jobs}."]
