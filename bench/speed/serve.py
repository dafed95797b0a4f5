"""`inttower bench serve`: the real server, started through the CLI, against the floors
(bench/speed/floor.py), all on free loopback ports, driven in turn by a bounded load generator
(bench/speed/load.py); then /recommend, the scale test, item refresh and training throughput.
Every ratio compares runs of the same benchmark, taken in alternation (bench/speed/measure.py).

Sections of the results document:
    score       /score and the floor at N candidates, one connection and `connections` (saturation):
                p50 / p99 ms, requests/s, server CPU ms per request (all worker processes), ratios
    online      /score N=1000, one connection, known users: the cached path (heads precomputed at
                load) against fresh features (a 20-item history in the request: the user tower
                runs online), taken in alternation on one server
    paths       /score on one worker through each code path (int8 or float32 item vectors;
                string, integer or digit-string ids) against the minimal and the framework
                floors, in `paths_cells` (bench/speed/paths.py)
    recommend   /recommend k=100 over an ml-1m-sized catalogue, one connection
    scale       a `scale_items` catalogue against the main one: load time, /score N=1000 p50 at
                one connection, resident memory of a one-worker API for each
    shadow      the live path with a shadow challenger against none (bench/speed/shadow.py)
    flood       /healthz while another client sends 32 MiB headers (bench/speed/flood.py)
    refresh     items/s through the item tower; training: samples/s, default config on ml-1m
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import provenance
from bench.speed.catalogue import bundle_artifacts, catalogue_ids
from bench.speed.flood import flood_goals, flood_section
from bench.speed.load import load_generator, wrk_version
from bench.speed.measure import (
    BODIES,
    alternate,
    api_launch,
    floor_launch,
    measure,
    medians,
    paired_ratios,
    score_bodies,
)
from bench.speed.paths import paths_goals, paths_section
from bench.speed.pipeline import refresh_rate, training_rate
from bench.speed.report import cpu_goal
from bench.speed.serve_config import ServeConfig
from bench.speed.servers import running
from bench.speed.shadow import shadow_goals, shadow_section
from model import store
from model.bundle import load_bundle
from service.scorer import Scorer
from service.settings import Settings
from training.data import DataConfig

log = logging.getLogger(__name__)

SCALE_CANDIDATES = 1_000
RECOMMEND_K = 100
ONLINE_HISTORY = 20  # item ids in each online request's fresh history


def _score_section(config: ServeConfig, artifacts: Path, logs: Path,
                   rng: np.random.Generator) -> list[dict[str, Any]]:
    users, items = catalogue_ids(artifacts)
    rows = []
    with running([api_launch(artifacts, config.workers, config.device, logs / "api.log"),
                  floor_launch(config.workers, logs / "floor.log")]) as (api, floor):
        for n in config.candidates:
            bodies = score_bodies(users, items, n, rng)
            for connections in (1, config.connections):
                runs = alternate({name: partial(measure, server, "/score", bodies, connections,
                                                config.seconds)
                                  for name, server in (("service", api), ("floor", floor))},
                                 config.repeats)
                rows.append({"candidates": n, "connections": connections,
                             "service": medians(runs["service"]),
                             "floor": medians(runs["floor"]),
                             "service_vs_floor": paired_ratios(runs["service"], runs["floor"])})
                log.info("score N=%d c=%d: %s", n, connections, rows[-1])
    return rows


def _online_section(config: ServeConfig, artifacts: Path, logs: Path,
                    rng: np.random.Generator) -> dict[str, Any] | None:
    history = store.read_manifest(store.current_path(artifacts)).get("user_history")
    if history is None or history["field"] != "history":
        log.info("online section skipped: the bundle has no user history field named 'history'")
        return None
    users, items = catalogue_ids(artifacts)
    bodies = {kind: score_bodies(users, items, SCALE_CANDIDATES, rng,
                                 ONLINE_HISTORY if kind == "online" else 0)
              for kind in ("cached", "online")}
    with running([api_launch(artifacts, config.workers, config.device,
                             logs / "api-online.log")]) as (api,):
        runs = alternate({kind: partial(measure, api, "/score", bodies[kind], 1, config.seconds)
                          for kind in ("cached", "online")}, config.repeats)
    extra = statistics.median(o["p50_ms"] - c["p50_ms"]
                              for o, c in zip(runs["online"], runs["cached"], strict=True))
    return {"candidates": SCALE_CANDIDATES, "history": ONLINE_HISTORY, "connections": 1,
            "cached": medians(runs["cached"]), "online": medians(runs["online"]),
            "online_minus_cached_p50_ms": extra}


def _recommend_section(config: ServeConfig, logs: Path,
                       rng: np.random.Generator) -> dict[str, Any]:
    size = config.catalogue(config.recommend_users, config.recommend_items)
    artifacts = bundle_artifacts(config.work, size)
    users, _ = catalogue_ids(artifacts)
    bodies = [json.dumps({"user_id": users[rng.integers(len(users))], "k": RECOMMEND_K}).encode()
              for _ in range(BODIES)]
    with running([api_launch(artifacts, config.workers, config.device,
                             logs / "api-recommend.log")]) as (api,):
        runs = [measure(api, "/recommend", bodies, 1, config.seconds)
                for _ in range(config.repeats)]
    return {"catalogue": {"users": size.users, "items": size.items},
            "k": RECOMMEND_K, "connections": 1, **medians(runs)}


def _load_seconds(artifacts: Path, device: str) -> float:
    """Verify, load and warm the live bundle in this process, as a server's start-up does."""
    settings = Settings(artifacts=artifacts, device=device)
    started = time.perf_counter()
    Scorer.from_settings(load_bundle(store.current_path(artifacts), device), settings).warm()
    return time.perf_counter() - started


def _scale_section(config: ServeConfig, main: Path, logs: Path,
                   rng: np.random.Generator) -> dict[str, Any]:
    large = bundle_artifacts(config.work, config.catalogue(config.users, config.scale_items))
    catalogues = {"main": main, "large": large}
    _load_seconds(main, config.device)  # untimed: this process's first load compiles kernels
    result: dict[str, Any] = {
        name: {"items": len(catalogue_ids(path)[1]), "load_s": _load_seconds(path, config.device)}
        for name, path in catalogues.items()}
    bodies = {name: score_bodies(*catalogue_ids(path), SCALE_CANDIDATES, rng)
              for name, path in catalogues.items()}
    with running([api_launch(main, 1, config.device, logs / "api-main.log"),
                  api_launch(large, 1, config.device, logs / "api-large.log")]) as servers:
        apis = dict(zip(("main", "large"), servers, strict=True))
        runs = alternate({name: partial(measure, api, "/score", bodies[name], 1, config.seconds)
                          for name, api in apis.items()}, config.repeats)
        for name, api in apis.items():
            result[name] |= {"ready_s": api.ready_s, "rss_mb": api.rss_bytes() / 2**20,
                             "score": medians(runs[name])}
    result["candidates"] = SCALE_CANDIDATES
    result["large_vs_main_p50"] = paired_ratios(runs["large"], runs["main"])["p50_ms"]
    return result


def run_serve(config: ServeConfig) -> dict[str, Any]:
    """The results document (JSON-ready)."""
    rng = np.random.default_rng(config.seed)
    main = config.artifacts or bundle_artifacts(config.work,
                                                config.catalogue(config.users, config.items))
    users, items = catalogue_ids(main)
    logs = config.work / "logs"  # the servers' output, for when a run fails
    logs.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {
        "benchmark": "serve", **provenance(config.command(), config.device, config.workers),
        "load_generator": wrk_version() or load_generator(),
        "config": {"users": len(users), "items": len(items), "seconds": config.seconds,
                   "repeats": config.repeats, "workers": config.workers,
                   "connections": config.connections},
        "score": _score_section(config, main, logs, rng),
        "online": _online_section(config, main, logs, rng),
        "paths": paths_section(config, main, logs, rng) if config.paths_cells else None,
        "recommend": _recommend_section(config, logs, rng) if config.recommend_items else None,
        "scale": _scale_section(config, main, logs, rng) if config.scale_items else None,
        "shadow": shadow_section(config, main, logs, rng) if config.shadow else None,
        "flood": flood_section(config, main, logs) if config.flood else None,
        "refresh": refresh_rate(main, config.repeats),
        "training": (training_rate(DataConfig(dataset=config.train_dataset,
                                              schema=config.train_schema),
                                   config.train_steps, config.device)
                     if config.train_steps else None),
    }
    document["goals"] = serve_goals(document)
    return document


def serve_goals(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The serving goals and the paths section's, each with its measured value."""
    def score(n: int, connections: int) -> dict[str, Any] | None:
        return next((r for r in doc["score"] if r["candidates"] == n
                     and r["connections"] == connections), None)

    saturation = doc["config"]["connections"]
    goals: list[tuple[str, str, float, bool, str]] = []
    one, busy, large = score(1_000, 1), score(1_000, saturation), score(10_000, 1)
    if one:
        p50 = one["service"]["p50_ms"]
        goals.append(("/score N=1000 p50, one connection", "<= 1.5 ms", p50, p50 <= 1.5, "ms"))
    if busy:
        rate = busy["service"]["per_s"]
        goals.append((f"/score N=1000 saturated ({doc['config']['workers']} workers)",
                      ">= 1500 req/s", rate, rate >= 1_500, "req/s"))
        cpu = busy["service_vs_floor"]["cpu_ms_per_request"]
        goals.append(("/score N=1000 server CPU per request vs the floor, saturated", "<= 1.5x",
                      cpu, cpu <= 1.5, "x"))
    if doc.get("online"):
        extra = doc["online"]["online_minus_cached_p50_ms"]
        goals.append(("/score N=1000 p50, a 20-item fresh history vs cached heads",
                      "<= +0.15 ms", extra, extra <= 0.15, "ms"))
    if large:
        p50 = large["service"]["p50_ms"]
        goals.append(("/score N=10000 p50, one connection", "<= 6 ms", p50, p50 <= 6, "ms"))
    if doc.get("paths"):  # results written before the paths section existed lack it
        goals += paths_goals(doc["paths"])
    if doc["recommend"]:
        p50 = doc["recommend"]["p50_ms"]
        items = doc["recommend"]["catalogue"]["items"]
        goals.append((f"/recommend k=100 over {items:,} items, p50", "<= 5 ms", p50, p50 <= 5,
                      "ms"))
    rate = doc["refresh"]["items_per_s"]
    goals.append(("item refresh through the item tower", ">= 50000 items/s", rate,
                  rate >= 50_000, "items/s"))
    if doc["scale"]:
        load, ratio = doc["scale"]["large"]["load_s"], doc["scale"]["large_vs_main_p50"]
        goals.append((f"{doc['scale']['large']['items']:,}-item catalogue load", "<= 15 s", load,
                      load <= 15, "s"))
        goals.append(("/score N=1000 p50, large catalogue vs main", "<= 1.3x", ratio,
                      ratio <= 1.3, "x"))
    if doc.get("shadow"):  # results written before rollouts existed lack it
        goals += shadow_goals(doc["shadow"])
    if doc.get("flood"):
        goals += flood_goals(doc["flood"])
    device = doc["machine"]["device"]
    return [{"goal": goal, "target": target,
             "measured": f"{value:,.2f}x" if unit == "x" else f"{value:,.2f} {unit}",
             "met": cpu_goal(device, met)} for goal, target, value, met, unit in goals]
