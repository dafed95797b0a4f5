"""The speed benchmarks run end to end at toy size and write their results; the floor answers.

Seconds-long smoke runs: they check wiring and the documents, not speed (no timed assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from training.bench import load
from training.bench.floor import create_floor_app
from training.bench.kernel import KernelConfig, run_kernel
from training.bench.serve import ServeConfig, run_serve
from training.bench.speed_report import write_results
from training.bench.train import Synthetic, TrainBenchConfig, run_train
from training.trainer import TrainResult


def test_the_floor_parses_a_score_request_and_answers_one_float_per_candidate() -> None:
    with TestClient(create_floor_app()) as client:
        body = client.post("/score", json={"user_id": "u", "candidate_ids": ["a", 7, "c"]}).json()
        assert len(body["scores"]) == 3 and all(0 <= s < 1 for s in body["scores"])
        refused = client.post("/score", json={"user_id": "u", "candidate_ids": [1.5]})
        assert refused.status_code == 422  # the same parsing as /score, errors included


def test_the_kernel_benchmark_writes_ratios_against_the_gather(tmp_path: Path) -> None:
    doc = run_kernel(KernelConfig(items=2_000, candidates=(50,), rounds=2, calls=3))
    json_path, markdown_path = write_results(doc, tmp_path)
    row = json.loads(json_path.read_text())["kernel"][0]
    assert {"gather_us", "fused_us", "torch_us", "fused_vs_gather", "torch_vs_gather"} <= set(row)
    assert "fused / gather" in markdown_path.read_text()
    assert [g["goal"].split()[3] for g in doc["goals"]] == ["N=50"]


def test_the_serve_benchmark_drives_the_cli_server_and_the_floor(
    trained: TrainResult, trained_artifacts: Path, synth_schema: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load.shutil, "which", lambda name: None)  # the Python load generator
    config = ServeConfig(work=tmp_path / "work", artifacts=trained_artifacts, candidates=(20,),
                         seconds=1, repeats=1, workers=1, connections=2, recommend_items=0,
                         scale_items=0, train_schema=synth_schema, train_steps=2)
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
    assert saved["refresh"]["items"] == len(trained.data.items)
    assert saved["training"]["steps"] == 2 and saved["training"]["samples_per_s"] > 0
    assert "## /score vs the framework floor" in markdown_path.read_text()
    assert "## Known users: cached heads vs fresh features" in markdown_path.read_text()


def test_the_training_benchmark_compares_catalogues_in_fresh_processes(tmp_path: Path) -> None:
    small, large = Synthetic(200, 100, 3_000), Synthetic(400, 300, 3_000)
    doc = run_train(TrainBenchConfig(work=tmp_path / "work", datasets=(), synthetic=(small, large),
                                     steps=2))
    json_path, markdown_path = write_results(doc, tmp_path / "out")
    assert json_path.name == "train-cpu.json"
    runs = json.loads(json_path.read_text())["runs"]
    assert [(r["source"], r["mode"]) for r in runs] == [
        (s.name, mode) for s in (small, large) for mode in ("dense", "sparse")]
    assert [r["slowdown_vs_reference"] for r in runs[:2]] == [1.0, 1.0]
    for run in runs:
        assert run["samples_per_s"] > 0 and run["peak_rss_mb"] >= run["data_peak_rss_mb"] > 0
        assert run["encoded_mb"] > 0 and run["parameters_mb"] > 0
    assert [g["goal"].split(":")[0] for g in doc["goals"]] == [large.name]
    assert f"slowdown vs {small.name}" in markdown_path.read_text()
