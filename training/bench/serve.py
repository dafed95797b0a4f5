"""`inttower bench serve`: the real server, started through the CLI, against the framework floor
(training/bench/floor.py), both on free loopback ports with the same workers, driven in turn by a
bounded load generator (training/bench/load.py); then /recommend, the scale test, item refresh and
training throughput. Every ratio compares runs of the same benchmark, taken in alternation.

Sections of the results document:
    score       /score and the floor at N candidates, one connection and `connections` (saturation):
                p50 / p99 ms, requests/s, server CPU ms per request (all worker processes), ratios
    online      /score N=1000, one connection, known users: the cached path (heads precomputed at
                load) against fresh features (a 20-item history in the request: the user tower
                runs online), taken in alternation on one server
    recommend   /recommend k=100 over an ml-1m-sized catalogue, one connection
    scale       a `scale_items` catalogue against the main one: load time, /score N=1000 p50 at
                one connection, resident memory of a one-worker API for each
    refresh     items/s through the item tower; training: samples/s, default config on ml-1m
"""

from __future__ import annotations

import json
import logging
import shlex
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model import store
from model.bundle import load_bundle
from service.scorer import Scorer
from service.settings import Settings
from training.bench.catalogue import Catalogue, bundle_artifacts, catalogue_ids
from training.bench.load import load_generator, run_load, wrk_version
from training.bench.pipeline import refresh_rate, training_rate
from training.bench.provenance import provenance
from training.bench.servers import Launch, Server, free_port, running
from training.bench.speed_report import cpu_goal
from training.trainer import DataConfig

log = logging.getLogger(__name__)

BODIES = 64  # distinct request bodies per run: users and candidates vary between requests
SCALE_CANDIDATES = 1_000
RECOMMEND_K = 100
ONLINE_HISTORY = 20  # item ids in each online request's fresh history


@dataclass(frozen=True)
class ServeConfig:
    work: Path  # the benchmark bundles are built here once, and the servers' logs written
    artifacts: Path | None = None  # an existing bundle store to measure instead of a synthetic one
    users: int = 10_000
    items: int = 100_000
    interactions: int = 100_000  # trained on, one epoch, per synthetic bundle
    candidates: tuple[int, ...] = (100, 1_000, 10_000)
    seconds: float = 5.0  # per load run
    repeats: int = 3
    workers: int = 2
    connections: int = 8  # the saturation runs
    device: str = "cpu"
    recommend_users: int = 6_040  # an ml-1m-sized catalogue for /recommend
    recommend_items: int = 3_706  # 0 skips /recommend
    scale_items: int = 1_000_000  # 0 skips the scale test
    train_dataset: str = "ml-1m"  # a built-in dataset, unless train_schema is given
    train_schema: Path | None = None
    train_steps: int = 30  # 0 skips the training throughput
    seed: int = 0

    def catalogue(self, users: int, items: int) -> Catalogue:
        return Catalogue(users, items, self.interactions)

    def command(self) -> str:
        train = (["--train-schema", str(self.train_schema)] if self.train_schema
                 else ["--train-dataset", self.train_dataset])
        main = (["--artifacts", str(self.artifacts)] if self.artifacts else
                ["--users", str(self.users), "--items", str(self.items)])
        args = ["--work", str(self.work), *main, "--interactions", str(self.interactions),
                *(a for n in self.candidates for a in ("--candidates", str(n))),
                "--seconds", f"{self.seconds:g}", "--repeats", str(self.repeats),
                "--workers", str(self.workers), "--connections", str(self.connections),
                "--device", self.device, "--recommend-users", str(self.recommend_users),
                "--recommend-items", str(self.recommend_items),
                "--scale-items", str(self.scale_items), *train,
                "--train-steps", str(self.train_steps)]
        return shlex.join(["inttower", "bench", "serve", *args])


def _api(artifacts: Path, workers: int, device: str, log: Path) -> Launch:
    """The real server, through the CLI."""
    port = free_port()
    return Launch(["-m", "inttower.cli", "serve", "--artifacts", str(artifacts), "--port",
                   str(port), "--workers", str(workers), "--device", device, "--no-access-log"],
                  port, log)


def _floor(workers: int, log: Path) -> Launch:
    port = free_port()
    return Launch(["-m", "training.bench.floor", "--port", str(port), "--workers", str(workers)],
                  port, log)


def _measure(server: Server, path: str, bodies: Sequence[bytes], connections: int,
             seconds: float) -> dict[str, float]:
    cpu = server.cpu_seconds()
    load = run_load(server.port, path, bodies, connections, seconds)
    cpu = server.cpu_seconds() - cpu
    if load.errors:
        raise RuntimeError(f"{load.errors} of {load.requests} requests to {path} failed")
    return {"p50_ms": load.p50_ms, "p99_ms": load.p99_ms, "per_s": load.per_second,
            "cpu_ms_per_request": cpu / load.requests * 1e3, "requests": load.requests}


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def _score_bodies(users: list[str], items: list[str], n: int, rng: np.random.Generator,
                  history: int = 0) -> list[bytes]:
    """Request bodies for random users and candidates; with `history`, each sends that many
    random item ids as its fresh history (the bundle's `user_history.field`)."""
    def body() -> dict[str, Any]:
        request = {"user_id": users[rng.integers(len(users))],
                   "candidate_ids": [items[j] for j in rng.integers(0, len(items), n)]}
        if history:
            fresh = [items[j] for j in rng.integers(0, len(items), history)]
            request["user_features"] = {"history": fresh}
        return request

    return [json.dumps(body()).encode() for _ in range(BODIES)]


def _score_section(config: ServeConfig, artifacts: Path, logs: Path,
                   rng: np.random.Generator) -> list[dict[str, Any]]:
    users, items = catalogue_ids(artifacts)
    rows = []
    with running([_api(artifacts, config.workers, config.device, logs / "api.log"),
                  _floor(config.workers, logs / "floor.log")]) as (api, floor):
        for n in config.candidates:
            bodies = _score_bodies(users, items, n, rng)
            for connections in (1, config.connections):
                runs: dict[str, list[dict[str, float]]] = {"service": [], "floor": []}
                for repeat in range(config.repeats):  # alternate which goes first
                    order = [("service", api), ("floor", floor)][:: 1 if repeat % 2 == 0 else -1]
                    for name, server in order:
                        runs[name].append(_measure(server, "/score", bodies, connections,
                                                   config.seconds))
                ratios = {key: statistics.median(s[key] / f[key] for s, f in
                                                 zip(runs["service"], runs["floor"], strict=True))
                          for key in ("p50_ms", "per_s", "cpu_ms_per_request")}
                rows.append({"candidates": n, "connections": connections,
                             "service": _medians(runs["service"]),
                             "floor": _medians(runs["floor"]), "service_vs_floor": ratios})
                log.info("score N=%d c=%d: %s", n, connections, rows[-1])
    return rows


def _online_section(config: ServeConfig, artifacts: Path, logs: Path,
                    rng: np.random.Generator) -> dict[str, Any] | None:
    history = store.read_manifest(store.current_path(artifacts)).get("user_history")
    if history is None or history["field"] != "history":
        log.info("online section skipped: the bundle has no user history field named 'history'")
        return None
    users, items = catalogue_ids(artifacts)
    bodies = {kind: _score_bodies(users, items, SCALE_CANDIDATES, rng,
                                  ONLINE_HISTORY if kind == "online" else 0)
              for kind in ("cached", "online")}
    runs: dict[str, list[dict[str, float]]] = {"cached": [], "online": []}
    with running([_api(artifacts, config.workers, config.device, logs / "api-online.log")]) as (
            api,):
        for repeat in range(config.repeats):  # alternate which goes first
            for name in ("cached", "online")[:: 1 if repeat % 2 == 0 else -1]:
                runs[name].append(_measure(api, "/score", bodies[name], 1, config.seconds))
    extra = statistics.median(o["p50_ms"] - c["p50_ms"]
                              for o, c in zip(runs["online"], runs["cached"], strict=True))
    return {"candidates": SCALE_CANDIDATES, "history": ONLINE_HISTORY, "connections": 1,
            "cached": _medians(runs["cached"]), "online": _medians(runs["online"]),
            "online_minus_cached_p50_ms": extra}


def _recommend_section(config: ServeConfig, logs: Path,
                       rng: np.random.Generator) -> dict[str, Any]:
    size = config.catalogue(config.recommend_users, config.recommend_items)
    artifacts = bundle_artifacts(config.work, size)
    users, _ = catalogue_ids(artifacts)
    bodies = [json.dumps({"user_id": users[rng.integers(len(users))], "k": RECOMMEND_K}).encode()
              for _ in range(BODIES)]
    with running([_api(artifacts, config.workers, config.device,
                       logs / "api-recommend.log")]) as (api,):
        runs = [_measure(api, "/recommend", bodies, 1, config.seconds)
                for _ in range(config.repeats)]
    return {"catalogue": {"users": size.users, "items": size.items},
            "k": RECOMMEND_K, "connections": 1, **_medians(runs)}


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
    bodies = {name: _score_bodies(*catalogue_ids(path), SCALE_CANDIDATES, rng)
              for name, path in catalogues.items()}
    with running([_api(main, 1, config.device, logs / "api-main.log"),
                  _api(large, 1, config.device, logs / "api-large.log")]) as servers:
        apis = dict(zip(("main", "large"), servers, strict=True))
        runs: dict[str, list[dict[str, float]]] = {"main": [], "large": []}
        for repeat in range(config.repeats):
            for name in ("main", "large")[:: 1 if repeat % 2 == 0 else -1]:
                runs[name].append(_measure(apis[name], "/score", bodies[name], 1, config.seconds))
        for name, api in apis.items():
            result[name] |= {"ready_s": api.ready_s, "rss_mb": api.rss_bytes() / 2**20,
                             "score": _medians(runs[name])}
    result["candidates"] = SCALE_CANDIDATES
    result["large_vs_main_p50"] = statistics.median(
        a["p50_ms"] / b["p50_ms"] for a, b in zip(runs["large"], runs["main"], strict=True))
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
        "recommend": _recommend_section(config, logs, rng) if config.recommend_items else None,
        "scale": _scale_section(config, main, logs, rng) if config.scale_items else None,
        "refresh": refresh_rate(main, config.repeats),
        "training": (training_rate(DataConfig(dataset=config.train_dataset,
                                              schema=config.train_schema),
                                   config.train_steps, config.device)
                     if config.train_steps else None),
    }
    document["goals"] = serve_goals(document)
    return document


def serve_goals(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 5's serving goals, each with its measured value."""
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
    device = doc["machine"]["device"]
    return [{"goal": goal, "target": target,
             "measured": f"{value:,.2f}x" if unit == "x" else f"{value:,.2f} {unit}",
             "met": cpu_goal(device, met)} for goal, target, value, met, unit in goals]
