"""`run_quality(config) -> QualityResult`: train every model of the benchmark on every seed with
the same data, features, loop and early stopping; write docs/results/quality-<dataset>-<split>.*"""

from __future__ import annotations

import json
import logging
import shlex
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.quality.markdown import render
from bench.quality.records import RunRecords
from bench.quality.runner import RunResult, Task, run_tasks
from bench.quality.summary import summarise
from bench.quality.zoo import (
    FAMILIES,
    SCHEMA_PLACEMENT,
    Placements,
    Variant,
    ablation_grid,
    family_variants,
    placements_of,
)
from bench.report import provenance
from model.losses import LossConfig
from training.data import DataConfig, ItemStat
from training.loop import FitConfig
from training.schema import DatasetSchema, builtin_schema
from training.split import SplitKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QualityConfig:
    dataset: str = "ml-100k"  # a built-in dataset, used when `schema` is None
    schema: Path | None = None  # the user's own data (or a synthetic set)
    split: SplitKind = SplitKind.random
    history_len: int | None = None  # overrides the schema's user history length; 0: off
    # Where the item statistic goes: the placements each model is trained with and chosen
    # among on validation (zoo.Placements; default: the schema's own)
    item_stats: Placements = SCHEMA_PLACEMENT
    seeds: tuple[int, ...] = (1, 2, 3)
    models: tuple[str, ...] = tuple(FAMILIES)
    ablations: bool = False
    # Points of the ablation grid to train (by name), beside the default; empty: all of them
    ablation_names: tuple[str, ...] = ()
    jobs: int = 1
    fit: FitConfig = field(default_factory=FitConfig)  # its seed is replaced by each seed
    device: str = "cpu"
    out: Path = Path("docs/results")
    resume: bool = False  # reuse the runs recorded in <out>/.runs by an interrupted run

    @property
    def data_schema(self) -> DatasetSchema:
        """The schema the runs train on, with the --history-len override applied."""
        schema = (builtin_schema(self.dataset) if self.schema is None
                  else DatasetSchema.load(self.schema))
        return DataConfig(history_len=self.history_len).apply(schema)

    @property
    def dataset_name(self) -> str:
        return self.data_schema.name

    def command(self) -> str:
        """The CLI line that reproduces this run."""
        source = ["--schema", str(self.schema)] if self.schema else ["--dataset", self.dataset]
        history = [] if self.history_len is None else ["--history-len", str(self.history_len)]
        item_stats = ([] if self.item_stats == SCHEMA_PLACEMENT else
                      ["--item-stat", ",".join(("" if f == "*" else f"{f}=") + str(s or "schema")
                                               for f, s in self.item_stats)])
        args = [*source, "--split", self.split.value, *history, *item_stats,
                "--seeds", *map(str, self.seeds),
                "--models", ",".join(self.models), *(["--ablations"] if self.ablations else []),
                *(arg for name in self.ablation_names for arg in ("--ablation", name)),
                "--jobs", str(self.jobs), "--epochs", str(self.fit.epochs),
                "--patience", str(self.fit.patience), "--batch-size", str(self.fit.batch_size),
                "--lr", str(self.fit.lr), "--device", self.device, "--out", str(self.out),
                *(["--resume"] if self.resume else [])]
        return shlex.join(["inttower", "bench", "quality", *args])


@dataclass(frozen=True)
class QualityResult:
    document: dict[str, Any]
    json_path: Path
    markdown_path: Path


def plan(config: QualityConfig) -> tuple[list[Variant], list[Variant]]:
    """(every variant to train in table order, the ablation grid among them)."""
    # The ablations run at IntTower's first item-statistic placement given
    placement = placements_of(config.item_stats, "inttower")[0]
    grid = [replace(v, item_stat=placement) for v in _grid(config.ablation_names)
            ] if config.ablations else []
    chosen = [v for family in config.models
              for v in family_variants(family, placements_of(config.item_stats, family))]
    unique = {(v.family, v.name): v for v in [*chosen, *grid]}
    ordered = sorted(unique.values(), key=lambda v: list(FAMILIES).index(v.family))
    return ordered, grid


def _grid(names: tuple[str, ...]) -> list[Variant]:
    """The ablation grid, or its default and the points `names` names."""
    grid = ablation_grid()
    unknown = sorted(set(names) - {v.name for v in grid})
    if unknown:
        raise ValueError(f"no ablation named {unknown[0]!r}; the grid: "
                         f"{', '.join(v.name for v in grid)}")
    return [v for v in grid if not names or v.name == "default" or v.name in names]


def _tasks(config: QualityConfig, variants: list[Variant]) -> list[Task]:
    # Seed by seed and data by data (a worker keeps the prepared datasets of one seed), slowest
    # family first within them.
    slowest_first = sorted(variants[::-1], key=lambda v: str(v.item_stat))
    return [Task(DataConfig(config.dataset, config.schema, config.split, seed,
                            config.history_len, variant.item_stat), variant,
                 replace(config.fit, seed=seed, lr=config.fit.lr * variant.lr_scale,
                         progress=config.fit.progress and config.jobs <= 1),
                 config.device)
            for seed in config.seeds for variant in slowest_first]


def _train(config: QualityConfig, tasks: list[Task]) -> list[RunResult]:
    """Every task's result; with `resume`, recorded results of earlier runs are reused."""
    records = RunRecords(config.out / ".runs")
    recorded = [records.load(task) if config.resume else None for task in tasks]
    results = [r for r in recorded if r is not None]
    todo = [task for task, r in zip(tasks, recorded, strict=True) if r is None]
    if results:
        log.info("resuming: %d of %d runs already recorded in %s", len(results), len(tasks),
                 records.folder)
    for done, (task, result) in enumerate(run_tasks(todo, config.jobs), start=len(results) + 1):
        records.save(task, result)
        log.info("[%d/%d] %s %s seed %d: valid auc %.4f, test auc %.4f (%d epochs, %.0f s)",
                 done, len(tasks), result.family, result.variant, result.seed,
                 result.valid["auc"], result.test["auc"], result.epochs_run,
                 result.train_seconds)
        results.append(result)
    return results


def _schema_placement(schema: DatasetSchema) -> str:
    """The schema's own placement of the item statistic, named as --item-stat names it."""
    return schema.items.label_rate_in if schema.items.label_rate else ItemStat.off.value


def run_quality(config: QualityConfig) -> QualityResult:
    variants, grid = plan(config)
    results = _train(config, _tasks(config, variants))
    fit = asdict(config.fit)
    del fit["seed"], fit["progress"]
    history = config.data_schema.users.history
    history = None if history is None else history.max_len
    document = {
        "benchmark": "quality", "dataset": config.dataset_name, "split": config.split.value,
        "seeds": list(config.seeds),
        **provenance(config.command(), config.device, config.jobs),
        "protocol": {"fit": fit, "loss": asdict(LossConfig()), "user_history": history,
                     "item_stat": {family: [str(s) if s else _schema_placement(config.data_schema)
                                            for s in placements_of(config.item_stats, family)]
                                   for family in config.models},
                     "early_stopping": "validation AUC, best epoch restored"},
        **summarise(results, variants, grid, config.item_stats),
    }
    stem = f"quality-{config.dataset_name}-{config.split.value}"
    config.out.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = config.out / f"{stem}.json", config.out / f"{stem}.md"
    json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    markdown_path.write_text(render(document), encoding="utf-8")
    return QualityResult(document, json_path, markdown_path)
