"""`inttower rollout`: start, watch, promote, stop and roll back a challenger bundle
(model.rollout has the store's side, service.shadow the service's)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from prometheus_client.parser import text_string_to_metric_families

from inttower.errors import fail
from model import pointers, rollout, store

rollout_app = typer.Typer(no_args_is_help=True, help="Roll a challenger bundle out beside the "
                          "live one: shadow scoring or a user-hash A/B, then promote or stop.")

ArtifactsOpt = Annotated[
    Path, typer.Option("--artifacts", help="Artifacts store (bundles + CURRENT).")
]
AsChallengerOpt = Annotated[bool, typer.Option(
    "--as-challenger", help="Publish as the challenger of a new rollout (`inttower rollout`) "
                            "instead of moving CURRENT.")]
RolloutModeOpt = Annotated[rollout.Mode, typer.Option(
    help="With --as-challenger: shadow (live answers, the challenger is compared) or ab (the "
         "challenger answers a share of the users).")]
RolloutShareOpt = Annotated[float, typer.Option(
    min=0, max=1, help="With --as-challenger: share of the requests (shadow) or users (ab).")]
# The service's series that `rollout status --url` reads (service/metrics.py defines them).
_COMPARISON = {
    "inttower_shadow_topk_overlap": "top-k overlap (mean)",
    "inttower_shadow_rank_correlation": "rank correlation (mean)",
    "inttower_shadow_score_shift": "score shift, challenger - live (mean)",
    "inttower_challenger_seconds": "challenger seconds (mean)",
}


def challenger_of(as_challenger: bool, mode: rollout.Mode, share: float) -> Any:
    """The offline commands' --as-challenger options as training.publish takes them."""
    from training.publish import Challenger

    if not as_challenger:
        return None
    if share <= 0:
        raise typer.BadParameter("must be above 0", param_hint="--rollout-share")
    return Challenger(mode, share)


@rollout_app.command("start")
def start(
    version: Annotated[str, typer.Option(help="A published version (not CURRENT).")],
    mode: Annotated[rollout.Mode, typer.Option(help="shadow or ab.")] = rollout.Mode.shadow,
    share: Annotated[float, typer.Option(
        min=0, max=1, help="Of the requests (shadow) or of the users (ab).")] = 0.1,
    salt: Annotated[str | None, typer.Option(
        help="ab: the users' hash salt (default: the version, a fresh draw per rollout).")] = None,
    artifacts: ArtifactsOpt = Path("artifacts"),
) -> None:
    """Name a published bundle the challenger; the services pick it up within seconds."""
    try:
        started = rollout.start(artifacts, version, mode, share, salt)
    except (store.BundleError, rollout.RolloutError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(started.to_json().strip())


@rollout_app.command("status")
def status(
    artifacts: ArtifactsOpt = Path("artifacts"),
    url: Annotated[str | None, typer.Option(
        help="A running service (http://host:port): also print its live/challenger view and "
             "shadow comparison.")] = None,
) -> None:
    """CURRENT, PREVIOUS, the rollout in progress and the last moves (and a service's figures)."""
    try:
        running = rollout.challenger(artifacts)
        report: dict[str, Any] = {
            "current": store.current_version(artifacts),
            "previous": store.previous_version(artifacts),
            "challenger": json.loads(running.to_json()) if running else None,
            "history": pointers.history(artifacts, last=5),
        }
    except (OSError, store.BundleError, rollout.RolloutError) as exc:
        raise fail(str(exc)) from exc
    if url is not None:
        report["service"] = _service_view(url.rstrip("/"))
    typer.echo(json.dumps(report, indent=2))


@rollout_app.command("promote")
def promote(artifacts: ArtifactsOpt = Path("artifacts")) -> None:
    """The challenger becomes CURRENT; the old CURRENT is kept as the rollback target."""
    try:
        version, was = rollout.promote(artifacts)
    except (store.BundleError, rollout.RolloutError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"CURRENT {version} (was {was}; `inttower rollout rollback` goes back)")


@rollout_app.command("stop")
def stop(
    artifacts: ArtifactsOpt = Path("artifacts"),
    reason: Annotated[str, typer.Option(help="Recorded in HISTORY.jsonl.")] = "stopped by hand",
) -> None:
    """End the rollout; CURRENT is unchanged."""
    try:
        stopped = rollout.stop(artifacts, reason)
    except rollout.RolloutError as exc:
        raise fail(str(exc)) from exc
    if stopped is None:
        raise fail(f"no rollout in progress in {artifacts}")
    typer.echo(f"stopped the rollout of {stopped.version}")


@rollout_app.command("rollback")
def rollback(artifacts: ArtifactsOpt = Path("artifacts")) -> None:
    """CURRENT back to the version before its last move (PREVIOUS)."""
    try:
        version, was = rollout.rollback(artifacts)
    except (store.BundleError, rollout.RolloutError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"CURRENT {version} (was {was})")


def _service_view(url: str) -> dict[str, Any]:
    """What the service at `url` serves (/model) and its rollout series (/metrics), summed over
    label sets: counts, and histogram means as sum / count."""
    try:
        with urllib.request.urlopen(f"{url}/model", timeout=5) as response:
            model = json.load(response)
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise fail(f"cannot read {url}: {exc}") from exc
    challenger = model.get("challenger") or {}
    view: dict[str, Any] = {"live": model.get("version"),
                            "challenger": challenger.get("version"),
                            "mode": challenger.get("mode")}
    for family in text_string_to_metric_families(text):
        if family.name in _COMPARISON:
            view.update(_means(family, _COMPARISON[family.name]))
        elif family.name in ("inttower_shadow", "inttower_requests", "inttower_rollout_stops"):
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    view[f"{sample.name}{{{labels}}}"] = int(sample.value)
    return view


def _means(family: Any, title: str) -> dict[str, Any]:
    """Per label set other than le: `title` -> sum / count, and the count."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for sample in family.samples:
        key = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "le")
        if sample.name.endswith("_sum"):
            sums[key] = sample.value
        elif sample.name.endswith("_count"):
            counts[key] = sample.value
    return {f"{title}{f' [{key}]' if key else ''}": {
                "mean": float(f"{sums[key] / counts[key]:.4g}") if counts[key] else None,
                "count": int(counts[key])}
            for key in sorted(counts)}
