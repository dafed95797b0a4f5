"""The service's side of a rollout: a shadow challenger compared right on hand-made bundles, the
ab split by user hash, guard rails that stop a challenger that raises or hangs without failing
a live request, and a promotion that swaps without a failed request."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from model import pointers, rollout, store
from model.bundle import BundleContent, load_bundle
from model.item_vectors import ItemDtype, ItemVectors
from model.rollout import Mode
from service.app import create_app
from service.settings import Settings
from training.publish import Challenger, publish

POLL_S = 0.05
CANDIDATES = 40


def _hand_made(artifacts: Path, sign: float, challenger: Challenger | None, tag: str,
               reorder: bool = False) -> str:
    """A bundle of the trained model with bias 0 and every item head equal to the first (so
    MaxSim is a dot product, linear in the item vector): `sign` -1 negates the item vectors and
    the per-item term, so every logit is negated and every probability p becomes 1 - p.
    `reorder` stores the catalogue in reverse order: the same scores under other rows."""
    trained = load_bundle(store.current_path(artifacts))
    model = copy.deepcopy(trained.model)
    with torch.no_grad():
        model.bias.zero_()
        if model.item_term is not None:
            for parameter in model.item_term.net[-1].parameters():
                parameter.mul_(sign)
    first = trained.item_vectors.dequantised()[:, :1]  # (N, 1, d)
    vectors = np.repeat(first, trained.config.item_heads, axis=1) * np.float32(sign)
    order = np.arange(len(trained.items))[::-1] if reorder else np.arange(len(trained.items))
    content = BundleContent(model, trained.user_codec, trained.item_codec, trained.users,
                            trained.items.take(order),
                            ItemVectors.encode(vectors[order], ItemDtype.float32))
    return publish(artifacts, content, parent=trained, challenger=challenger, hand_made=tag)


def _serve(artifacts: Path, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(artifacts=artifacts, reload_interval_s=POLL_S,
                                          **settings)))


def _wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(POLL_S)


def _metrics(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(client.get("/metrics").text)
            for s in family.samples}


def _mean(samples: dict, name: str, **labels: str) -> float:
    key = tuple(sorted(labels.items()))
    return samples[(f"{name}_sum", key)] / samples[(f"{name}_count", key)]


@pytest.fixture
def shadowed(artifacts_copy: Path) -> Callable[[float], tuple[TestClient, list[list[float]]]]:
    """shadowed(sign) -> a client whose live bundle is hand-made (sign +1) and whose shadow
    challenger (100 % of the requests) is the same model times `sign`, after 20 /score
    requests whose shadow jobs are done; and the live scores of those requests."""
    clients: list[TestClient] = []

    def run(sign: float, reorder: bool = False) -> tuple[TestClient, list[list[float]]]:
        _hand_made(artifacts_copy, 1.0, None, "live")
        _hand_made(artifacts_copy, sign, Challenger(Mode.shadow, 1.0), f"sign {sign}", reorder)
        client = _serve(artifacts_copy).__enter__()
        clients.append(client)
        bundle = client.app.state.reloader.scorer.bundle
        items = bundle.items.ids[:CANDIDATES].tolist()
        live = []
        for user in bundle.users.ids[:20].tolist():
            response = client.post("/score", json={"user_id": user, "candidate_ids": items})
            assert response.status_code == 200, response.text
            live.append(response.json()["scores"])
        client.app.state.reloader.serving.challenger.shadow.join_queue()
        return client, live

    yield run
    for client in clients:
        client.__exit__(None, None, None)


@pytest.mark.parametrize("reorder", [False, True], ids=["same rows", "catalogue reordered"])
def test_shadow_of_a_copy_agrees_everywhere(shadowed: Callable, reorder: bool) -> None:
    client, _ = shadowed(1.0, reorder)
    samples = _metrics(client)
    assert samples[("inttower_shadow_total", (("outcome", "compared"),))] == 20
    assert _mean(samples, "inttower_shadow_topk_overlap", k="10") == 1
    assert _mean(samples, "inttower_shadow_topk_overlap", k="50") == 1
    assert _mean(samples, "inttower_shadow_rank_correlation") == pytest.approx(1)
    assert _mean(samples, "inttower_shadow_score_shift") == 0
    body = client.get("/model").json()
    assert body["challenger"]["mode"] == "shadow" and body["challenger"]["memory_bytes"] > 0


def test_shadow_of_the_reversed_model_finds_it_reversed(shadowed: Callable) -> None:
    client, live = shadowed(-1.0)
    samples = _metrics(client)
    assert samples[("inttower_shadow_total", (("outcome", "compared"),))] == 20
    assert _mean(samples, "inttower_shadow_topk_overlap", k="10") == 0
    # k=50 over 40 candidates is all of them: the same set, whatever the order.
    assert _mean(samples, "inttower_shadow_topk_overlap", k="50") == 1
    assert _mean(samples, "inttower_shadow_rank_correlation") == pytest.approx(-1, abs=1e-3)
    expected = np.mean([np.mean(1 - 2 * np.asarray(p, np.float64)) for p in live])
    assert _mean(samples, "inttower_shadow_score_shift") == pytest.approx(expected, abs=1e-5)
    # Every response came from the live bundle.
    assert samples[("inttower_request_seconds_count", (
        ("candidates", "<=100"), ("role", "live"),
        ("route", "score"), ("version", store.current_version(
            client.app.state.settings.artifacts))))] == 20


@pytest.fixture
def ab(artifacts_copy: Path) -> Iterator[tuple[Path, str, str]]:
    """The trained bundle live, and a hand-made copy as the ab challenger of half the users."""
    live = store.current_version(artifacts_copy)
    challenger = _hand_made(artifacts_copy, 1.0, Challenger(Mode.ab, 0.5), "ab")
    yield artifacts_copy, live, challenger


def test_ab_serves_the_hashed_share_of_users_the_same_in_every_process(ab: tuple) -> None:
    artifacts, live, challenger = ab
    running = rollout.challenger(artifacts)
    users = [str(u) for u in range(60)] + ["stranger"]
    answers = []
    for _ in range(2):  # two apps: two workers or replicas
        with _serve(artifacts) as client:
            items = client.app.state.reloader.scorer.bundle.items.ids[:5].tolist()
            answers.append([client.post("/score", json={"user_id": u, "candidate_ids": items}
                                        ).json()["model_version"] for u in users])
    assert answers[0] == answers[1]
    assert answers[0] == [challenger if running.serves(u) else live for u in users]
    assert 10 < answers[0].count(challenger) < 50


def _break(client: TestClient, fault: Callable[..., Any]) -> None:
    """Make the held challenger's Scorer run `fault` instead of scoring (fault injection): its
    score (ab) and logits (shadow), attributes of the challenger's own object only."""
    held = client.app.state.reloader.serving.challenger
    held.scorer.score = held.scorer.logits = fault


@pytest.mark.parametrize("fault", ["raises", "hangs"])
def test_a_failing_ab_challenger_fails_no_request_and_stops_the_rollout(
        ab: tuple, fault: str) -> None:
    artifacts, live, _ = ab
    running = rollout.challenger(artifacts)
    release = threading.Event()

    def broken(*args: Any, **kwargs: Any) -> None:
        if fault == "hangs":
            release.wait(30)
        raise RuntimeError("broken challenger")

    # A raising challenger gets all the time a loaded machine may need (its failures must count
    # as errors, not timeouts); a hanging one is cut at 0.3 s.
    timeout_s = 0.3 if fault == "hangs" else 30.0
    with _serve(artifacts, rollout_max_errors=3, rollout_timeout_s=timeout_s) as client:
        _break(client, broken)
        items = client.app.state.reloader.scorer.bundle.items.ids[:5].tolist()
        theirs = [u for u in map(str, range(100)) if running.serves(u)][:5]
        for user in theirs:
            response = client.post("/score", json={"user_id": user, "candidate_ids": items})
            assert response.status_code == 200 and response.json()["model_version"] == live
        _wait_for(lambda: rollout.challenger(artifacts) is None)
        assert client.app.state.reloader.serving.challenger is None
        stop = pointers.history(artifacts)[-1]
        reason = "timeout" if fault == "hangs" else "error"
        assert stop["event"] == "stop" and stop["reason"].startswith(reason)
        samples = _metrics(client)
        assert samples[("inttower_rollout_stops_total", (("reason", reason),))] == 1
        release.set()


def test_a_hanging_shadow_challenger_is_stopped_while_live_requests_flow(
        artifacts_copy: Path) -> None:
    _hand_made(artifacts_copy, 1.0, Challenger(Mode.shadow, 1.0), "shadow")
    release = threading.Event()
    with _serve(artifacts_copy, rollout_timeout_s=0.3, shadow_queue_size=2) as client:
        _break(client, lambda *args, **kwargs: release.wait(30))
        items = client.app.state.reloader.scorer.bundle.items.ids[:5].tolist()
        started = time.monotonic()
        for _ in range(20):  # the first is taken by the hung thread, 2 wait, the rest drop
            response = client.post("/score", json={"user_id": "u1", "candidate_ids": items})
            assert response.status_code == 200
        assert time.monotonic() - started < 5
        _wait_for(lambda: rollout.challenger(artifacts_copy) is None)
        samples = _metrics(client)
        assert samples[("inttower_shadow_total", (("outcome", "dropped"),))] >= 1
        assert samples[("inttower_rollout_stops_total", (("reason", "timeout"),))] == 1
        release.set()


def test_promotion_swaps_to_the_held_challenger_without_a_failed_request(
        artifacts_copy: Path) -> None:
    challenger = _hand_made(artifacts_copy, 1.0, Challenger(Mode.shadow, 0.5), "next")
    with _serve(artifacts_copy) as client:
        held = client.app.state.reloader.serving.challenger
        assert held is not None and held.scorer.version == challenger
        items = held.scorer.bundle.items.ids[:20].tolist()
        statuses: list[int] = []
        done = threading.Event()

        def traffic() -> None:
            while not done.is_set():
                statuses.append(client.post("/score", json={
                    "user_id": "u1", "candidate_ids": items}).status_code)

        thread = threading.Thread(target=traffic)
        thread.start()
        rollout.promote(artifacts_copy)
        _wait_for(lambda: client.get("/model").json()["version"] == challenger)
        done.set()
        thread.join()
        assert set(statuses) == {200} and len(statuses) > 1
        assert client.app.state.reloader.scorer is held.scorer  # not loaded a second time
        assert client.get("/model").json()["challenger"] is None
