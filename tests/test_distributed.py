"""torchrun data-parallel training: two CPU ranks (gloo) on the toy data, and a rank that dies."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from model import store
from model.bundle import load_current
from tests.conftest import TOY_MODEL
from training.build import BuildConfig, build
from training.data import DataConfig
from training.distributed import Ranks, average_sparse_gradients, shard_in_order, shard_of_epoch
from training.export import refresh_items
from training.trainer import TrainResult

# Two ranks may land a little apart from one process on the same global batch: each rank's
# BatchNorm sees half the batch and draws its own dropout masks.
AUC_TOLERANCE = 0.03


def _launch(*args: str, marker: str = "") -> subprocess.Popen:
    """`torchrun --standalone --nproc_per_node=2 -m inttower <args>`, output captured."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "inttower", *args]
    env = {**os.environ, "INTTOWER_TEST_MARK": marker}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=Path(__file__).parents[1])


def _torchrun(schema: Path, artifacts: Path, epochs: int, marker: str = "",
              built: Path | None = None) -> subprocess.Popen:
    """Two-rank `inttower train` with the toy architecture of `trained` (streaming from the
    shards of `built`, when given)."""
    model = ["--hidden", ",".join(map(str, TOY_MODEL["hidden"])),
             "--embed-dim", str(TOY_MODEL["embed_dim"]), "--head-dim", str(TOY_MODEL["head_dim"]),
             "--heads", str(TOY_MODEL["user_heads"])]
    data = ["--built", str(built)] if built is not None else ["--schema", str(schema)]
    return _launch("train", *data, "--artifacts", str(artifacts), "--seed", "1",
                   "--epochs", str(epochs), "--patience", str(epochs), "--batch-size", "512",
                   "--no-progress", *model, marker=marker)


def test_epoch_shards_are_disjoint_and_equal_and_scoring_shards_rebuild_the_order() -> None:
    order = torch.randperm(11)
    parts = [shard_of_epoch(order, Ranks(rank, 3)) for rank in range(3)]
    assert {len(p) for p in parts} == {4}  # 11 rows padded to 12: equal steps on every rank
    assert sorted(torch.cat(parts).tolist()) == sorted(order.tolist() + order[:1].tolist())
    assert torch.equal(torch.cat([shard_in_order(order, Ranks(r, 3)) for r in range(3)]), order)


# Rank r's sparse gradient rows: they overlap (row 2), and rank 1 looked up nothing at all.
_ROWS = {0: [2, 5, 2], 1: []}


def _average_on_rank(rank: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    table = nn.Embedding(8, 3, sparse=True)
    rows = torch.tensor(_ROWS[rank], dtype=torch.long)
    table(rows).mul(rank + 1).sum().backward()
    if not len(rows):
        table.weight.grad = None  # as autograd leaves a table no batch row used
    average_sparse_gradients([table.weight], Ranks(rank, 2, "gloo"))
    torch.save(table.weight.grad.to_dense(), f"{out}.{rank}")
    dist.destroy_process_group()


def test_sparse_gradients_are_averaged_over_ranks_even_when_one_rank_has_none(
        tmp_path: Path) -> None:
    mp.spawn(_average_on_rank, args=(f"file://{tmp_path / 'rendezvous'}", str(tmp_path / "grad")),
             nprocs=2)
    expected = torch.zeros(8, 3)
    expected[2], expected[5] = 2 / 2, 1 / 2  # rank 0's gradient over two ranks, rank 1's none
    for rank in range(2):
        assert torch.equal(torch.load(tmp_path / f"grad.{rank}"), expected)


@pytest.mark.parametrize("rows", ["in memory", "streamed from shards"])
def test_two_ranks_publish_one_bundle_scoring_like_one_process(
        synth_schema: Path, trained: TrainResult, tmp_path: Path, rows: str) -> None:
    built = None
    if rows == "streamed from shards":
        built = build(BuildConfig(DataConfig(schema=synth_schema, seed=1), shard_rows=1_000,
                                  progress=False), tmp_path / "built")
    run = _torchrun(synth_schema, tmp_path / "art", epochs=4, built=built)
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output
    summary = json.loads(output[output.index("{\n"):output.rindex("}") + 1])  # rank 0's alone
    bundle = load_current(tmp_path / "art")
    assert bundle.version == summary["version"]
    assert len(list((tmp_path / "art" / store.BUNDLES).iterdir())) == 1  # rank 0 alone published
    assert bundle.manifest["metrics"]["cutoff"]["valid"]["auc"] == summary["valid"]["auc"]
    alone = trained.summary()  # one process, same data, seed, architecture and global batch
    for split in ("valid", "test"):
        assert abs(summary[split]["auc"] - alone[split]["auc"]) < AUC_TOLERANCE, (summary, alone)


def _worker_pid(marker: str, local_rank: int, deadline: float) -> int:
    """The pid of the torchrun worker of `local_rank` whose environment carries `marker`."""
    wanted = {f"INTTOWER_TEST_MARK={marker}".encode(), f"LOCAL_RANK={local_rank}".encode()}
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                environ = set((proc / "environ").read_bytes().split(b"\0"))
            except OSError:  # not a process, or gone
                continue
            if proc.name.isdigit() and wanted <= environ:
                return int(proc.name)
        time.sleep(0.2)
    raise TimeoutError(f"no worker of local rank {local_rank} appeared")


def test_a_rank_that_dies_fails_the_job_and_nothing_is_published(
        synth_schema: Path, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    run = _torchrun(synth_schema, tmp_path / "art", epochs=200, marker=marker)
    victim = _worker_pid(marker, 1, time.monotonic() + 120)
    time.sleep(8)  # into training: imports, data and the process group take a few seconds
    os.kill(victim, signal.SIGKILL)  # as the OOM killer would
    output, _ = run.communicate(timeout=300)
    assert run.returncode != 0
    assert "FAILED" in output and "Signal 9 (SIGKILL)" in output, output[-3000:]
    assert not (tmp_path / "art" / store.CURRENT).exists()


def test_a_sharded_item_refresh_equals_the_single_process_one(
        trained: TrainResult, trained_artifacts: Path, tmp_path: Path) -> None:
    alone, sharded = (shutil.copytree(trained_artifacts, tmp_path / name)
                      for name in ("alone", "sharded"))
    refresh_items(alone, progress=False)
    run = _launch("refresh-items", "--artifacts", str(sharded), "--no-progress")
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output
    one, two = load_current(alone), load_current(sharded)
    assert two.version in output.split() and two.manifest["parent"] == trained.version
    assert len(list((sharded / store.BUNDLES).iterdir())) == 2  # the parent and one child
    # Equal heads, up to one int8 step where float rounding differs between the runs.
    np.testing.assert_allclose(one.item_vectors.dequantised(), two.item_vectors.dequantised(),
                               rtol=0, atol=float(one.item_vectors.scales.max()) + 1e-6)
    assert list(one.items.ids) == list(two.items.ids)
