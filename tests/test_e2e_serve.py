"""End to end: `inttower serve` as a real process on a free port; poll /readyz, score, stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from inttower.cli import app
from model import store
from model.bundle import ITEM_IDS
from model.rollout import Mode
from training.export import refresh_items
from training.publish import Challenger
from training.trainer import TrainResult

pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(artifacts: Path, log_path: Path, *options: str,
             env: dict[str, str] | None = None) -> Iterator[str]:
    """`inttower serve` on a free port until ready; yields its base URL. Stopped with SIGTERM on
    exit, which must end it cleanly (status 0). `env`: INTTOWER_* settings."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "inttower.cli", "serve", "--artifacts", str(artifacts),
             "--port", str(port), "--no-access-log", *options],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert server.poll() is None, f"the server exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"never ready:\n{log_path.read_text()}"
            try:
                if httpx2.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass  # not listening yet
            time.sleep(0.2)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)  # uvicorn's graceful shutdown: the lifespan ends
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0, log_path.read_text()  # a drained shutdown is a clean exit
    assert "Application shutdown complete" in log_path.read_text()


def test_the_cli_serves_the_published_bundle(trained: TrainResult, trained_artifacts: Path,
                                             tmp_path: Path) -> None:
    with _serving(trained_artifacts, tmp_path / "server.log") as base:
        items = [str(i) for i in trained.data.items.ids[:3]]
        response = httpx2.post(f"{base}/score", timeout=10,
                               json={"user_id": str(trained.data.users.ids[0]),
                                     "candidate_ids": items})
        assert response.status_code == 200
        body = response.json()
        assert body["model_version"] == trained.version
        assert body["item_ids"] == items
        assert len(body["scores"]) == 3


def test_two_workers_report_the_requests_of_both(trained: TrainResult, trained_artifacts: Path,
                                                  tmp_path: Path) -> None:
    request = {"user_id": str(trained.data.users.ids[0]),
               "candidate_ids": [str(i) for i in trained.data.items.ids[:5]]}
    with _serving(trained_artifacts, tmp_path / "server.log", "--workers", "2") as base:
        for _ in range(100):  # a connection each: the kernel spreads them over both workers
            assert httpx2.post(f"{base}/score", json=request, timeout=10).status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(
            httpx2.get(f"{base}/metrics", timeout=10).text)}
    scored = sum(s.value for s in families["inttower_request_seconds"].samples
                 if s.name == "inttower_request_seconds_count" and s.labels["route"] == "score")
    assert scored == 100
    served = {s.labels["version"]: s.value for s in families["inttower_model_info"].samples}
    assert served == {trained.version: 1}
    assert sum(s.value for s in families["inttower_reloads"].samples
               if s.name == "inttower_reloads_total") == 2  # one first load per worker


# In a fresh interpreter: prometheus_client picks multiprocess mode from the environment at import.
_STOPPING_WORKER = """
from pathlib import Path
from service.metrics import Metrics
metrics = Metrics()
metrics.bundle_loaded("v1", 0.0)
metrics.reloads.inc()
live = lambda: sorted(p.name.split("_")[0] + "_" + p.name.split("_")[1]
                      for p in Path.cwd().glob("*.db"))
print(live())
metrics.close()
print(live())
"""


def test_a_stopping_worker_takes_its_gauges_out_of_the_multiprocess_metrics(
        tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[1])}
    run = subprocess.run([sys.executable, "-c", _STOPPING_WORKER], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)
    before, after = run.stdout.splitlines()
    assert "gauge_livemax" in before and "counter" in before
    assert "gauge_livemax" not in after and "counter" in after  # counts stay summed


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _status(sock: socket.socket) -> bytes:
    """The status line of the response on `sock` (b"" if the server closed without one)."""
    return sock.makefile("rb").readline().strip()


def test_oversized_headers_answer_431_and_the_server_serves_on(
        trained: TrainResult, trained_artifacts: Path, tmp_path: Path) -> None:
    with _serving(trained_artifacts, tmp_path / "server.log") as base:
        with _connect(base) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000
                         + b"\r\n\r\n")
            assert _status(sock) == b"HTTP/1.1 431 Request Header Fields Too Large"
        assert httpx2.get(f"{base}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("partial", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ",  # a header never finished
    b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"user_id\"",  # short
])
def test_an_unfinished_request_is_closed_after_the_read_timeout(
        trained: TrainResult, trained_artifacts: Path, tmp_path: Path, partial: bytes) -> None:
    with _serving(trained_artifacts, tmp_path / "server.log",
                  env={"INTTOWER_READ_TIMEOUT_S": "1"}) as base, _connect(base) as sock:
        sock.sendall(partial)
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed, nothing answered
        assert time.monotonic() - started < 5


def test_connections_beyond_the_bound_answer_503_at_once(
        trained: TrainResult, trained_artifacts: Path, tmp_path: Path) -> None:
    with _serving(trained_artifacts, tmp_path / "server.log",
                  env={"INTTOWER_MAX_CONNECTIONS": "3"}) as base:
        idle = [_connect(base) for _ in range(3)]
        time.sleep(0.5)  # accepted by the worker
        with _connect(base) as extra:
            assert _status(extra) == b"HTTP/1.1 503 Service Unavailable"
        for sock in idle:
            sock.close()
        time.sleep(0.5)
        assert httpx2.get(f"{base}/healthz", timeout=10).status_code == 200


def test_sigterm_lets_a_received_request_finish_and_exits_cleanly(
        trained: TrainResult, trained_artifacts: Path, tmp_path: Path) -> None:
    body = orjson.dumps({"user_id": str(trained.data.users.ids[0]),
                         "candidate_ids": [str(i) for i in trained.data.items.ids[:3]]})
    log_path = tmp_path / "server.log"
    with _serving(trained_artifacts, log_path) as base, _connect(base) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.5)  # received in part: the request is in the app, awaiting its body
        server_pid = int(log_path.read_text().split("Started server process [")[1].split("]")[0])
        os.kill(server_pid, signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(OSError):  # no new connections while draining
            _connect(base).close()
        sock.sendall(body[10:])
        response = sock.makefile("rb").read()  # until the server closes: no keep-alive
        assert response.startswith(b"HTTP/1.1 200 OK") and b"model_version" in response


def test_a_shadow_rollout_over_two_workers_is_compared_then_promoted(
        artifacts_copy: Path, tmp_path: Path) -> None:
    challenger = refresh_items(artifacts_copy, progress=False,
                               challenger=Challenger(Mode.shadow, 1.0))
    env = {"INTTOWER_RELOAD_INTERVAL_S": "0.2"}
    with _serving(artifacts_copy, tmp_path / "server.log", "--workers", "2", env=env) as base:
        model = httpx2.get(f"{base}/model", timeout=10).json()
        assert model["challenger"]["version"] == challenger
        items = [str(i) for i in model_items(artifacts_copy)[:30]]
        for user in range(20):
            response = httpx2.post(f"{base}/score", timeout=10,
                                   json={"user_id": f"u{user}", "candidate_ids": items})
            assert response.status_code == 200
            assert response.json()["model_version"] == model["version"]  # shadow: live answers
        runner = CliRunner()
        deadline = time.monotonic() + 30
        while True:  # the shadow threads finish after the responses
            result = runner.invoke(app, ["rollout", "status", "--artifacts", str(artifacts_copy),
                                         "--url", base])
            assert result.exit_code == 0, result.output
            view = json.loads(result.stdout)["service"]
            if view.get("inttower_shadow_total{outcome=compared}") == 20:
                break
            assert time.monotonic() < deadline, view
            time.sleep(0.2)
        assert view["challenger"] == challenger
        # the same weights and items: the challenger agrees with the live bundle
        assert view["top-k overlap (mean) [k=10]"]["mean"] == 1
        assert view["rank correlation (mean)"]["mean"] > 0.99
        promoted = runner.invoke(app, ["rollout", "promote", "--artifacts", str(artifacts_copy)])
        assert promoted.exit_code == 0, promoted.output
        deadline = time.monotonic() + 30
        while httpx2.get(f"{base}/model", timeout=10).json()["version"] != challenger:
            assert time.monotonic() < deadline, "never promoted"
            time.sleep(0.2)


def model_items(artifacts: Path) -> list[str]:
    return json.loads((store.current_path(artifacts) / ITEM_IDS).read_text())
