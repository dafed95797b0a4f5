"""End to end: `inttower serve` as a real process on a free port; poll /readyz, score, stop."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from training.trainer import TrainResult

pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(artifacts: Path, log_path: Path, *options: str) -> Iterator[tuple[str, Path]]:
    """`inttower serve` on a free port until ready; yields its base URL. Stopped with SIGTERM on
    exit, which must end it cleanly."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "inttower.cli", "serve", "--artifacts", str(artifacts),
             "--port", str(port), "--no-access-log", *options],
            stdout=log, stderr=subprocess.STDOUT,
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
    # uvicorn re-raises the signal after its graceful shutdown, so -SIGTERM is a clean exit too.
    assert code in (0, -signal.SIGTERM), log_path.read_text()
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
