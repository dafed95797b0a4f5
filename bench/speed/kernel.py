"""`inttower bench kernel`: what scoring one user's candidates costs, against merely gathering the
candidates' item vectors, in one process and one run; and the user tower at one user.

Catalogue: `items` random (Hi=4, d=32) item-head vectors in cache-line-aligned memory, as a loaded
bundle holds them; each call takes the next of a pool of random candidate lists that together
cover the catalogue several times, so rows are as cold as a large catalogue's are. Methods, CPU:
    gather   torch index_select of the candidates' float32 rows (what the reference starts with)
    fused    model.kernels.fused.maxsim_rows: gather and FE-Block in one pass (the service's CPU
             path), float32 rows
    int8     the same kernel over int8 rows with a scale per head (model.item_vectors), the
             bundles' default: 144 bytes a candidate instead of 512
    torch    index_select + model.interaction.score_one_vs_n (the reference, torch eager)
On an accelerator, gather and torch (the service's path there). User tower (one user): the
compiled tower on the host (what the service runs) against IntTower.encode_user on the device,
default architecture.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bench.report import provenance
from bench.speed.report import cpu_goal
from bench.speed.timing import Call, clock_for, clock_name, interleaved, median_ratio
from model.config import ModelConfig, TowerSpec
from model.features import EncodedTable
from model.interaction import score_one_vs_n
from model.inttower import IntTower
from model.item_vectors import ItemDtype, ItemVectors
from model.kernels.aligned import aligned_copy
from model.kernels.cpu_tower import CpuUserTower
from model.kernels.fused import maxsim_rows

KERNEL_TARGET = 2.0  # FE-Block time / gather time, at every N
INT8_TARGET = 0.6  # int8 rows' kernel time / float32 rows', at N=1000
POOL = 64  # inputs drawn in turn (user tower)
COLD_PASSES = 4  # candidate lists: enough to cover the catalogue this many times, so rows are cold
# An ml-1m-like user tower: id, gender, age, occupation, zip region; one numeric feature.
USER_SPEC = TowerSpec(cat_vocab=(6_042, 4, 9, 23, 102), num_dim=1)
ITEM_SPEC = TowerSpec(cat_vocab=(3_708,), seq_vocab=(20,), num_dim=1)
ARCH = ModelConfig(user=USER_SPEC, item=ITEM_SPEC)  # the default architecture


@dataclass(frozen=True)
class KernelConfig:
    items: int = 100_000
    candidates: tuple[int, ...] = (100, 1_000, 10_000)
    rounds: int = 7
    calls: int = 50  # per method and round
    device: str = "cpu"
    seed: int = 0

    def command(self) -> str:
        args = ["--items", str(self.items), "--rounds", str(self.rounds), "--calls",
                str(self.calls), "--device", self.device,
                *(a for n in self.candidates for a in ("--candidates", str(n)))]
        return shlex.join(["inttower", "bench", "kernel", *args])


def _methods(config: KernelConfig, n: int, rng: np.random.Generator) -> dict[str, Call]:
    shape = (config.items, ARCH.item_heads, ARCH.head_dim)
    items = aligned_copy(rng.standard_normal(shape, dtype=np.float32))
    user = rng.standard_normal((ARCH.layers * ARCH.user_heads, ARCH.head_dim), dtype=np.float32)
    lists = max(POOL, -(-COLD_PASSES * config.items // n))
    pool = list(rng.integers(0, config.items, (lists, n)))
    device = torch.device(config.device)
    items_t = torch.from_numpy(items).to(device)
    user_t = torch.from_numpy(user).to(device)
    pool_t = [torch.from_numpy(rows).to(device) for rows in pool]
    sync: Callable[[], None] = (torch.cuda.synchronize if device.type == "cuda"
                                else lambda: None)

    def gather(step: int) -> None:
        items_t.index_select(0, pool_t[step % lists])
        sync()

    def reference(step: int) -> None:
        score_one_vs_n(user_t, items_t.index_select(0, pool_t[step % lists]))
        sync()

    methods: dict[str, Call] = {"gather": gather, "torch": reference}
    if device.type == "cpu":
        stored = {"fused": ItemVectors(items),
                  "int8": ItemVectors.encode(items, ItemDtype.int8).aligned()}
        for name, vectors in stored.items():
            methods[name] = (lambda step, vectors=vectors:
                             maxsim_rows(vectors, pool[step % lists], user))
    return methods


def _user_tower(config: KernelConfig, rng: np.random.Generator) -> dict[str, float]:
    model = IntTower(ARCH).eval().to(config.device)
    users = [EncodedTable(ids=np.array(["u"], dtype=object),
                          cat=np.array([[rng.integers(2, v) for v in USER_SPEC.cat_vocab]]),
                          num=rng.standard_normal((1, 1), dtype=np.float32))
             for _ in range(POOL)]
    sync = torch.cuda.synchronize if config.device.startswith("cuda") else lambda: None

    def torch_tower(step: int) -> None:
        with torch.inference_mode():
            model.encode_user(users[step % POOL].inputs(config.device)).heads.cpu()
        sync()

    tower = CpuUserTower(model)  # on the host whatever the device, as the service runs it
    methods: dict[str, Call] = {"torch": torch_tower,
                                "compiled": lambda step: tower(users[step % POOL])}
    times = interleaved(methods, config.rounds, config.calls * 4, clock_for(config.device))
    return {f"{name}_us": float(np.median(t)) for name, t in times.items()}


def run_kernel(config: KernelConfig) -> dict[str, Any]:
    """The results document (JSON-ready)."""
    rng = np.random.default_rng(config.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the service runs it (service.settings.torch_threads)
    try:
        rows = []
        for n in config.candidates:
            times = interleaved(_methods(config, n, rng), config.rounds, config.calls,
                                clock_for(config.device))
            row: dict[str, Any] = {"candidates": n}
            row |= {f"{name}_us": float(np.median(t)) for name, t in times.items()}
            row |= {f"{name}_vs_gather": median_ratio(t, times["gather"])
                    for name, t in times.items() if name != "gather"}
            if "int8" in times:
                row["int8_vs_fused"] = median_ratio(times["int8"], times["fused"])
            rows.append(row)
        tower = _user_tower(config, rng)
    finally:
        torch.set_num_threads(threads)
    scored_by = "fused" if config.device == "cpu" else "torch"
    goals = [{"goal": f"FE-Block scoring at N={r['candidates']} (the {scored_by} path) within "
                      f"{KERNEL_TARGET:g}x of gathering the same rows",
              "target": f"<= {KERNEL_TARGET:g}x", "measured": f"{r[f'{scored_by}_vs_gather']:.2f}x",
              "met": cpu_goal(config.device, r[f"{scored_by}_vs_gather"] <= KERNEL_TARGET)}
             for r in rows]
    goals += [{"goal": f"FE-Block scoring at N={r['candidates']} with int8 rows, against float32 "
                       "rows",
               "target": f"<= {INT8_TARGET:g}x", "measured": f"{r['int8_vs_fused']:.2f}x",
               "met": r["int8_vs_fused"] <= INT8_TARGET}
              for r in rows if r["candidates"] == 1_000 and "int8_vs_fused" in r]
    return {"benchmark": "kernel", **provenance(config.command(), config.device, 1),
            "config": {"items": config.items, "item_heads": ARCH.item_heads,
                       "head_dim": ARCH.head_dim, "user_rows": ARCH.layers * ARCH.user_heads,
                       "rounds": config.rounds, "calls": config.calls, "torch_threads": 1},
            "clock": clock_name(config.device), "kernel": rows, "user_tower": tower,
            "goals": goals}

