"""The one publish path of the offline commands (train, refresh-items, refresh-users): where a
command starts from, and where its bundle goes - CURRENT, or the challenger slot of a rollout.

A refresh is a child of the bundle it started from: it names that parent and inherits its dataset,
data layout, training record and offline metrics, so `inttower evaluate` and the next refresh
read the child exactly as they read the parent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model import rollout, store
from model.bundle import Bundle, BundleContent, load_bundle, publish_bundle

log = logging.getLogger(__name__)

INHERITED = ("dataset", "dataset_schema", "train", "metrics")  # what a child takes from its parent


@dataclass(frozen=True)
class Challenger:
    """Publish as the challenger of a new rollout (model.rollout) instead of moving CURRENT."""

    mode: rollout.Mode = rollout.Mode.shadow
    share: float = 0.1


def source_bundle(artifacts: Path, version: str | None = None,
                  device: str | torch.device = "cpu") -> Bundle:
    """The bundle a refresh starts from: `version`, else the one CURRENT names (BundleError
    lists the published versions when neither can be used)."""
    return load_bundle(store.source_path(artifacts, version), device)


def publish(artifacts: Path, content: BundleContent, parent: Bundle | None = None,
            challenger: Challenger | None = None, **manifest: Any) -> str:
    """Write `content` as a new bundle into `artifacts`; make it CURRENT, or, as `challenger`,
    start its rollout. `manifest` fields (metrics, dataset, train...) go into the manifest, over
    what a child inherits from its `parent`. Returns the version."""
    inherited = ({k: parent.manifest[k] for k in INHERITED if k in parent.manifest}
                 if parent is not None else {})
    fields = {**inherited, **manifest}
    metrics = fields.pop("metrics", None)
    version = publish_bundle(artifacts, content, metrics=metrics,
                             parent=parent.version if parent is not None else None,
                             extra=fields, go_live=challenger is None)
    if challenger is None:
        log.info("published bundle %s into %s: CURRENT", version, artifacts)
        return version
    started = rollout.start(artifacts, version, challenger.mode,
                            challenger.share)
    log.info("published bundle %s into %s as the challenger (%s, share %g); CURRENT is "
             "unchanged", version, artifacts, started.mode.value, started.share)
    return version
