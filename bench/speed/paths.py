"""The paths section of `inttower bench serve`: /score through each code path a request
can take, one worker, against both floors of bench/speed/floor.py (one worker each).

    main       the main catalogue's bundle as published (ids "i0", "i1", ...; int8 item vectors
               unless it was trained otherwise), candidates sent as strings
    float32    the same model with float32 item vectors: a refresh-items child of the main bundle
    integers   a synthetic catalogue of the main one's size with ids "0", "1", ... (int8), so the
               service's integer id index; candidates sent as JSON integers, parsed from the
               request's bytes without a string per id
    digits     that catalogue again, the same candidates sent as digit strings: parsed to
               integers in one compiled pass

Each cell (N candidates, connections) runs the service and the two floors in alternation on the
same bodies (main and float32 share theirs). A row's two ratios read: service / minimal floor,
what the service costs beyond HTTP, FastAPI and JSON; service / framework floor, beyond the
middleware and the validated parse too, i.e. the model's share.
"""

from __future__ import annotations

import json
import logging
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.speed.catalogue import bundle_artifacts, catalogue_ids
from bench.speed.measure import (
    alternate,
    api_launch,
    floor_launch,
    measure,
    medians,
    paired_ratios,
    score_bodies,
)
from bench.speed.serve_config import ServeConfig
from bench.speed.servers import running
from model import store
from model.item_vectors import ItemDtype
from training.export import refresh_items

log = logging.getLogger(__name__)

WORKERS = 1  # the paths goals are a request's cost on one core, not the machine's throughput
# path -> (the bundle its server serves, how its candidate ids are written in the body)
PATHS = {"main": ("main", "strings"), "float32": ("float32", "strings"),
         "integers": ("integer", "JSON integers"), "digits": ("integer", "digit strings")}
FLOORS = ("minimal", "framework")


def float32_child(work: Path, artifacts: Path) -> Path:
    """A store under `work` whose live bundle is the live one of `artifacts` with float32 item
    vectors: the same model, a refresh-items child of a copy. Made once per live version."""
    live = store.current_path(artifacts)
    child = work / f"float32-of-{live.name}" / "artifacts"
    if store.current_version(child) in (None, live.name):  # not made, or stopped before refresh
        log.info("making the float32 child of %s (once; later runs reuse it)", live)
        shutil.copytree(live, store.bundle_path(child, live.name), dirs_exist_ok=True)
        store.set_current(child, live.name)
        refresh_items(child, progress=False, item_dtype=ItemDtype.float32)
    return child


def _as_digit_strings(body: bytes) -> bytes:
    """The same request with its candidate ids written as strings: 17 -> "17"."""
    request = json.loads(body)
    request["candidate_ids"] = [str(i) for i in request["candidate_ids"]]
    return json.dumps(request).encode()


def _item_dtype(artifacts: Path) -> str:
    return str(store.read_manifest(store.current_path(artifacts))["item_vectors"]["dtype"])


def paths_section(config: ServeConfig, main: Path, logs: Path,
                  rng: np.random.Generator) -> dict[str, Any]:
    """One row per cell and path, in `config.paths_cells` order; the bundles it needs beside
    `main` are built under `config.work` once."""
    users, items = catalogue_ids(main)
    bundles = {"main": main, "float32": float32_child(config.work, main),
               "integer": bundle_artifacts(config.work, config.catalogue(
                   len(users), len(items), integer_item_ids=True))}
    dtypes = {name: _item_dtype(path) for name, path in bundles.items()}
    integer_users, integer_items = catalogue_ids(bundles["integer"])
    bodies: dict[int, dict[str, list[bytes]]] = {}
    for n in sorted({n for n, _ in config.paths_cells}):
        strings = score_bodies(users, items, n, rng)
        numbers = score_bodies(integer_users, list(map(int, integer_items)), n, rng)
        bodies[n] = {"main": strings, "float32": strings, "integers": numbers,
                     "digits": [_as_digit_strings(body) for body in numbers]}
    launches = {name: api_launch(path, WORKERS, config.device, logs / f"api-paths-{name}.log")
                for name, path in bundles.items()}
    launches |= {floor: floor_launch(WORKERS, logs / f"floor-paths-{floor}.log",
                                     minimal=floor == "minimal") for floor in FLOORS}
    rows = []
    with running(list(launches.values())) as started:
        servers = dict(zip(launches, started, strict=True))
        for n, connections in config.paths_cells:
            for path, (bundle, sent_as) in PATHS.items():
                runs = alternate({name: partial(measure, servers[name], "/score", bodies[n][path],
                                                connections, config.seconds)
                                  for name in (bundle, *FLOORS)}, config.repeats)
                rows.append({"path": path, "ids": sent_as, "item_dtype": dtypes[bundle],
                             "candidates": n, "connections": connections,
                             "service": medians(runs[bundle]),
                             **{f"{floor}_floor": medians(runs[floor]) for floor in FLOORS},
                             **{f"service_vs_{floor}": paired_ratios(runs[bundle], runs[floor])
                                for floor in FLOORS}})
                log.info("paths %s N=%d c=%d: %s", path, n, connections, rows[-1])
    return {"workers": WORKERS, "rows": rows}


def paths_goals(paths: dict[str, Any]) -> list[tuple[str, str, float, bool, str]]:
    """The paths goals: (goal, target, value, met, unit). Those of N=1,000 are measured on the
    main bundle's rows (string ids); at N=10,000, on the string and the JSON-integer rows."""
    rows = {(r["path"], r["candidates"], r["connections"]): r for r in paths["rows"]}
    main = {(n, c): r for (path, n, c), r in rows.items() if path == "main"}
    if not main:
        return []
    dtype = next(iter(main.values()))["item_dtype"]
    what = f"one worker, {dtype} vectors, string ids"
    goals = []
    busy = max((c for n, c in main if n == 1_000 and c > 1), default=None)
    if busy is not None:
        ratios = main[1_000, busy]["service_vs_minimal"]
        goals.append((f"/score N=1000 req/s vs the minimal floor's, {busy} connections, {what}",
                      ">= 0.55x", ratios["per_s"], ratios["per_s"] >= 0.55, "x"))
        cpu = ratios["cpu_ms_per_request"]
        goals.append((f"/score N=1000 server CPU per request vs the minimal floor's, {busy} "
                      f"connections, {what}", "<= 1.8x", cpu, cpu <= 1.8, "x"))
    if (1_000, 1) in main:
        p50 = main[1_000, 1]["service"]["p50_ms"]
        goals.append((f"/score N=1000 p50, one connection, {what}", "<= 0.6 ms", p50,
                      p50 <= 0.6, "ms"))
    for path, ids, target in (("main", "string ids", 2.0), ("integers", "JSON integers", 1.5)):
        if (path, 10_000, 1) in rows:
            p50 = rows[path, 10_000, 1]["service"]["p50_ms"]
            goals.append((f"/score N=10000 p50, one connection, one worker, {dtype} vectors, "
                          f"{ids}", f"<= {target:g} ms", p50, p50 <= target, "ms"))
    return goals
