"""What one run of `inttower bench serve` measures, and the command line that repeats it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from bench.speed.catalogue import Catalogue

# The paths section's cells, (N candidates, connections): where the paths goals are set.
PATHS_CELLS = ((1_000, 1), (1_000, 16), (10_000, 1))


@dataclass(frozen=True)
class ServeConfig:
    work: Path  # the benchmark bundles are built here once, and the servers' logs written
    artifacts: Path | None = None  # an existing bundle store to measure instead of a synthetic one
    users: int = 10_000
    items: int = 100_000
    interactions: int = 100_000  # trained on, one epoch, per synthetic bundle
    candidates: tuple[int, ...] = (100, 1_000, 10_000)
    seconds: float = 5.0  # per load run
    repeats: int = 3
    workers: int = 2
    connections: int = 8  # the saturation runs
    device: str = "cpu"
    paths_cells: tuple[tuple[int, int], ...] = PATHS_CELLS  # empty skips the paths section
    recommend_users: int = 6_040  # an ml-1m-sized catalogue for /recommend
    recommend_items: int = 3_706  # 0 skips /recommend
    scale_items: int = 1_000_000  # 0 skips the scale test
    train_dataset: str = "ml-1m"  # a built-in dataset, unless train_schema is given
    train_schema: Path | None = None
    train_steps: int = 30  # 0 skips the training throughput
    shadow: bool = True  # the shadow rollout section (bench/speed/shadow.py)
    flood: bool = True  # the header-flood section (bench/speed/flood.py)
    seed: int = 0

    def catalogue(self, users: int, items: int, integer_item_ids: bool = False) -> Catalogue:
        return Catalogue(users, items, self.interactions, integer_item_ids)

    def command(self) -> str:
        train = (["--train-schema", str(self.train_schema)] if self.train_schema
                 else ["--train-dataset", self.train_dataset])
        main = (["--artifacts", str(self.artifacts)] if self.artifacts else
                ["--users", str(self.users), "--items", str(self.items)])
        paths = ([a for n, c in self.paths_cells for a in ("--paths-cell", f"{n}:{c}")]
                 if self.paths_cells else ["--no-paths"])
        args = ["--work", str(self.work), *main, "--interactions", str(self.interactions),
                *(a for n in self.candidates for a in ("--candidates", str(n))),
                "--seconds", f"{self.seconds:g}", "--repeats", str(self.repeats),
                "--workers", str(self.workers), "--connections", str(self.connections),
                "--device", self.device, *paths, "--recommend-users", str(self.recommend_users),
                "--recommend-items", str(self.recommend_items),
                "--scale-items", str(self.scale_items), *train,
                "--train-steps", str(self.train_steps),
                *([] if self.shadow else ["--no-shadow"]),
                *([] if self.flood else ["--no-flood"])]
        return shlex.join(["inttower", "bench", "serve", *args])
