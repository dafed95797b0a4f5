"""`inttower` CLI: a thin typer layer over the typed functions of the packages."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from bench.cli import bench_app
from inttower.data_cli import data_app
from inttower.errors import fail
from inttower.rollout_cli import (
    AsChallengerOpt,
    RolloutModeOpt,
    RolloutShareOpt,
    challenger_of,
    rollout_app,
)
from model.item_vectors import DEFAULT_ITEM_DTYPE, ItemDtype
from model.retention import DEFAULT_GRACE_S
from model.rollout import Mode
from training.split import HeldOut, SplitKind

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="bench")
app.add_typer(rollout_app, name="rollout")

ArtifactsOpt = Annotated[
    Path, typer.Option("--artifacts", help="Artifacts store (bundles + CURRENT).")
]
VersionOpt = Annotated[str | None, typer.Option(
    help="Start from this published version (default: the one CURRENT names).")]
ItemDtypeOpt = Annotated[ItemDtype, typer.Option(
    help="How the bundle stores the item vectors: int8 codes with a scale per head (3.6x fewer "
         "bytes per candidate to score) or float32.")]


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def train(
    dataset: Annotated[str, typer.Option(help="Built-in dataset: ml-100k or ml-1m.")] = "ml-100k",
    schema: Annotated[Path | None, typer.Option(help="Your own data's schema file.")] = None,
    split: SplitKind = SplitKind.random,
    seed: int = 1,
    history_len: Annotated[int | None, typer.Option(
        min=0, help="User history length, overriding the schema's; 0 turns it off.")] = None,
    item_stat: Annotated[str | None, typer.Option(
        help="The item's positive rate and count: 'tower' (an item tower input) or 'off', "
             "overriding the schema's items.label_rate.")] = None,
    artifacts: ArtifactsOpt = Path("artifacts"),
    epochs: int = 10,
    batch_size: int = 2048,
    lr: float = 1e-3,
    patience: int = 2,
    hidden: Annotated[str | None, typer.Option(help="MLP layer sizes, e.g. 300,300,128.")] = None,
    heads: Annotated[int | None, typer.Option(help="User and item heads (H_u = H_i).")] = None,
    head_dim: int | None = None,
    embed_dim: int | None = None,
    cir_weight: float | None = None,
    device: str = "cpu",
    sparse_embeddings: Annotated[bool, typer.Option(
        "--sparse-embeddings/--dense-embeddings",
        help="Embedding tables with sparse gradients and SparseAdam: the step costs what the "
             "batch looks up, not the vocabulary.")] = True,
    no_publish: Annotated[bool, typer.Option("--no-publish", help="Train and score only.")] = False,
    item_dtype: ItemDtypeOpt = DEFAULT_ITEM_DTYPE,
    built: Annotated[Path | None, typer.Option(
        help="Stream the rows from a folder `inttower data build` wrote (its dataset, split and "
             "seed replace --dataset, --schema, --split and --seed).")] = None,
    as_challenger: AsChallengerOpt = False,
    rollout_mode: RolloutModeOpt = Mode.shadow,
    rollout_share: RolloutShareOpt = 0.1,
    progress: bool = True,
) -> None:
    """Train IntTower with early stopping on validation AUC and publish a bundle."""
    from model.losses import LossConfig
    from training.data import DataConfig, ItemStat
    from training.loop import FitConfig
    from training.trainer import TrainConfig
    from training.trainer import train as run_training

    try:
        item_statistic = None if item_stat is None else ItemStat(item_stat)
    except ValueError as exc:
        raise typer.BadParameter(f"{item_stat!r}: one of {', '.join(ItemStat)}",
                                 param_hint="--item-stat") from exc

    layers = tuple(int(size) for size in hidden.split(",")) if hidden else None
    overrides = {k: v for k, v in {"hidden": layers, "user_heads": heads, "item_heads": heads,
                                   "head_dim": head_dim, "embed_dim": embed_dim}.items()
                 if v is not None}
    loss = LossConfig() if cir_weight is None else LossConfig(cir_weight=cir_weight)
    config = TrainConfig(
        data=DataConfig(dataset=dataset, schema=schema, split=split, seed=seed,
                        history_len=history_len, item_stat=item_statistic),
        model=overrides, loss=loss,
        fit=FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, seed=seed,
                      sparse_embeddings=sparse_embeddings, progress=progress),
        artifacts=None if no_publish else artifacts, device=device, item_dtype=item_dtype,
        built=built, challenger=challenger_of(as_challenger, rollout_mode, rollout_share),
    )
    try:
        result = run_training(config)
    except FileNotFoundError as exc:
        if built is None:
            raise
        raise fail(str(exc)) from exc
    if result.main:  # under torchrun: rank 0 speaks for the job
        typer.echo(json.dumps(result.summary(), indent=2))


@app.command("refresh-items")
def refresh_items_cmd(
    artifacts: ArtifactsOpt = Path("artifacts"),
    items: Annotated[Path | None, typer.Option(help="Updated item table (CSV/Parquet).")] = None,
    version: VersionOpt = None,
    item_dtype: Annotated[ItemDtype | None, typer.Option(
        help="Store the vectors as float32 or int8 (default: as the live bundle does).")] = None,
    device: Annotated[str, typer.Option(
        help="cpu, cuda or cuda:N (under torchrun: gloo on cpu, NCCL on cuda).")] = "cpu",
    as_challenger: AsChallengerOpt = False,
    rollout_mode: RolloutModeOpt = Mode.shadow,
    rollout_share: RolloutShareOpt = 0.1,
    progress: bool = True,
) -> None:
    """Recompute item vectors with the live checkpoint; publish a child bundle; move CURRENT
    (or start its rollout). Under torchrun the ranks encode slices of the items, and rank 0
    publishes."""
    from model.store import BundleError
    from training.export import read_items_update, refresh_items

    try:
        table = read_items_update(artifacts, items, version) if items is not None else None
        published = refresh_items(
            artifacts, table, progress=progress, version=version, item_dtype=item_dtype,
            device=device, challenger=challenger_of(as_challenger, rollout_mode, rollout_share))
    except (BundleError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if published is not None:  # under torchrun, rank 0 publishes and says so
        typer.echo(published)


@app.command("refresh-users")
def refresh_users_cmd(
    interactions: Annotated[Path, typer.Option(
        help="The users' whole interaction log up to now (not a delta), laid out like the "
             "training interactions.")],
    events: Annotated[Path | None, typer.Option(
        help="For a model with event sequences: the users' whole behaviour log up to now, laid "
             "out like the training events table (a file or a folder of Parquet parts).")] = None,
    artifacts: ArtifactsOpt = Path("artifacts"),
    version: VersionOpt = None,
    as_challenger: AsChallengerOpt = False,
    rollout_mode: RolloutModeOpt = Mode.shadow,
    rollout_share: RolloutShareOpt = 0.1,
) -> None:
    """Recompute the users' histories and rates from a newer log; publish a child bundle (live,
    or as a rollout's challenger)."""
    from model.store import BundleError
    from training.refresh_users import read_event_log, read_interaction_log, refresh_users

    try:
        published = refresh_users(
            artifacts, read_interaction_log(artifacts, interactions, version),
            read_event_log(artifacts, events, version) if events is not None else None,
            version, challenger_of(as_challenger, rollout_mode, rollout_share))
    except (BundleError, ValueError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(published)


@app.command()
def evaluate(
    artifacts: ArtifactsOpt = Path("artifacts"),
    version: VersionOpt = None,
    split: HeldOut = HeldOut.test,
    schema: Annotated[Path | None, typer.Option(
        help="Schema file of your own data (built-in datasets are found by name).")] = None,
    output: Annotated[Path | None, typer.Option(help="Also write the result as JSON here.")
                      ] = None,
) -> None:
    """Score a bundle on the valid or test rows of the split it was trained on, from the bundle
    alone (stored item vectors, as served); print its AUC, logloss and GAUC."""
    from model import store
    from model.bundle import load_bundle
    from training.evaluate import evaluate_bundle
    from training.fetch import FetchError

    try:
        result = evaluate_bundle(load_bundle(store.source_path(artifacts, version)), split, schema)
    except (store.BundleError, FetchError, ValueError, OSError) as exc:
        raise fail(str(exc)) from exc
    summary = json.dumps(result.summary(), indent=2)
    if output is not None:
        output.write_text(summary + "\n")
    typer.echo(summary)


@app.command()
def gc(
    artifacts: ArtifactsOpt = Path("artifacts"),
    keep: Annotated[int, typer.Option(
        min=1, help="Versions kept along CURRENT's parent chain, CURRENT included.")] = 5,
    grace: Annotated[float, typer.Option(
        min=0, help="Seconds: bundles younger than this are kept (an API may be loading "
                    "them).")] = DEFAULT_GRACE_S,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, remove nothing.")] = False,
) -> None:
    """Remove old bundle versions and dead publishers' temporaries; never CURRENT, its parents
    up to --keep, PREVIOUS, a rollout's challenger, or a bundle younger than --grace
    (model/retention.py has the rule)."""
    from model.retention import collect
    from model.rollout import RolloutError
    from model.store import BundleError

    try:
        removed = collect(artifacts, keep, grace, dry_run)
    except (BundleError, RolloutError, OSError) as exc:
        raise fail(str(exc)) from exc
    for version in removed:
        typer.echo(version)
    typer.secho(f"{'would remove' if dry_run else 'removed'} {len(removed)} version(s)",
                err=True)


@app.command()
def serve(
    artifacts: Annotated[Path | None, typer.Option(
        help="Artifacts store (default: $INTTOWER_ARTIFACTS, else ./artifacts).")] = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: Annotated[str | None, typer.Option(
        help="cpu, cuda or cuda:N (default: $INTTOWER_DEVICE, else cpu).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes, each with its bundle.")] = 1,
    access_log: bool = True,
) -> None:
    """Serve the live bundle over HTTP (/score, /recommend, /docs); new bundles go live unaided.

    Other settings come from INTTOWER_* variables (service/settings.py)."""
    from pydantic import ValidationError

    from service.server import serve as run_server

    overrides = {name: str(value) for name, value in
                 {"artifacts": artifacts, "device": device}.items() if value is not None}
    try:
        run_server(host, port, workers, access_log, overrides)
    except ValidationError as exc:
        raise fail(str(exc)) from exc


if __name__ == "__main__":
    app()
