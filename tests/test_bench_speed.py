"""The speed benchmarks run end to end at toy size and write their results; the floor answers.

Seconds-long smoke runs: they check wiring and the documents, not speed (no timed assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bench.speed import load
from bench.speed.floor import create_floor_app, create_minimal_app
from bench.speed.kernel import KernelConfig, run_kernel
from bench.speed.paths import paths_goals
from bench.speed.report import write_results
from bench.speed.serve import run_serve
from bench.speed.serve_config import ServeConfig
from bench.speed.train import TrainBenchConfig, run_train, taobao_like
from inttower.cli import app
from training.trainer import TrainResult


def test_the_floor_parses_a_score_request_and_answers_one_float_per_candidate() -> None:
    with TestClient(create_floor_app()) as client:
        body = client.post("/score", json={"user_id": "u", "candidate_ids": ["a", 7, "c"]}).json()
        assert len(body["scores"]) == 3 and all(0 <= s < 1 for s in body["scores"])
        refused = client.post("/score", json={"user_id": "u", "candidate_ids": [1.5]})
        assert refused.status_code == 422  # the same parsing as /score, errors included


def test_the_minimal_floor_echoes_the_candidate_ids_with_one_float_each_unvalidated() -> None:
    with TestClient(create_minimal_app()) as client:
        body = client.post("/score", json={"user_id": "u", "candidate_ids": ["a", 7, 1.5]}).json()
        assert body["item_ids"] == ["a", 7, 1.5]  # no validation: whatever was sent
        assert len(body["scores"]) == 3 and all(0 <= s < 1 for s in body["scores"])
        assert client.get("/readyz").json() == {"status": "ready"}


def test_the_paths_goals_are_judged_on_the_string_and_integer_rows_they_name() -> None:
    def row(path: str, n: int, connections: int, p50: float, ratio: float,
            cpu: float = 1.0) -> dict[str, object]:
        return {"path": path, "item_dtype": "int8", "candidates": n, "connections": connections,
                "service": {"p50_ms": p50},
                "service_vs_minimal": {"per_s": ratio, "cpu_ms_per_request": cpu}}

    rows = [row("main", 1_000, 1, 0.5, 0.7), row("main", 1_000, 16, 4.0, 0.5, cpu=1.7),
            row("main", 10_000, 1, 2.1, 0.2), row("integers", 10_000, 1, 1.4, 0.3),
            row("float32", 1_000, 1, 9.0, 0.1), row("digits", 10_000, 1, 9.0, 0.1)]
    goals = {(goal.split(",")[0], goal.split(",")[-1].strip()): (target, value, met)
             for goal, target, value, met, _ in paths_goals({"rows": rows})}
    assert goals == {
        ("/score N=1000 req/s vs the minimal floor's", "string ids"): (">= 0.55x", 0.5, False),
        ("/score N=1000 server CPU per request vs the minimal floor's", "string ids"):
            ("<= 1.8x", 1.7, True),
        ("/score N=1000 p50", "string ids"): ("<= 0.6 ms", 0.5, True),
        ("/score N=10000 p50", "string ids"): ("<= 2 ms", 2.1, False),
        ("/score N=10000 p50", "JSON integers"): ("<= 1.5 ms", 1.4, True)}


def test_a_paths_cell_that_is_not_two_integers_is_refused_before_anything_runs(
        tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "serve", "--work", str(tmp_path),
                                      "--paths-cell", "1000x16"])
    assert result.exit_code == 2 and "N:CONNECTIONS" in result.output
    assert not any(tmp_path.iterdir())


def test_the_kernel_benchmark_writes_ratios_against_the_gather(tmp_path: Path) -> None:
    doc = run_kernel(KernelConfig(items=2_000, candidates=(50,), rounds=2, calls=3))
    json_path, markdown_path = write_results(doc, tmp_path)
    row = json.loads(json_path.read_text())["kernel"][0]
    assert {"gather_us", "fused_us", "torch_us", "fused_vs_gather", "torch_vs_gather"} <= set(row)
    assert "fused / gather" in markdown_path.read_text()
    assert [g["goal"].split()[3] for g in doc["goals"]] == ["N=50"]


def test_the_serve_benchmark_drives_the_cli_server_and_both_floors(
    trained: TrainResult, trained_artifacts: Path, synth_schema: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load.shutil, "which", lambda name: None)  # the Python load generator
    config = ServeConfig(work=tmp_path / "work", artifacts=trained_artifacts, interactions=3_000,
                         candidates=(20,), seconds=0.5, repeats=1, workers=1, connections=2,
                         paths_cells=((30, 2),), recommend_items=0, scale_items=0,
                         train_schema=synth_schema, train_steps=2)
    doc = run_serve(config)
    json_path, markdown_path = write_results(doc, tmp_path / "out")
    assert json_path.name == "serve-cpu.json"
    saved = json.loads(json_path.read_text())
    assert saved["load_generator"] == "python"
    assert [(r["candidates"], r["connections"]) for r in saved["score"]] == [(20, 1), (20, 2)]
    for row in saved["score"]:
        for side in ("service", "floor"):
            assert row[side]["requests"] > 0 and row[side]["cpu_ms_per_request"] > 0
    online = saved["online"]  # the toy bundle has a history field: both user paths measured
    assert online["cached"]["requests"] > 0 and online["online"]["requests"] > 0
    assert any(g["goal"].startswith("/score N=1000 p50, a 20-item") for g in saved["goals"])
    paths = saved["paths"]["rows"]  # one worker each: every path against both floors
    assert [(r["path"], r["ids"], r["item_dtype"]) for r in paths] == [
        ("main", "strings", "int8"), ("float32", "strings", "float32"),
        ("integers", "JSON integers", "int8"), ("digits", "digit strings", "int8")]
    for row in paths:
        assert (row["candidates"], row["connections"]) == (30, 2)
        for side in ("service", "minimal_floor", "framework_floor"):
            assert row[side]["requests"] > 0
        assert row["service_vs_minimal"]["per_s"] > 0 and row["service_vs_framework"]["per_s"] > 0
    assert saved["refresh"]["items"] == len(trained.data.items)
    assert saved["training"]["steps"] == 2 and saved["training"]["samples_per_s"] > 0
    assert "## /score vs the framework floor" in markdown_path.read_text()
    assert "## Known users: cached heads vs fresh features" in markdown_path.read_text()
    assert "## /score by code path vs the minimal and framework floors" in markdown_path.read_text()
    shadow = saved["shadow"]  # the same bundle with and without a shadow challenger at 100 %
    assert [(r["connections"], r["share"]) for r in shadow["rows"]] == [
        (1, 1.0), (1, 0.1), (2, 1.0), (2, 0.1)]
    for row in shadow["rows"]:
        assert row["none"]["requests"] > 0 and row["shadow"]["requests"] > 0
        assert row["shadow_vs_none"]["p99_ms"] > 0
    everything = shadow["series"]["shadow 100%"]
    assert everything["compared"] > 0 and everything["overlap_at_10"] > 0
    assert sum("shadow at 100 %" in g["goal"] for g in saved["goals"]) == 2
    assert "## Shadow rollout" in markdown_path.read_text()
    flood = saved["flood"]  # the probe ran in both phases, the flood sent oversized heads
    assert flood["idle"]["probes"] > 0 and flood["flood"]["probes"] > 0
    assert flood["oversized_requests"] > 0 and flood["p99_ratio"] > 0
    assert "## Header flood" in markdown_path.read_text()
    assert (tmp_path / "out" / "serve-cpu-latency.png").stat().st_size > 0  # p50 / p99 against N
    again = CliRunner().invoke(app, ["bench", "serve-figure", str(json_path),
                                     "--out", str(tmp_path / "again.png")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.png").stat().st_size > 0


def test_the_training_benchmark_times_every_stage_with_its_command(tmp_path: Path) -> None:
    taobao = taobao_like(300, 200, 3_000, 20_000)
    doc = run_train(TrainBenchConfig(work=tmp_path / "work", sources=(taobao,), steps=2))
    json_path, markdown_path = write_results(doc, tmp_path / "out")
    assert json_path.name == "train-cpu.json"
    runs = json.loads(json_path.read_text())["runs"]
    stages = ["generate", "encode in memory", "build", "train in memory", "train streamed"]
    assert [(r["source"], r["stage"]) for r in runs] == [(taobao.name, s) for s in stages]
    for run in runs:
        assert run["peak_rss_mb"] > 0 and run["command"].startswith("inttower")
        assert run["samples_per_s"] > 0 if run["stage"].startswith("train") else \
            run["rows_per_s"] > 0 and run["seconds"] > 0
    # the commands rerun: what `build` recorded is a command line inttower accepts
    build = next(r for r in runs if r["stage"] == "build")
    assert build["command"].startswith("inttower data build --schema ")
    assert [g["goal"] for g in doc["goals"]] == [
        f"{taobao.name}: streamed samples/s against in memory"]
    assert "| build |" in markdown_path.read_text()
