"""Aggregate benchmark runs into the results document: mean ± std over seeds per variant, the
variant that represents each model (chosen on VALIDATION), RelaImpr vs Two-Tower, ablations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from bench.quality.runner import RunResult
from bench.quality.zoo import (
    FAMILIES,
    REFERENCE,
    SCHEMA_PLACEMENT,
    Placements,
    Variant,
    family_variants,
    placements_of,
)
from training.metrics import rela_impr

METRICS = ("auc", "logloss", "gauc")
SELECTION = (
    "Choices are made on the VALIDATION split only (cutoff mode), by mean validation AUC over "
    "seeds: the score "
    "of Two-Tower and DAT (dot product or cosine × learned temperature), LR's learning rate, and "
    "the default IntTower configuration among the ablations. Test metrics are reported, never "
    "used to choose."
)


def _stats(values: Sequence[float]) -> dict[str, float]:
    x = np.asarray(values, dtype=np.float64)
    return {"mean": float(x.mean()), "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0}


def _best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return max(rows, key=lambda row: row["valid"]["auc"]["mean"])


def _row(runs: list[RunResult], reference: dict[int, float] | None) -> dict[str, Any]:
    first = runs[0]
    relative = (_stats([rela_impr(r.test["auc"], reference[r.seed]) for r in runs])
                if reference else None)
    return {
        "model": FAMILIES[first.family].label, "family": first.family, "variant": first.variant,
        "seeds": [r.seed for r in runs],
        "valid": {m: _stats([r.valid[m] for r in runs]) for m in METRICS},
        "test": {m: _stats([r.test[m] for r in runs]) for m in METRICS},
        # the user's state fresh from the request (EvalMode.online), and its gain over cutoff
        "online": {split: {m: _stats([r.online[split][m] for r in runs]) for m in METRICS}
                   for split in ("valid", "test")},
        "online_auc_lift": _stats([r.online["test"]["auc"] - r.test["auc"] for r in runs]),
        "rela_impr_vs_two_tower": relative,
        "best_epoch": _stats([r.best_epoch for r in runs]),
        "epochs_run": _stats([r.epochs_run for r in runs]),
        "train_seconds": _stats([r.train_seconds for r in runs]),
        "parameters": first.parameters,
        "serving": asdict(first.serving),
    }


def summarise(results: list[RunResult], variants: list[Variant], ablations: list[Variant],
              item_stats: Placements = SCHEMA_PLACEMENT) -> dict[str, Any]:
    """`variants`: everything trained, in table order; `ablations`: the IntTower grid among them
    (empty without --ablations); `item_stats`: the item-statistic placements each model was
    trained with (its best on validation represents it). Returns the "selection", "models",
    "variants", "ablations" and "runs" sections of the results file."""
    runs = {(v.family, v.name): sorted((r for r in results if (r.family, r.variant) ==
                                        (v.family, v.name)), key=lambda r: r.seed)
            for v in variants}
    families = list(dict.fromkeys(v.family for v in variants))

    def candidates(family: str) -> list[tuple[str, str]]:
        return [(family, v.name)
                for v in family_variants(family, placements_of(item_stats, family))
                if (family, v.name) in runs]

    reference = None
    if REFERENCE in families:
        chosen_ref = _best([_row(runs[key], None) for key in candidates(REFERENCE)])
        reference = {r.seed: r.test["auc"] for r in runs[(REFERENCE, chosen_ref["variant"])]}
    rows = {key: _row(found, reference) for key, found in runs.items()}
    models = []
    for family in families:
        keys = candidates(family)
        if keys:
            models.append({**_best([rows[k] for k in keys]), "compared": [n for _, n in keys]})
    grid = [rows[(v.family, v.name)] for v in ablations]
    return {
        "selection": SELECTION,
        "models": models,
        "variants": list(rows.values()),
        "ablations": {"rows": grid, "chosen_by_validation": _best(grid)["variant"]} if grid
        else None,
        "runs": [asdict(r) for key in runs for r in runs[key]],
    }
