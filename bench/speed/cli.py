"""`inttower bench kernel`, `serve` and `train`: thin typer commands over bench.speed.kernel,
serve and train; each writes docs/benchmarks/<name>-<device>.*"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

OutOpt = Annotated[Path, typer.Option(help="Folder for the results files.")]
CandidatesOpt = Annotated[list[int] | None, typer.Option(
    "--candidates", help="Candidate counts N, repeatable (default 100, 1000, 10000).")]
DeviceOpt = Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")]
RESULTS = Path("docs/benchmarks")
DEFAULT_CANDIDATES = (100, 1_000, 10_000)


def _report(document: dict[str, Any], out: Path) -> None:
    from bench.speed.report import write_results

    json_path, markdown_path = write_results(document, out)
    logging.getLogger(__name__).info("wrote %s and %s", json_path, markdown_path)
    typer.echo(markdown_path.read_text(encoding="utf-8"))


def _cells(given: list[str]) -> tuple[tuple[int, int], ...]:
    """`--paths-cell 1000:16` -> ((1000, 16),)."""
    try:
        cells = tuple((int(n), int(c)) for n, c in (cell.split(":") for cell in given))
    except ValueError as exc:
        raise typer.BadParameter("N:CONNECTIONS, two integers", param_hint="--paths-cell") from exc
    if any(n < 1 or c < 1 for n, c in cells):
        raise typer.BadParameter("N and CONNECTIONS are at least 1", param_hint="--paths-cell")
    return cells


def kernel(
    items: Annotated[int, typer.Option(help="Catalogue rows of random item vectors.")] = 100_000,
    candidates: CandidatesOpt = None,
    rounds: int = 7,
    calls: Annotated[int, typer.Option(help="Calls per method and round.")] = 50,
    device: DeviceOpt = "cpu",
    out: OutOpt = RESULTS,
) -> None:
    """FE-Block scoring against gathering the candidates alone, and the user tower, in-process."""
    from bench.speed.kernel import KernelConfig, run_kernel

    _report(run_kernel(KernelConfig(items=items, candidates=tuple(candidates or DEFAULT_CANDIDATES),
                                    rounds=rounds, calls=calls, device=device)), out)


def serve(
    work: Annotated[Path | None, typer.Option(
        help="Where the benchmark bundles are built once and kept (default: "
             "$INTTOWER_DATA_HOME/bench, else ~/.cache/inttower/bench).")] = None,
    artifacts: Annotated[Path | None, typer.Option(
        help="Measure this bundle store's live bundle instead of a synthetic one.")] = None,
    users: int = 10_000,
    items: Annotated[int, typer.Option(help="Catalogue of the synthetic main bundle.")] = 100_000,
    interactions: Annotated[int, typer.Option(
        help="Synthetic interactions each bundle is trained on (one epoch).")] = 100_000,
    candidates: CandidatesOpt = None,
    seconds: Annotated[float, typer.Option(help="Length of each load run.")] = 5.0,
    repeats: Annotated[int, typer.Option(help="Runs per cell, service and floors in turn.")] = 3,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn workers per server.")] = 2,
    connections: Annotated[int, typer.Option(help="Connections of the saturation runs.")] = 8,
    device: DeviceOpt = "cpu",
    paths: Annotated[bool, typer.Option(
        help="The paths section: /score on one worker through int8 and float32 item vectors, "
             "string, integer and digit-string ids, against the minimal and framework "
             "floors.")] = True,
    paths_cell: Annotated[list[str] | None, typer.Option(
        help="A cell of the paths section, N:CONNECTIONS, repeatable (default 1000:1, "
             "1000:16, 10000:1: the cells the paths goals are set on).")] = None,
    recommend_users: int = 6_040,
    recommend_items: Annotated[int, typer.Option(
        help="Catalogue of the /recommend test (ml-1m-sized by default); 0 skips it.")] = 3_706,
    scale_items: Annotated[int, typer.Option(help="Catalogue of the scale test; 0 skips "
                                                  "it.")] = 1_000_000,
    train_dataset: Annotated[str, typer.Option(help="Built-in dataset of the training "
                                                    "throughput.")] = "ml-1m",
    train_schema: Annotated[Path | None, typer.Option(
        help="Your own data's schema for the training throughput instead.")] = None,
    train_steps: Annotated[int, typer.Option(help="Steps timed; 0 skips training.")] = 30,
    shadow: Annotated[bool, typer.Option(
        help="The shadow section: the live path with a shadow challenger at 100 % against "
             "none.")] = True,
    flood: Annotated[bool, typer.Option(
        help="The header-flood section: /healthz while another client sends 32 MiB "
             "headers.")] = True,
    out: OutOpt = RESULTS,
) -> None:
    """/score against the floors over HTTP, by code path, /recommend, scale, refresh, training."""
    from bench.speed.serve import run_serve
    from bench.speed.serve_config import PATHS_CELLS, ServeConfig
    from training.fetch import data_home

    cells = (_cells(paths_cell) if paths_cell else PATHS_CELLS) if paths else ()
    config = ServeConfig(work=work or data_home() / "bench", artifacts=artifacts, users=users,
                         items=items,
                         interactions=interactions,
                         candidates=tuple(candidates or DEFAULT_CANDIDATES), seconds=seconds,
                         repeats=repeats, workers=workers, connections=connections,
                         device=device, paths_cells=cells, recommend_users=recommend_users,
                         recommend_items=recommend_items, scale_items=scale_items,
                         train_dataset=train_dataset, train_schema=train_schema,
                         train_steps=train_steps, shadow=shadow, flood=flood)
    _report(run_serve(config), out)


def train(
    work: Annotated[Path | None, typer.Option(
        help="Where the data is generated and built, afresh each run (default: "
             "$INTTOWER_DATA_HOME/bench, else ~/.cache/inttower/bench).")] = None,
    dataset: Annotated[list[str] | None, typer.Option(
        help="Built-in datasets, repeatable (default ml-1m).")] = None,
    synthetic: Annotated[list[str] | None, typer.Option(
        help="MovieLens-shaped synthetic sets USERS:ITEMS:INTERACTIONS, repeatable (default "
             "500000:200000:5000000).")] = None,
    taobao: Annotated[list[str] | None, typer.Option(
        help="Taobao-shaped synthetic sets USERS:ADS:IMPRESSIONS:BEHAVIOURS, repeatable.")
    ] = None,
    steps: Annotated[int, typer.Option(min=1, help="Training steps timed per run.")] = 40,
    in_memory_rows: Annotated[int | None, typer.Option(
        help="Encode and train in memory too (the reference) only for sources of at most this "
             "many generated rows (default: every source; it needs the memory).")] = None,
    device: DeviceOpt = "cpu",
    out: OutOpt = RESULTS,
) -> None:
    """Every offline stage (generate, build, train in memory and streamed): seconds, rows/s,
    peak RSS and the command of each."""
    import sys

    from bench.speed.train import Source, TrainBenchConfig, movielens_like, run_train, taobao_like
    from training.fetch import data_home

    def sizes(values: list[str], count: int, option: str) -> list[tuple[int, ...]]:
        try:
            parsed = [tuple(int(v) for v in value.split(":")) for value in values]
        except ValueError as exc:
            raise typer.BadParameter(f"{count} integers joined by ':'", param_hint=option) from exc
        if any(len(p) != count for p in parsed):
            raise typer.BadParameter(f"{count} integers joined by ':'", param_hint=option)
        return parsed

    sources = [Source(name, dataset=name) for name in dataset or ["ml-1m"]]
    sources += [movielens_like(*s) for s in sizes(
        synthetic if synthetic is not None else ["500000:200000:5000000"], 3, "--synthetic")]
    sources += [taobao_like(*s) for s in sizes(taobao or [], 4, "--taobao")]
    config = TrainBenchConfig(work=work or data_home() / "bench", sources=tuple(sources),
                              steps=steps, device=device, in_memory_rows=in_memory_rows,
                              command=" ".join(["inttower", *sys.argv[1:]]))
    _report(run_train(config), out)


def serve_figure(
    results: Annotated[Path, typer.Argument(help="A serve results JSON.")] = RESULTS
    / "serve-cpu.json",
    out: Annotated[Path | None, typer.Option(
        help="PNG to write (default: beside the JSON, <name>-latency.png).")] = None,
) -> None:
    """Draw /score p50 and p99 against N for the service and both floors from a serve run's
    JSON (`bench serve` draws it too, when matplotlib is installed)."""
    import json

    from bench.speed.latency_figure import plot_latency

    png = out or results.with_name(f"{results.stem}-latency.png")
    try:
        typer.echo(str(plot_latency(json.loads(results.read_text()), png)))
    except (RuntimeError, ValueError, OSError, KeyError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from exc
