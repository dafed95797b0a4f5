"""Load runs against benchmark servers, shared by the sections of `inttower bench serve`: how the
servers are launched, the request bodies, one measured run, and runs taken in alternation.

Ratios between servers are taken run by run, then the median: runs next to each other in time
share the machine's state (other load, clock speed), which separate medians would not pair up.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.speed.load import run_load
from bench.speed.servers import Launch, Server, free_port

BODIES = 64  # distinct request bodies per run: users and candidates vary between requests
Run = dict[str, float]  # p50_ms, p99_ms, per_s, cpu_ms_per_request, requests
RATIO_KEYS = ("p50_ms", "per_s", "cpu_ms_per_request")


def api_launch(artifacts: Path, workers: int, device: str, log: Path) -> Launch:
    """The real server, through the CLI."""
    port = free_port()
    return Launch(["-m", "inttower.cli", "serve", "--artifacts", str(artifacts), "--port",
                   str(port), "--workers", str(workers), "--device", device, "--no-access-log"],
                  port, log)


def floor_launch(workers: int, log: Path, minimal: bool = False) -> Launch:
    """The framework floor, or with `minimal` the minimal one (bench/speed/floor.py)."""
    port = free_port()
    return Launch(["-m", "bench.speed.floor", "--port", str(port), "--workers", str(workers),
                   *(["--minimal"] if minimal else [])], port, log)


def measure(server: Server, path: str, bodies: Sequence[bytes], connections: int,
            seconds: float) -> Run:
    """One load run; the server's CPU time is read before and after it."""
    cpu = server.cpu_seconds()
    load = run_load(server.port, path, bodies, connections, seconds)
    cpu = server.cpu_seconds() - cpu
    if load.errors:
        raise RuntimeError(f"{load.errors} of {load.requests} requests to {path} failed")
    return {"p50_ms": load.p50_ms, "p99_ms": load.p99_ms, "per_s": load.per_second,
            "cpu_ms_per_request": cpu / load.requests * 1e3, "requests": load.requests}


def alternate(runs: dict[str, Callable[[], Run]], repeats: int) -> dict[str, list[Run]]:
    """Each named run `repeats` times, all of them in turn; each round starts one later in the
    order (with two names, the order reverses), so that none always goes first."""
    names = list(runs)
    done: dict[str, list[Run]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            done[name].append(runs[name]())
    return done


def medians(runs: list[Run]) -> Run:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def paired_ratios(runs: list[Run], baseline: list[Run]) -> dict[str, float]:
    """p50, req/s and CPU per request of `runs` over `baseline`: median of the per-round ratios."""
    return {key: statistics.median(r[key] / b[key] for r, b in zip(runs, baseline, strict=True))
            for key in RATIO_KEYS}


def score_bodies(users: Sequence[str], items: Sequence[str | int], n: int,
                 rng: np.random.Generator, history: int = 0) -> list[bytes]:
    """/score bodies for random users and `n` random candidates; with `history`, each sends that
    many random item ids as its fresh history (the bundle's `user_history.field`). Integer
    `items` are sent as JSON integers."""
    def body() -> dict[str, Any]:
        request: dict[str, Any] = {
            "user_id": users[rng.integers(len(users))],
            "candidate_ids": [items[j] for j in rng.integers(0, len(items), n)]}
        if history:
            fresh = [items[j] for j in rng.integers(0, len(items), history)]
            request["user_features"] = {"history": fresh}
        return request

    return [json.dumps(body()).encode() for _ in range(BODIES)]
