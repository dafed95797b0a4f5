"""The store's side of a rollout (model.rollout): the user split, the moves and their atomicity
under concurrent publishes, what gc keeps, and the CLI that drives them."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inttower.cli import app
from model import pointers, rollout, store
from model.retention import collect

SPLIT_SNIPPET = ("from model.rollout import user_fraction; "
                 "print([user_fraction('salt', str(u)) for u in range(50)])")


def _publish(artifacts: Path, payload: str, go_live: bool = True) -> str:
    return store.publish(artifacts, lambda d: (d / "x.txt").write_text(payload), {}, go_live)


def test_the_user_split_is_a_hash_the_same_in_every_process() -> None:
    runs = [subprocess.run([sys.executable, "-c", SPLIT_SNIPPET], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")]
    assert runs[0] == runs[1]
    assert json.loads(runs[0]) == [rollout.user_fraction("salt", str(u)) for u in range(50)]


def test_the_split_takes_its_share_of_the_users_and_a_new_salt_draws_others() -> None:
    a = rollout.Rollout("v", rollout.Mode.ab, 0.1, "salt-a", "now")
    b = rollout.Rollout("v", rollout.Mode.ab, 0.1, "salt-b", "now")
    users = [f"user-{i}" for i in range(20_000)]
    in_a = {u for u in users if a.serves(u)}
    in_b = {u for u in users if b.serves(u)}
    assert abs(len(in_a) / len(users) - 0.1) < 0.01
    assert abs(len(in_a & in_b) / len(users) - 0.01) < 0.005  # independent draws
    wider = rollout.Rollout("v", rollout.Mode.ab, 0.3, "salt-a", "now")
    assert in_a <= {u for u in users if wider.serves(u)}  # raising the share only adds users
    shadow = rollout.Rollout("v", rollout.Mode.shadow, 1.0, "salt-a", "now")
    assert not any(shadow.serves(u) for u in users[:100])  # shadow never answers a user


def test_start_promote_rollback_stop(tmp_path: Path) -> None:
    first = _publish(tmp_path, "first")
    challenger = _publish(tmp_path, "second", go_live=False)
    assert store.current_version(tmp_path) == first
    with pytest.raises(rollout.RolloutError, match="CURRENT already"):
        rollout.start(tmp_path, first, rollout.Mode.ab, 0.5)
    with pytest.raises(rollout.RolloutError, match="share"):
        rollout.start(tmp_path, challenger, rollout.Mode.ab, 0)
    started = rollout.start(tmp_path, challenger, rollout.Mode.ab, 0.25)
    assert rollout.challenger(tmp_path) == started and started.salt == challenger
    assert rollout.promote(tmp_path) == (challenger, first)
    assert store.current_version(tmp_path) == challenger
    assert store.previous_version(tmp_path) == first and rollout.challenger(tmp_path) is None
    with pytest.raises(rollout.RolloutError, match="nothing to promote"):
        rollout.promote(tmp_path)
    assert rollout.rollback(tmp_path) == (first, challenger)
    assert rollout.rollback(tmp_path) == (challenger, first)  # a rollback can be undone
    third = _publish(tmp_path, "third", go_live=False)
    rollout.start(tmp_path, third, rollout.Mode.shadow, 1.0)
    assert rollout.stop(tmp_path, "guard rail", version=first) is None  # not the running one
    assert rollout.stop(tmp_path, "by hand").version == third
    assert store.current_version(tmp_path) == challenger
    events = [entry["event"] for entry in pointers.history(tmp_path)]
    assert events == ["publish", "start", "promote", "rollback", "rollback", "start", "stop"]


def test_a_damaged_challenger_file_is_an_error_not_a_rollout(tmp_path: Path) -> None:
    _publish(tmp_path, "first")
    (tmp_path / store.CHALLENGER).write_text("{not json")
    with pytest.raises(rollout.RolloutError, match="damaged"):
        rollout.challenger(tmp_path)


def _publisher(artifacts: Path, worker: int) -> None:
    for i in range(6):
        _publish(artifacts, f"worker {worker} bundle {i}")


def _operator(artifacts: Path) -> None:
    for i in range(6):
        version = _publish(artifacts, f"challenger {i}", go_live=False)
        rollout.start(artifacts, version, rollout.Mode.shadow, 0.5)
        if i % 3 == 0:
            rollout.stop(artifacts, "test")
        else:
            rollout.promote(artifacts)
        if i % 2:
            rollout.rollback(artifacts)


def test_moves_stay_atomic_under_concurrent_publishes(tmp_path: Path) -> None:
    _publish(tmp_path, "seed")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_publisher, args=(tmp_path, w)) for w in range(3)]
    workers.append(context.Process(target=_operator, args=(tmp_path,)))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    moves = [e for e in pointers.history(tmp_path) if "current" in e]
    assert len(moves) == 1 + 3 * 6 + 4 + 3  # publishes, promotes, rollbacks
    # No lost update: every move starts from where the one before it left CURRENT.
    for before, after in itertools.pairwise(moves):
        assert after["was"] == before["current"]
    assert store.current_version(tmp_path) == moves[-1]["current"]
    assert store.previous_version(tmp_path) == moves[-1]["was"]
    assert rollout.challenger(tmp_path) is None
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and
                 p.name != pointers.LOCK]
    assert not leftovers


def test_gc_keeps_the_rollback_target_and_the_challenger(tmp_path: Path) -> None:
    old = _publish(tmp_path, "old")
    live = _publish(tmp_path, "live")  # PREVIOUS: old
    challenger = _publish(tmp_path, "challenger", go_live=False)
    rollout.start(tmp_path, challenger, rollout.Mode.shadow, 0.1)
    assert collect(tmp_path, keep=1, grace_s=0, dry_run=True) == []
    rollout.stop(tmp_path, "done")
    assert collect(tmp_path, keep=1, grace_s=0) == [challenger]
    assert store.published_versions(tmp_path) == sorted([old, live])


def test_the_cli_drives_a_rollout(tmp_path: Path) -> None:
    first = _publish(tmp_path, "first")
    second = _publish(tmp_path, "second", go_live=False)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["rollout", *args, "--artifacts", str(tmp_path)])
        assert result.exit_code == 0, result.output
        return result.stdout

    run("start", "--version", second, "--mode", "ab", "--share", "0.2")
    status = json.loads(run("status"))
    assert status["current"] == first and status["challenger"]["version"] == second
    assert status["challenger"]["mode"] == "ab" and status["challenger"]["share"] == 0.2
    assert second in run("promote")
    assert first in run("rollback")
    stopped = runner.invoke(app, ["rollout", "stop", "--artifacts", str(tmp_path)])
    assert stopped.exit_code == 2 and "no rollout in progress" in stopped.output
    missing = runner.invoke(app, ["rollout", "start", "--version", "nope",
                                  "--artifacts", str(tmp_path)])
    assert missing.exit_code == 2 and "nope" in missing.output
