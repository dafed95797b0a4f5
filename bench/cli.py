"""`inttower bench ...`: a typer group; `quality` trains every model and writes docs/results."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.speed import cli as speed_cli

bench_app = typer.Typer(no_args_is_help=True,
                        help="Benchmarks: model quality against the baselines and ablations; "
                             "serving and training speed (kernel, serve, train).")
bench_app.command("kernel")(speed_cli.kernel)
bench_app.command("serve")(speed_cli.serve)
bench_app.command("train")(speed_cli.train)
bench_app.command("serve-figure")(speed_cli.serve_figure)


def _seeds(given: list[int], extra: list[str]) -> tuple[int, ...]:
    """`--seeds 1 2 3`: click binds `1` to the option and leaves `2 3` as extra arguments."""
    if extra and not given:
        raise typer.BadParameter(f"unexpected arguments {extra}", param_hint="--seeds")
    try:
        return (*given, *map(int, extra))
    except ValueError as exc:
        raise typer.BadParameter(f"unexpected arguments {extra}; seeds are integers",
                                 param_hint="--seeds") from exc


def _models(given: list[str]) -> tuple[str, ...]:
    from bench.quality.zoo import FAMILIES

    names = tuple(n.strip() for item in given for n in item.split(",") if n.strip())
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise typer.BadParameter(f"unknown {unknown}; known: {', '.join(FAMILIES)}",
                                 param_hint="--models")
    return names


@bench_app.command("figure")
def figure(
    results: Annotated[list[Path] | None, typer.Argument(
        help="quality-*.json files (default: every one in docs/results, sorted).")] = None,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path(
        "docs/results/auc-vs-cost.png"),
) -> None:
    """Plot each model's test AUC against its serving cost per candidate (PNG)."""
    from bench.quality.figure import plot

    files = results or sorted(Path("docs/results").glob("quality-*.json"))
    try:
        typer.echo(str(plot(list(files), out)))
    except (RuntimeError, ValueError, OSError, KeyError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from exc


def _item_stats(given: str | None) -> tuple[tuple[str, Any], ...]:
    """`tower,score` (every model) and `inttower=score` (one model) entries -> zoo.Placements."""
    from bench.quality.zoo import FAMILIES
    from training.data import ItemStat

    pairs = []
    for entry in (n.strip() for n in (given or "schema").split(",")):
        family, _, name = entry.rpartition("=")
        if family and family not in FAMILIES:
            raise typer.BadParameter(f"unknown model {family!r}; known: {', '.join(FAMILIES)}",
                                     param_hint="--item-stat")
        try:
            pairs.append((family or "*", None if name == "schema" else ItemStat(name)))
        except ValueError as exc:
            raise typer.BadParameter(
                f"{entry!r}: comma-separated placements ({', '.join(ItemStat)} or schema), each "
                "for every model or as model=placement", param_hint="--item-stat") from exc
    return tuple(dict.fromkeys(pairs))


@bench_app.command("quality", context_settings={"allow_extra_args": True})
def quality(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="Built-in dataset: ml-100k or ml-1m.")] = "ml-100k",
    schema: Annotated[Path | None, typer.Option(help="Your own data's schema file.")] = None,
    split: Annotated[str, typer.Option(help="random or temporal")] = "random",
    history_len: Annotated[int | None, typer.Option(
        min=0, help="User history length, overriding the schema's; 0 turns it off.")] = None,
    item_stat: Annotated[str | None, typer.Option(
        help="Where the item statistic goes, comma-separated placements each model is trained "
             "with and chosen among on validation: tower, score, off, schema (the schema's own); "
             "model=placement entries set one model's (e.g. tower,inttower=score); the "
             "ablations run at IntTower's first. "
             "Default: schema.")] = None,
    seeds: Annotated[list[int] | None, typer.Option(
        help="Seeds, e.g. --seeds 1 2 3 (default 1 2 3).")] = None,
    models: Annotated[list[str] | None, typer.Option(
        help="Comma-separated: lr,two-tower,dat,cold,deepfm,inttower (default: all).")] = None,
    ablations: Annotated[bool, typer.Option(
        "--ablations", help="Also train IntTower's ablation grid.")] = False,
    ablation: Annotated[list[str] | None, typer.Option(
        help="Train only this point of the ablation grid beside the default (repeatable, by "
             "its name in the results, e.g. 'MaxSim per item head'); implies --ablations.")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Runs in parallel worker processes.")] = 1,
    epochs: int = 10,
    patience: int = 2,
    batch_size: int = 2048,
    lr: float = 1e-3,
    device: str = "cpu",
    out: Annotated[Path, typer.Option(help="Folder for the results files.")] = Path(
        "docs/results"),
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip runs recorded in <out>/.runs by an interrupted run of the same "
                         "command (same code assumed).")] = False,
    progress: bool = True,
) -> None:
    """Train every model (and ablation) per seed; write quality-<dataset>-<split>.{json,md}."""
    from bench.quality.run import QualityConfig, plan, run_quality
    from bench.quality.zoo import FAMILIES
    from training.loop import FitConfig
    from training.split import SplitKind

    config = QualityConfig(
        dataset=dataset, schema=schema, split=SplitKind(split), history_len=history_len,
        item_stats=_item_stats(item_stat),
        seeds=_seeds(seeds or [], ctx.args) or (1, 2, 3),
        models=_models(models) if models else tuple(FAMILIES),
        ablations=ablations or bool(ablation), ablation_names=tuple(ablation or ()),
        jobs=jobs, fit=FitConfig(epochs=epochs, batch_size=batch_size, lr=lr,
                                 patience=patience, progress=progress),
        device=device, out=out, resume=resume,
    )
    try:
        plan(config)  # names every ablation it is asked for
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ablation") from exc
    result = run_quality(config)
    logging.getLogger(__name__).info("wrote %s and %s", result.json_path, result.markdown_path)
    typer.echo(result.markdown_path.read_text(encoding="utf-8"))
