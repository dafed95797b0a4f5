"""Bundles for the speed benchmarks: the default architecture (d=32, L=3, H=4) trained for one
epoch on a synthetic dataset of the asked size, published once into a work folder and reused.

Serving cost depends on the catalogue's size and the architecture, not on how well the model was
trained, so one epoch over a modest number of interactions is enough. Publishing builds the item
index too, which dominates the first run for large catalogues (minutes for a million items).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from model import store
from model.bundle import ITEM_IDS, USERS
from training.data import DataConfig
from training.loop import FitConfig
from training.synth import generate
from training.trainer import TrainConfig, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Catalogue:
    users: int
    items: int
    interactions: int = 100_000  # enough for every code path; the sizes are what is measured
    integer_item_ids: bool = False  # items "0", "1", ... (model.kernels.id_index's integer path)

    @property
    def name(self) -> str:
        # The bundle format in the name: a work folder built by an older format is not reused.
        ids = "-intids" if self.integer_item_ids else ""
        return (f"synth-{self.users}u-{self.items}i-{self.interactions}x{ids}"
                f"-f{store.FORMAT_VERSION}")


def bundle_artifacts(work: Path, catalogue: Catalogue) -> Path:
    """The artifacts folder of `catalogue`'s bundle under `work`, trained and published first if
    it is not there yet."""
    artifacts = work / catalogue.name / "artifacts"
    if store.current_version(artifacts) is None:
        log.info("building the %s bundle (once; later runs reuse it)", catalogue.name)
        schema = generate(work / catalogue.name / "data", users=catalogue.users,
                          items=catalogue.items, interactions=catalogue.interactions, seed=0,
                          integer_item_ids=catalogue.integer_item_ids)
        train(TrainConfig(data=DataConfig(schema=schema), fit=FitConfig(epochs=1, progress=False),
                          artifacts=artifacts))
    return artifacts


def catalogue_ids(artifacts: Path) -> tuple[list[str], list[str]]:
    """(user ids, item ids) of the live bundle, read from its files without loading it."""
    path = store.current_path(artifacts)
    users = pd.read_parquet(path / USERS, columns=["user_id"])["user_id"].astype(str).tolist()
    return users, json.loads((path / ITEM_IDS).read_text())
