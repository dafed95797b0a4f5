"""Write a speed benchmark's document as JSON and render it as Markdown (docs/benchmarks)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bench.report import device_label, table
from bench.speed.flood import render_flood
from bench.speed.latency_figure import plot_latency
from bench.speed.shadow import render_shadow

log = logging.getLogger(__name__)
Doc = dict[str, Any]


def write_results(document: Doc, out: Path) -> tuple[Path, Path]:
    """<out>/<benchmark>-<device>.json and .md; the device is cpu or cuda (no index)."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{document['benchmark']}-{document['machine']['device'].split(':')[0]}"
    json_path, markdown_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    render = {"kernel": render_kernel, "serve": render_serve,
              "train": render_train}[document["benchmark"]]
    markdown_path.write_text(render(document), encoding="utf-8")
    if document["benchmark"] == "serve":
        _latency_figure(document, out / f"{stem}-latency.png")
    return json_path, markdown_path


def _latency_figure(document: Doc, png: Path) -> None:
    """The serve run's p50 / p99 against N (bench.speed.latency_figure), when matplotlib (a dev
    dependency) is there; `inttower bench serve-figure` draws it again from the JSON."""
    try:
        plot_latency(document, png)
    except RuntimeError as exc:
        log.warning("no %s: %s", png.name, exc)


def _head(doc: Doc, title: str) -> list[str]:
    m = doc["machine"]
    device = device_label(m)
    return [f"# {title}", "", f"- Command: `{doc['command']}`",
            f"- Date (UTC): {doc['date_utc']}; commit `{doc['git_commit']}`",
            f"- Machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}, torch "
            f"{m['torch']}, device {device}"]


def cpu_goal(device: str, met: bool) -> bool | None:
    """The speed goals are set for the CPU (2 cores); elsewhere they are reported, not judged."""
    return met if device == "cpu" else None


def _goals(doc: Doc) -> list[str]:
    verdict = {True: "met", False: "**not met**", None: "n/a: a CPU goal"}
    rows = [[g["goal"], g["target"], g["measured"], verdict[g["met"]]] for g in doc["goals"]]
    return ["", "## Goals", "", *table(["Goal", "Target", "Measured", ""], rows)]


def render_kernel(doc: Doc) -> str:
    c = doc["config"]
    names = [k[:-3] for k in doc["kernel"][0] if k.endswith("_us")]
    int8 = "int8_vs_fused" in doc["kernel"][0]
    rows = [[f"{r['candidates']:,}", *(f"{r[f'{n}_us']:,.1f}" for n in names),
             *(f"{r[f'{n}_vs_gather']:.2f}x" for n in names if n != "gather"),
             *([f"{r['int8_vs_fused']:.2f}x"] if int8 else [])]
            for r in doc["kernel"]]
    header = ["N", *(f"{n} µs" for n in names), *(f"{n} / gather" for n in names
                                                   if n != "gather"),
              *(["int8 / fused"] if int8 else [])]
    tower = ", ".join(f"{k[:-3]} {v:,.1f} µs" for k, v in doc["user_tower"].items())
    lines = [*_head(doc, "Speed: FE-Block kernel"),
             f"- Catalogue {c['items']:,} items x {c['item_heads']} heads x d={c['head_dim']}; "
             f"user stack of {c['user_rows']} rows; torch threads {c['torch_threads']}",
             f"- Clock: {doc['clock']}; median per call, median over {c['rounds']} interleaved "
             f"rounds of {c['calls']} calls; ratios are per round, then the median", "",
             *table(header, rows), "", f"User tower, one user: {tower}.", *_goals(doc)]
    return "\n".join(lines) + "\n"


def _run(cells: dict[str, float]) -> list[str]:
    return [f"{cells['p50_ms']:.2f}", f"{cells['p99_ms']:.2f}", f"{cells['per_s']:,.0f}",
            f"{cells['cpu_ms_per_request']:.3f}"]


def render_serve(doc: Doc) -> str:
    c = doc["config"]
    header = ["N", "conns", "p50 ms", "p99 ms", "req/s", "CPU ms/req", "floor p50", "floor p99",
              "floor req/s", "floor CPU ms/req", "p50 ratio", "req/s ratio", "CPU ratio"]
    rows = [[f"{r['candidates']:,}", str(r["connections"]), *_run(r["service"]),
             *_run(r["floor"]), *(f"{r['service_vs_floor'][k]:.2f}x"
                                  for k in ("p50_ms", "per_s", "cpu_ms_per_request"))]
            for r in doc["score"]]
    lines = [*_head(doc, "Speed: the HTTP service"),
             f"- Load generator: {doc['load_generator']}; {c['repeats']} run(s) of "
             f"{c['seconds']:g} s per cell, service and floor alternating; medians",
             f"- Servers: {c['workers']} uvicorn worker(s) each (uvloop, httptools with the "
             "connection guards of service/protocol.py, no access log); catalogue "
             f"{c['items']:,} items, {c['users']:,} users; the floor parses the "
             "same request and answers N floats with no model (bench/speed/floor.py)",
             "", "## /score vs the framework floor", "", *table(header, rows)]
    if doc.get("online"):  # results written before the online path existed lack it
        o = doc["online"]
        rows = [[name, *_run(o[name])] for name in ("cached", "online")]
        lines += ["", "## Known users: cached heads vs fresh features", "",
                  f"/score N={o['candidates']:,}, one connection, alternating on one server; "
                  f"online requests send a {o['history']}-item history.", "",
                  *table(["user path", "p50 ms", "p99 ms", "req/s", "CPU ms/req"], rows), "",
                  f"online - cached p50: {o['online_minus_cached_p50_ms']:+.3f} ms (median of "
                  "the paired runs)"]
    if doc.get("paths"):  # results written before the paths section existed lack it
        lines += _paths(doc["paths"])
    if doc["recommend"]:
        r = doc["recommend"]
        lines += ["", "## /recommend", "", f"k={r['k']} over {r['catalogue']['items']:,} items, "
                  f"one connection: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                  f"{r['per_s']:,.0f} req/s, {r['cpu_ms_per_request']:.3f} CPU ms/req."]
    if doc["scale"]:
        s = doc["scale"]
        rows = [[f"{s[k]['items']:,}", f"{s[k]['load_s']:.1f}", f"{s[k]['ready_s']:.1f}",
                 f"{s[k]['score']['p50_ms']:.2f}", f"{s[k]['rss_mb']:,.0f}"]
                for k in ("main", "large")]
        lines += ["", "## Scale (one worker each)", "",
                  *table(["Items", "load + warm s", "process start to ready s",
                           f"/score N={s['candidates']:,} p50 ms", "API resident MB"], rows),
                  "", f"p50 ratio large / main: {s['large_vs_main_p50']:.2f}x"]
    if doc.get("shadow"):
        lines += render_shadow(doc["shadow"])
    if doc.get("flood"):
        lines += render_flood(doc["flood"])
    r = doc["refresh"]
    rates = ", ".join(f"{v:,.0f} items/s with {k.split('_')[3]} thread(s)" for k, v in r.items()
                      if k.startswith("items_per_s_"))
    runs = f" (median of {r['repeats']} runs)" if "repeats" in r else ""
    lines += ["", "## Offline", "", f"- Item refresh over {r['items']:,} items{runs}: {rates}."]
    t = doc["training"]
    if t and "skipped" in t:
        lines.append(f"- Training throughput ({t['dataset']}): skipped, {t['skipped']}")
    elif t:
        lines.append(f"- Training throughput, default config on {t['dataset']}: "
                     f"{t['samples_per_s']:,.0f} samples/s (batch {t['batch_size']}, "
                     f"{t['steps']} steps, {t['torch_threads']} torch threads).")
    return "\n".join([*lines, *_goals(doc)]) + "\n"


def _paths(paths: Doc) -> list[str]:
    """Two tables of the same rows: what was measured, then the service / floor ratios."""
    rows, floors = paths["rows"], ("minimal", "framework")
    cells = [[f"{r['candidates']:,}", str(r["connections"]), r["ids"], r["item_dtype"]]
             for r in rows]
    measured = [[*cell, *(v for side in ("service", *(f"{f}_floor" for f in floors))
                          for v in _run(r[side]))] for cell, r in zip(cells, rows, strict=True)]
    ratios = [[*cell, *(f"{r[f'service_vs_{f}'][k]:.2f}x" for f in floors
                        for k in ("p50_ms", "per_s", "cpu_ms_per_request"))]
              for cell, r in zip(cells, rows, strict=True)]
    header, runs = ["N", "conns", "candidate ids", "item vectors"], ["p50 ms", "p99 ms", "req/s",
                                                                     "CPU ms/req"]
    return ["", "## /score by code path vs the minimal and framework floors", "",
            f"{paths['workers']} worker per server. String ids are the main catalogue's "
            '("i0", ...); JSON integers and digit strings name the same candidates of a synthetic '
            'catalogue of the same size with ids "0", "1", ...; float32 is the main model with '
            "float32 item vectors (a refresh-items child). The minimal floor is a FastAPI route "
            "that parses the raw body with orjson and answers N ids and N floats (no middleware, "
            "no validation, no model); the service answers in front of that framework (its "
            "scoring lane). The framework floor is the service without the model: the same lane, "
            "middleware, error handlers and validated request parsing. The service and both "
            "floors alternate on the same bodies.", "",
            *table([*header, *runs, *(f"minimal {h}" for h in runs),
                     *(f"framework {h}" for h in runs)], measured), "",
            "Service / floor: the median of the ratios of runs taken together.", "",
            *table([*header, *(f"{k} / {f}" for f in floors for k in ("p50", "req/s", "CPU"))],
                    ratios)]


def render_train(doc: Doc) -> str:
    header = ["Data", "Stage", "rows", "seconds", "rows/s", "peak RSS MB", "Command"]
    rows = [[r["source"], r["stage"], f"{r.get('train_rows', r.get('rows', 0)):,}",
             "–" if "samples_per_s" in r else f"{r['seconds']:,.1f}",
             (f"{r['samples_per_s']:,.0f} samples/s" if "samples_per_s" in r
              else f"{r['rows_per_s']:,.0f}"),
             f"{r['peak_rss_mb']:,.0f}", f"`{r['command']}`"]
            for r in doc["runs"]]
    lines = [*_head(doc, "Speed: offline stages (generate, build, train)"),
             "- Each stage a fresh process; peak RSS is that process's own. seconds: the work "
             "alone (build: build.json's; without the interpreter's start-up).",
             "- generate, build: rows are interactions (plus behaviour events for the Taobao "
             "shape when generating); encode in memory: the in-memory path the trainer uses "
             "without `--built`.",
             f"- train: {doc['config']['steps']} steps of batch 2,048 timed after 3 warm-up "
             "steps, batch assembly included; rows are train rows; in memory, or streamed from "
             "the build's shards (sparse embedding tables).", "", *table(header, rows)]
    return "\n".join([*lines, *_goals(doc)]) + "\n"
