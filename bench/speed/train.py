"""`inttower bench train`: training samples per second and memory, dense embedding tables
against sparse ones, on a built-in dataset and on synthetic catalogues of growing vocabulary.

Each measurement runs in a fresh process, so its peak RSS is its own: the data as the trainer
prepares it (reading, splitting, encoding), the model, the optimiser state and the steps.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.report import provenance
from training.data import DataConfig

# Sparse tables are meant to make the step cost follow the batch: a catalogue 50x ml-1m's
# vocabulary trains within this factor of ml-1m's samples per second.
GOAL_SLOWDOWN = 1.5
MODES = {"dense": False, "sparse": True}  # mode -> sparse_embeddings


@dataclass(frozen=True)
class Synthetic:
    """A synthetic catalogue (training.synth), generated once into the benchmark's folder."""

    users: int
    items: int
    interactions: int

    @property
    def name(self) -> str:
        return f"synthetic {self.users:,} users, {self.items:,} items, {self.interactions:,} rows"

    def schema(self, work: Path) -> Path:
        from training.synth import generate

        folder = work / f"synth-u{self.users}-i{self.items}-n{self.interactions}"
        path = folder / "schema.yaml"
        return path if path.exists() else generate(folder, self.users, self.items,
                                                   self.interactions, seed=0)


@dataclass(frozen=True)
class TrainBenchConfig:
    work: Path  # where the synthetic data is generated once and kept
    datasets: tuple[str, ...] = ("ml-1m",)  # built-in; the first is the reference of the ratios
    synthetic: tuple[Synthetic, ...] = (Synthetic(500_000, 200_000, 5_000_000),)
    steps: int = 40
    device: str = "cpu"
    modes: tuple[str, ...] = tuple(MODES)
    command: str = "inttower bench train"


def _measure(source: DataConfig, steps: int, device: str, sparse: bool) -> dict[str, Any]:
    """In a fresh process: training_rate and this process's peak RSS."""
    from bench.speed.pipeline import peak_rss_mb, training_rate

    return {**training_rate(source, steps, device, sparse), "peak_rss_mb": peak_rss_mb()}


def _sources(config: TrainBenchConfig) -> list[tuple[str, DataConfig]]:
    builtin = [(name, DataConfig(dataset=name)) for name in config.datasets]
    return builtin + [(s.name, DataConfig(schema=s.schema(config.work)))
                      for s in config.synthetic]


def run_train(config: TrainBenchConfig) -> dict[str, Any]:
    """Every source in every mode, one fresh process each; the slowdown of each source against
    the first, mode by mode."""
    config.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, source in _sources(config):
        for mode in config.modes:
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                measured = pool.submit(_measure, source, config.steps, config.device,
                                       MODES[mode]).result()
            rows.append({"source": name, "mode": mode, **measured})
    reference = {r["mode"]: r for r in rows if r["source"] == rows[0]["source"]}
    for row in rows:
        base = reference[row["mode"]]
        row["slowdown_vs_reference"] = (base["samples_per_s"] / row["samples_per_s"]
                                        if "samples_per_s" in row and "samples_per_s" in base
                                        else None)
    sparse = [r for r in rows if r["mode"] == "sparse" and r["source"] != rows[0]["source"]]
    goals = [{"goal": f"{r['source']}: samples/s against {rows[0]['source']}'s (sparse)",
              "target": f"slowdown <= {GOAL_SLOWDOWN}x",
              "measured": f"{r['slowdown_vs_reference']:.2f}x",
              "met": r["slowdown_vs_reference"] <= GOAL_SLOWDOWN}
             for r in sparse if r["slowdown_vs_reference"] is not None]
    return {"benchmark": "train", **provenance(config.command, config.device, 1),
            "config": {"steps": config.steps, "reference": rows[0]["source"]},
            "runs": rows, "goals": goals}
