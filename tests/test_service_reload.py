"""Hot swaps: a new bundle goes live without a failed request; a bad one is refused, the old one
keeps serving; /readyz waits for the first bundle; /admin/reload forces a check."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from model import store
from model.bundle import ITEM_VECTORS, load_bundle
from service import reloader, repeat_log
from service.app import create_app
from service.settings import Settings
from training.export import read_items_update, refresh_items
from training.trainer import TrainResult

log = logging.getLogger(__name__)

POLL_S = 0.05


def _serve(artifacts: Path, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(artifacts=artifacts, reload_interval_s=POLL_S,
                                          **settings)))


def _wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _metric(client: TestClient, name: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise KeyError(name)


def _score(client: TestClient) -> Any:
    return client.post("/score", json={"user_id": "u1", "candidate_ids": ["i1", "i2", "i3"]})


def _live(client: TestClient) -> str:
    return client.get("/model").json()["version"]


@pytest.fixture
def publish_new(synth_schema: Path) -> Callable[[Path], str]:
    """publish_new(artifacts) -> the version of a new child bundle, with one item's price changed:
    new content, hence a new version even within the second its parent was published in."""

    def publish(artifacts: Path) -> str:
        items = read_items_update(artifacts, synth_schema.parent / "items.parquet")
        items.loc[items.index[0], "price"] = "12345.6"  # raw values, as read from the file
        return refresh_items(artifacts, items, progress=False)

    return publish


def _write_current(artifacts: Path, content: bytes) -> None:
    """Replace CURRENT the way a careless writer would: no verification (store.set_current has
    it), whatever the content."""
    tmp = artifacts / ".CURRENT.test"
    tmp.write_bytes(content)
    os.replace(tmp, artifacts / store.CURRENT)


def _point_current(artifacts: Path, version: str) -> None:
    _write_current(artifacts, f"{version}\n".encode())


def test_readyz_answers_503_until_a_bundle_is_published_then_serves_it(
    trained: TrainResult, trained_artifacts: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with _serve(empty) as client:
        assert client.get("/healthz").status_code == 200
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.headers["retry-after"]
        assert _score(client).status_code == 503
        assert client.get("/model").status_code == 503

        shutil.copytree(trained_artifacts / store.BUNDLES, empty / store.BUNDLES)
        store.set_current(empty, trained.version)
        _wait_for(lambda: client.get("/readyz").status_code == 200)
        assert client.get("/readyz").json()["model_version"] == trained.version
        assert _score(client).json()["model_version"] == trained.version


def test_a_newly_published_bundle_goes_live_within_a_few_polls(
    artifacts_copy: Path, publish_new: Callable[[Path], str]
) -> None:
    with _serve(artifacts_copy) as client:
        old = _live(client)
        new = publish_new(artifacts_copy)
        _wait_for(lambda: _live(client) == new)
        assert client.get("/model").json()["parent"] == old
        assert _score(client).json()["model_version"] == new
        assert _metric(client, "inttower_reloads_total") == 2


def _tamper(folder: Path) -> None:
    with open(folder / ITEM_VECTORS, "ab") as fh:
        fh.write(b"\0")


def _half_written(folder: Path) -> None:
    (folder / store.MANIFEST).unlink()


@pytest.mark.parametrize(("name", "damage"), [
    (None, _tamper),  # a file no longer matches its manifest hash
    (None, _half_written),  # no manifest: an incomplete bundle
    ("20991231T235959Z-0123456789", None),  # a copy under another version's name
])
def test_a_bad_bundle_is_refused_and_the_old_one_keeps_serving(
    artifacts_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    publish_new: Callable[[Path], str], name: str | None, damage: Callable[[Path], None] | None,
) -> None:
    staging = shutil.copytree(artifacts_copy, tmp_path / "staging")
    built = publish_new(staging)  # a good bundle, published elsewhere
    name = name or built
    with _serve(artifacts_copy) as client:
        old = _live(client)
        target = shutil.copytree(store.bundle_path(staging, built),
                                 store.bundle_path(artifacts_copy, name))
        if damage is not None:
            damage(target)
        _point_current(artifacts_copy, name)
        _wait_for(lambda: _metric(client, "inttower_reload_failures_total") == 1)

        assert client.get("/readyz").status_code == 200
        assert _live(client) == old
        assert _score(client).json()["model_version"] == old
        assert f"bundle {name} refused: " in caplog.text and f"still serving {old}" in caplog.text
        time.sleep(10 * POLL_S)  # a refused version is not retried on every poll
        assert _metric(client, "inttower_reload_failures_total") == 1


def test_a_forced_reload_retries_a_refused_bundle_once_it_is_repaired(
    artifacts_copy: Path, tmp_path: Path, publish_new: Callable[[Path], str], admin_token: str
) -> None:
    staging = shutil.copytree(artifacts_copy, tmp_path / "staging")
    built = publish_new(staging)
    with _serve(artifacts_copy, admin_token=admin_token) as client:
        old = _live(client)
        target = shutil.copytree(store.bundle_path(staging, built),
                                 store.bundle_path(artifacts_copy, built))
        _tamper(target)
        _point_current(artifacts_copy, built)
        _wait_for(lambda: _metric(client, "inttower_reload_failures_total") == 1)
        refused = client.post("/admin/reload", headers={"x-admin-token": admin_token})
        assert refused.status_code == 409
        assert refused.json()["detail"].startswith(f"bundle {built} refused")
        assert f"bundles/{built}: item_vectors.npy" in refused.json()["detail"]
        assert str(artifacts_copy) not in refused.json()["detail"]  # relative to the store

        shutil.copy2(store.bundle_path(staging, built) / ITEM_VECTORS, target / ITEM_VECTORS)
        response = client.post("/admin/reload", headers={"x-admin-token": admin_token})
        assert response.status_code == 200
        assert response.json() == {"model_version": built, "previous_version": old,
                                   "reloaded": True}
        assert _live(client) == built


def test_no_request_fails_while_a_new_bundle_goes_live(
    artifacts_copy: Path, publish_new: Callable[[Path], str]
) -> None:
    statuses: list[int] = []
    versions: list[str] = []
    stop = threading.Event()

    def send_continuously(client: TestClient) -> None:
        while not stop.is_set():
            response = _score(client)
            statuses.append(response.status_code)
            versions.append(response.json().get("model_version"))

    with _serve(artifacts_copy) as client:
        old = _live(client)
        sender = threading.Thread(target=send_continuously, args=(client,))
        sender.start()
        try:
            _wait_for(lambda: len(statuses) >= 20)
            new = publish_new(artifacts_copy)
            _wait_for(lambda: versions[-1] == new)
            sent = len(statuses)
            _wait_for(lambda: len(statuses) >= sent + 20)
        finally:
            stop.set()
            sender.join()

    assert set(statuses) == {200}
    assert [(a, b) for a, b in pairwise(versions) if a != b] == [(old, new)]
    log.info("%d requests, all 200: %d answered by %s, then %d by %s", len(statuses),
             versions.index(new), old, len(versions) - versions.index(new), new)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "CURRENT is empty"),
    (b"\xff\xfe20261203", "CURRENT is not UTF-8 text"),
    (None, "Is a directory"),  # unreadable: the OSError of reading it
])
def test_every_failed_check_of_current_is_counted_and_a_repeat_logged_once(
    artifacts_copy: Path, caplog: pytest.LogCaptureFixture, content: bytes | None, reason: str
) -> None:
    with _serve(artifacts_copy) as client:
        old = _live(client)
        if content is None:
            (artifacts_copy / store.CURRENT).unlink()
            (artifacts_copy / store.CURRENT).mkdir()
        else:
            _write_current(artifacts_copy, content)
        _wait_for(lambda: _metric(client, "inttower_reload_failures_total") >= 5)
        assert _live(client) == old
    lines = [r for r in caplog.records if reason in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None  # one line, no traceback per poll


def test_a_bundle_refused_for_an_io_error_is_retried_with_backoff(
    artifacts_copy: Path, publish_new: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = iter([PermissionError("permission denied: item_vectors.npy")] * 2)

    def flaky_load(path: Path, device: str) -> Any:
        if (failure := next(failures, None)) is not None:
            raise failure
        return load_bundle(path, device)

    with _serve(artifacts_copy) as client:
        monkeypatch.setattr(reloader, "load_bundle", flaky_load)
        monkeypatch.setattr(reloader, "RETRY_FIRST_S", 0.2)
        new = publish_new(artifacts_copy)
        _wait_for(lambda: _live(client) == new, timeout_s=10)
        assert _metric(client, "inttower_reload_failures_total") == 2


def test_model_and_a_gauge_say_when_the_live_bundle_is_gone_from_disk(
        artifacts_copy: Path) -> None:
    with _serve(artifacts_copy) as client:
        live = _live(client)
        assert client.get("/model").json()["on_disk"] is True
        assert _metric(client, "inttower_live_bundle_on_disk") == 1
        shutil.rmtree(store.bundle_path(artifacts_copy, live))
        _wait_for(lambda: client.get("/model").json()["on_disk"] is False)
        assert _metric(client, "inttower_live_bundle_on_disk") == 0
        assert _score(client).json()["model_version"] == live  # still served from memory


def test_a_repeating_message_is_logged_once_a_minute_with_the_count_between(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(repeat_log.time, "monotonic", lambda: now[0])
    limited = repeat_log.RepeatLimitedLog(logging.getLogger("test.repeats"), logging.WARNING)
    for second in range(0, 125, 5):  # every 5 s for two minutes
        now[0] = float(second)
        limited.report("refused a connection")
    limited.report("something else")
    lines = [r.getMessage() for r in caplog.records if r.name == "test.repeats"]
    assert lines == ["refused a connection",
                     "refused a connection (and 11 times since the last line)",
                     "refused a connection (and 11 times since the last line)",
                     "something else"]
