"""The quality benchmark: ablation grid, validation-only choices, serving cost, CLI smoke run."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import _seeds
from bench.quality.baselines import LR, BaselineConfig, TwoTower
from bench.quality.cost import inttower_cost, lr_cost, two_tower_cost
from bench.quality.run import QualityConfig, plan
from bench.quality.runner import RunResult, Task, run_tasks
from bench.quality.summary import summarise
from bench.quality.zoo import CIR_WEIGHTS, HEADS, Variant, ablation_grid, family_variants
from inttower.cli import app
from model.config import ModelConfig, TowerSpec
from model.inttower import IntTower
from model.losses import LossConfig
from training.data import DataConfig
from training.loop import FitConfig
from training.synth import generate

SPEC = TowerSpec(cat_vocab=(10, 4), seq_vocab=(6,), num_dim=2)


@pytest.fixture(scope="module")
def tiny_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(Path(tmp_path_factory.mktemp("synth")), users=150, items=80,
                    interactions=2000, seed=5)


def test_ablation_grid_trains_each_configuration_once() -> None:
    grid = ablation_grid()
    names = [v.name for v in grid]
    default_heads, default_cir = ModelConfig.user_heads, LossConfig().cir_weight
    # The grid points equal to the default (its heads, its CIR weight) and CIR weight 0 ("no CIR")
    # are not trained twice.
    assert names[0] == "default" and len(set(names)) == len(names)
    assert f"heads {default_heads} (d=32)" not in names and "CIR weight 0" not in names
    assert f"CIR weight {default_cir:g}" not in names
    assert {"no Light-SE", "no FE-Block (dot product)", "no CIR"} <= set(names)
    # Options listed in both settings (history table, MaxSim direction) train only the other.
    assert ("MaxSim per item head" in names) != ("MaxSim per user head (the paper)" in names)
    assert (("history in the item id table" in names)
            != ("history in its own table" in names))
    # default, 3 switched off, heads, CIR weights, history table, MaxSim direction, interest
    # heads, dropout, learning rate
    assert len(grid) == 1 + 3 + (len(HEADS) - 1) + (len(CIR_WEIGHTS) - 2) + 1 + 1 + 1 + 1 + 1


def test_named_ablations_train_beside_the_default_and_unknown_names_are_refused(
        tmp_path: Path) -> None:
    config = QualityConfig(models=("inttower",), ablations=True,
                           ablation_names=("MaxSim per item head",), out=tmp_path)
    _, grid = plan(config)
    assert [v.name for v in grid] == ["default", "MaxSim per item head"]
    assert "--ablation 'MaxSim per item head'" in config.command()
    result = CliRunner().invoke(app, ["bench", "quality", "--models", "inttower", "--ablation",
                                      "no such thing", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no ablation named 'no such thing'" in result.output


def _result(family: str, variant: str, seed: int, valid_auc: float, test_auc: float
            ) -> RunResult:
    model = TwoTower(BaselineConfig(SPEC, SPEC))
    return RunResult(family, variant, seed, {"auc": valid_auc, "logloss": 0.5, "gauc": 0.6},
                     {"auc": test_auc, "logloss": 0.5, "gauc": 0.6},
                     {"valid": {"auc": valid_auc + 0.01, "logloss": 0.5, "gauc": 0.6},
                      "test": {"auc": test_auc + 0.01, "logloss": 0.5, "gauc": 0.6}}, 2, 4, 1.0, 10,
                     two_tower_cost(model))


def test_variants_are_chosen_on_validation_never_on_test() -> None:
    # dot has the better TEST AUC, cosine the better VALIDATION AUC: cosine must represent it.
    results = [_result("two-tower", "dot", s, 0.70, 0.90) for s in (1, 2)]
    results += [_result("two-tower", "cosine", s, 0.80, 0.60 + 0.1 * s) for s in (1, 2)]
    results += [_result("inttower", "default", s, 0.75, 0.85) for s in (1, 2)]
    variants = [*family_variants("two-tower"), Variant("inttower")]
    doc = summarise(results, variants, [])
    chosen = {m["family"]: m for m in doc["models"]}
    assert chosen["two-tower"]["variant"] == "cosine"
    assert chosen["two-tower"]["compared"] == ["dot", "cosine"]
    # RelaImpr per seed against the chosen Two-Tower: (0.85-0.5)/(0.7-0.5)-1, (0.85-0.5)/(0.8-0.5)-1
    rela = chosen["inttower"]["rela_impr_vs_two_tower"]
    assert rela["mean"] == pytest.approx((0.75 + 1 / 6) / 2)
    assert chosen["inttower"]["test"]["auc"] == {"mean": pytest.approx(0.85), "std": 0.0}
    assert doc["ablations"] is None


def test_serving_cost_per_candidate() -> None:
    inttower = inttower_cost(IntTower(ModelConfig(SPEC, SPEC)))  # L=3, Hu=Hi=4, d=32
    assert (inttower.flops, inttower.item_bytes) == (2 * 12 * 4 * 32 + 12 * 4 + 1, 4 * 4 * 32)
    history = TowerSpec(cat_vocab=(10,), seq_vocab=(10,), history=0)
    interests = inttower_cost(IntTower(ModelConfig(history, SPEC, interest_heads=True)))
    assert interests.flops == 2 * 16 * 4 * 32 + 16 * 4 + 1  # one more set of 4 user rows
    dot = inttower_cost(IntTower(ModelConfig(SPEC, SPEC, fe_block=False)))
    assert (dot.flops, dot.item_bytes) == (2 * 128 + 1, 512)
    assert two_tower_cost(TwoTower(BaselineConfig(SPEC, SPEC))).item_bytes == 512
    lr = lr_cost(LR(BaselineConfig(SPEC, SPEC)))
    assert (lr.flops, lr.item_bytes) == (1, 4)


def test_seeds_accept_space_separated_values() -> None:
    assert _seeds([1], ["2", "3"]) == (1, 2, 3)
    assert _seeds([4, 5], []) == (4, 5)
    with pytest.raises(Exception, match="unexpected"):
        _seeds([], ["2"])


def test_worker_processes_run_every_task(tiny_schema: Path) -> None:
    fit = FitConfig(epochs=1, batch_size=512, progress=False)
    tasks = [Task(DataConfig(schema=tiny_schema, seed=1), Variant(family), fit, "cpu")
             for family in ("lr", "cold")]
    pairs = list(run_tasks(tasks, jobs=2))
    assert all(task.variant.family == result.family for task, result in pairs)
    assert sorted(result.family for _, result in pairs) == ["cold", "lr"]


def test_bench_quality_smoke_writes_both_files_and_resumes(tiny_schema: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["bench", "quality", "--schema", str(tiny_schema), "--models", "two-tower,inttower",
            "--seeds", "1", "--epochs", "1", "--batch-size", "512", "--out", str(out),
            "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "quality-synth-random.json").read_text())
    assert {"dataset", "split", "seeds", "command", "date_utc", "git_commit", "machine",
            "protocol", "selection", "models", "variants", "ablations", "runs"} <= set(doc)
    assert [m["model"] for m in doc["models"]] == ["Two-Tower", "IntTower"]
    for row in doc["models"]:
        assert {"valid", "test", "rela_impr_vs_two_tower", "best_epoch", "epochs_run",
                "train_seconds", "parameters", "serving"} <= set(row)
        assert set(row["test"]) == {"auc", "logloss", "gauc"}
        assert set(row["serving"]) == {"flops", "item_bytes", "per_candidate"}
    assert len(doc["runs"]) == 3  # Two-Tower dot and cosine, IntTower
    assert doc["command"].startswith("inttower bench quality --schema")
    markdown = (out / "quality-synth-random.md").read_text()
    assert "| IntTower | default |" in markdown and "VALIDATION" in markdown

    # --resume reuses the three recorded runs instead of training again.
    result = CliRunner().invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    resumed = json.loads((out / "quality-synth-random.json").read_text())
    assert resumed["runs"] == doc["runs"]


def test_the_figure_plots_every_model_of_every_results_file(tmp_path: Path) -> None:
    results = [_result("two-tower", "dot", s, 0.70, 0.80) for s in (1, 2)]
    results += [_result("inttower", "default", s, 0.75, 0.85) for s in (1, 2)]
    doc = {"dataset": "toy", "split": "temporal", "seeds": [1, 2],
           **summarise(results, [Variant("two-tower", "dot"), Variant("inttower")], [])}
    files = []
    for split in ("temporal", "random"):
        files.append(tmp_path / f"quality-toy-{split}.json")
        files[-1].write_text(json.dumps({**doc, "split": split}))
    out = CliRunner().invoke(app, ["bench", "figure", *map(str, files), "--out",
                                   str(tmp_path / "fig.png")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = CliRunner().invoke(app, ["bench", "figure", str(tmp_path / "none.json"),
                                       "--out", str(tmp_path / "x.png")])
    assert missing.exit_code == 2 and "none.json" in missing.output
