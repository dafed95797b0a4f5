"""`inttower refresh-users`: the stored users' state recomputed from a newer log, no retraining."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from inttower.cli import app
from model import store
from model.bundle import load_current
from service.app import create_app
from service.settings import Settings
from training.refresh_users import read_interaction_log, refresh_users
from training.split import SplitKind, split_rows
from training.tables import DataError
from training.trainer import TrainResult


def _log(synth_schema: Path) -> pd.DataFrame:
    return pd.read_parquet(synth_schema.parent / "interactions.parquet")


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path


def test_the_training_rows_give_back_the_stored_rows(
        trained: TrainResult, artifacts_copy: Path, synth_schema: Path, tmp_path: Path) -> None:
    # The bundle stores every user's state after all its train events: the same log, the same rows.
    log = _log(synth_schema)  # the toy model's split: random, seed 1
    train_log = log.iloc[split_rows(log["timestamp"].to_numpy(), SplitKind.random, 1)["train"]]
    parent = load_current(artifacts_copy)
    version = refresh_users(artifacts_copy,
                            read_interaction_log(artifacts_copy, _write(train_log,
                                                                        tmp_path / "train.pq")))
    child = load_current(artifacts_copy)
    assert child.version == version and child.manifest["parent"] == parent.version
    np.testing.assert_array_equal(child.users.ids, parent.users.ids)
    np.testing.assert_allclose(child.users.num, parent.users.num, atol=1e-6)
    for refreshed, stored in zip(child.users.seq, parent.users.seq, strict=True):
        np.testing.assert_array_equal(refreshed, stored)
    np.testing.assert_array_equal(child.item_vectors.values, parent.item_vectors.values)
    np.testing.assert_array_equal(child.item_vectors.scales, parent.item_vectors.scales)


def test_a_newer_log_updates_histories_and_rates_and_adds_new_users(
        trained: TrainResult, artifacts_copy: Path, synth_schema: Path, tmp_path: Path) -> None:
    parent = load_current(artifacts_copy)
    items = [str(i) for i in parent.items.ids[:3]]
    newer = pd.concat([_log(synth_schema), pd.DataFrame({
        "user_id": ["newbie"] * 3 + [str(parent.users.ids[0])] * 2,
        "item_id": [items[0], items[1], "an-unseen-item", items[2], items[1]],
        "timestamp": np.array([1, 2, 3, 4, 5]) + 2_000_000_000,
        "label": [1.0, 0.0, 1.0, 1.0, 1.0]})])
    refresh_users(artifacts_copy, read_interaction_log(artifacts_copy,
                                                       _write(newer, tmp_path / "newer.pq")))
    child, codec = load_current(artifacts_copy), parent.user_codec
    assert codec.history is not None and codec.label_stat is not None
    token = dict(zip(parent.items.ids, parent.items.cat[:, 0], strict=True))
    rows = {u: r for r, u in enumerate(child.users.ids)}
    # An oracle by hand: each user's positives, most recent first, over the whole log.
    for user in (str(parent.users.ids[0]), str(parent.users.ids[7]), "newbie"):
        events = newer[newer["user_id"] == user].sort_values("timestamp", kind="stable")
        recent = events[events["label"] == 1]["item_id"][::-1][: codec.history.max_len]
        expected = [token.get(i, 1) for i in recent]
        history = child.users.seq[-1][rows[user]]
        np.testing.assert_array_equal(history[: len(expected)], expected)
        assert not history[len(expected):].any()
        np.testing.assert_allclose(
            child.users.num[rows[user], -2:],
            codec.label_stat.columns(np.array([len(events)]), np.array([events["label"].sum()]))[0],
            atol=1e-6)
    assert child.users.cat[rows["newbie"], 0] == 1  # an id the model never saw: OOV
    assert len(child.users) == len(parent.users) + 1
    assert child.manifest["users_refreshed"]["users_added"] == 1


@pytest.mark.parametrize("damage", ["no timestamp column", "no such columns", "empty"])
def test_a_bad_log_is_refused_and_nothing_is_published(
        artifacts_copy: Path, synth_schema: Path, tmp_path: Path, damage: str) -> None:
    log = _log(synth_schema)
    bad = {"no timestamp column": log.drop(columns="timestamp"),
           "no such columns": log.rename(columns={"user_id": "uid", "label": "clicked"}),
           "empty": log.iloc[:0]}[damage]
    path = _write(bad, tmp_path / "bad.parquet")
    before = (store.current_version(artifacts_copy), sorted((artifacts_copy / "bundles").iterdir()))
    with pytest.raises(DataError):
        refresh_users(artifacts_copy, read_interaction_log(artifacts_copy, path))
    result = CliRunner().invoke(app, ["refresh-users", "--artifacts", str(artifacts_copy),
                                      "--interactions", str(path)])
    assert result.exit_code == 2 and "error:" in result.output
    after = (store.current_version(artifacts_copy), sorted((artifacts_copy / "bundles").iterdir()))
    assert after == before


def test_the_running_api_swaps_to_the_refreshed_users_without_a_failed_request(
        trained: TrainResult, artifacts_copy: Path, synth_schema: Path, tmp_path: Path) -> None:
    user = str(trained.data.users.ids[2])
    body = {"user_id": user, "candidate_ids": [str(i) for i in trained.data.items.ids[:5]]}
    latest = pd.DataFrame({"user_id": [user] * 3,
                           "item_id": [str(i) for i in trained.data.items.ids[10:13]],
                           "timestamp": [2_000_000_001, 2_000_000_002, 2_000_000_003],
                           "label": [1.0, 1.0, 1.0]})
    path = _write(pd.concat([_log(synth_schema), latest]), tmp_path / "log.parquet")
    statuses, answers = [], []
    stop = threading.Event()
    settings = Settings(artifacts=artifacts_copy, reload_interval_s=0.05)
    with TestClient(create_app(settings)) as client:
        def send() -> None:
            while not stop.is_set():
                response = client.post("/score", json=body)
                statuses.append(response.status_code)
                answers.append(response.json())

        sender = threading.Thread(target=send)
        sender.start()
        try:
            result = CliRunner().invoke(app, ["refresh-users", "--artifacts", str(artifacts_copy),
                                              "--interactions", str(path)])
            assert result.exit_code == 0, result.output
            new = result.output.strip().splitlines()[-1]
            deadline = time.monotonic() + 60
            while not answers or answers[-1]["model_version"] != new:
                assert time.monotonic() < deadline, "the refreshed bundle never went live"
                time.sleep(0.02)
        finally:
            stop.set()
            sender.join()
    assert set(statuses) == {200}
    old = [a["scores"] for a in answers if a["model_version"] != new]
    assert old and answers[-1]["scores"] != old[-1]  # the user's fresh history moved the scores


def test_a_log_that_looks_like_a_delta_is_warned_about(
        trained: TrainResult, artifacts_copy: Path, synth_schema: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    user = str(trained.data.users.ids[0])  # a user with train events: the delta holds one
    delta = pd.DataFrame({"user_id": [user], "item_id": [str(trained.data.items.ids[0])],
                          "timestamp": [2_000_000_000], "label": [1.0]})
    with caplog.at_level("WARNING", logger="training.refresh_users"):
        refresh_users(artifacts_copy, read_interaction_log(artifacts_copy,
                                                           _write(delta, tmp_path / "delta.pq")))
    assert "1 users have fewer events in the log" in caplog.text
