"""Render a quality results document (the JSON written beside it) as Markdown."""

from __future__ import annotations

from typing import Any

from bench.report import device_label, table

Doc = dict[str, Any]


def _pm(stats: dict[str, float] | None, digits: int = 4, percent: bool = False) -> str:
    if stats is None:
        return "–"
    scale, unit = (100.0, " %") if percent else (1.0, "")
    return f"{stats['mean'] * scale:.{digits}f} ± {stats['std'] * scale:.{digits}f}{unit}"


def _bytes(serving: dict[str, Any]) -> str:
    return "–" if serving["item_bytes"] is None else f"{serving['item_bytes']:,}"


def _online(row: Doc, key: str) -> str:
    """The online mode's test AUC, or its lift over cutoff (files before both modes lack it)."""
    if "online" not in row:
        return "–"
    return _pm(row["online"]["test"]["auc"] if key == "auc" else row["online_auc_lift"])


def _models(doc: Doc) -> list[str]:
    header = ["Model", "Variant", "Test AUC", "Test logloss", "Test GAUC", "RelaImpr vs TT",
              "Online test AUC", "Online − cutoff", "Epochs (best / run)", "Train s", "Params",
              "FLOPs / candidate", "Item bytes"]
    rows = [[m["model"], m["variant"], _pm(m["test"]["auc"]), _pm(m["test"]["logloss"]),
             _pm(m["test"]["gauc"]), _pm(m["rela_impr_vs_two_tower"], 2, percent=True),
             _online(m, "auc"), _online(m, "lift"),
             f"{m['best_epoch']['mean']:.1f} / {m['epochs_run']['mean']:.1f}",
             f"{m['train_seconds']['mean']:.0f}", f"{m['parameters']:,}",
             f"{m['serving']['flops']:,}", _bytes(m["serving"])] for m in doc["models"]]
    notes = [f"- {m['model']}: {m['serving']['per_candidate']}" for m in doc["models"]]
    return [*table(header, rows), "",
            "Test AUC, logloss, GAUC and RelaImpr: `cutoff` mode, what a bundle serves when the "
            "request sends no features (users and items as stored at the train cutoff). Online: "
            "each held-out row's user state from every logged event strictly before it (a "
            "caller sending fresh user_features), items still as stored; online − cutoff is what "
            "the online user tower is worth.", "",
            "Train s: wall-clock seconds of `fit` (training and per-epoch validation) while "
            "parallel jobs shared the machine; compare within one file only.", "",
            "Per candidate, once the user side has run:", *notes]


def _variants(doc: Doc) -> list[str]:
    chosen = {(m["family"], m["variant"]) for m in doc["models"]}
    compared = {m["family"] for m in doc["models"] if len(m["compared"]) > 1}
    rows = [[v["model"], v["variant"], _pm(v["valid"]["auc"]), _pm(v["valid"]["logloss"]),
             _pm(v["test"]["auc"]), "chosen" if (v["family"], v["variant"]) in chosen else ""]
            for v in doc["variants"] if v["family"] in compared]
    if not rows:
        return []
    return ["", "## Variants compared on validation", "",
            *table(["Model", "Variant", "Valid AUC", "Valid logloss", "Test AUC", ""], rows)]


def _ablations(doc: Doc) -> list[str]:
    ablations = doc["ablations"]
    if ablations is None:
        return []
    header = ["IntTower configuration", "Valid AUC", "Valid logloss", "Test AUC", "Test logloss",
              "FLOPs / candidate", "Item bytes"]
    rows = [[a["variant"], _pm(a["valid"]["auc"]), _pm(a["valid"]["logloss"]),
             _pm(a["test"]["auc"]), _pm(a["test"]["logloss"]), f"{a['serving']['flops']:,}",
             _bytes(a["serving"])] for a in ablations["rows"]]
    chosen = next(a for a in ablations["rows"] if a["variant"] == ablations["chosen_by_validation"])
    return ["", "## IntTower ablations", "", *table(header, rows), "",
            f"Chosen by mean VALIDATION AUC: **{chosen['variant']}** — serving cost "
            f"{chosen['serving']['flops']:,} FLOPs and {_bytes(chosen['serving'])} bytes of item "
            f"vector per candidate ({chosen['serving']['per_candidate']})."]


def _protocol(protocol: Doc) -> str:
    fit, loss = protocol["fit"], protocol["loss"]
    features = ""
    if "user_history" in protocol:  # results written before as-of-time features lack it
        history = protocol["user_history"]
        features = ("train rows see user and item statistics as of their time, "
                    + (f"user history of {history} items; " if history else "no user history; "))
    if "item_stat" in protocol:  # {model: the placements it was trained with}
        by_placements: dict[str, list[str]] = {}
        for family, placements in protocol["item_stat"].items():
            by_placements.setdefault(" or ".join(placements), []).append(family)
        features += ("the item statistic (tower: an item tower input; score: a per-candidate "
                     "score term; off: unused), the best on validation where several: "
                     + "; ".join(f"{p} for {', '.join(f)}" for p, f in by_placements.items())
                     + "; ")
    return (f"{features}Adam lr {fit['lr']:g}, batch {fit['batch_size']}, "
            f"up to {fit['epochs']} epochs, "
            f"early stopping on {protocol['early_stopping']} (patience {fit['patience']}); "
            f"BCE + {loss['embed_l2']:g}·embedding L2 for every model, IntTower adds CIR "
            f"(weight {loss['cir_weight']:g}, τ {loss['cir_temperature']:g}) and DAT its "
            "mimic loss.")


def render(doc: Doc) -> str:
    m = doc["machine"]
    device = device_label(m)
    lines = [
        f"# Quality: {doc['dataset']}, {doc['split']} split", "",
        f"- Command: `{doc['command']}`",
        f"- Date (UTC): {doc['date_utc']}; commit `{doc['git_commit']}`",
        f"- Machine: {m['platform']}, {m['cpus']} CPUs, torch {m['torch']}, device {device}, "
        f"{m['jobs']} parallel job(s)",
        f"- Seeds: {', '.join(map(str, doc['seeds']))}; test metrics are mean ± std (sample) "
        "over seeds. RelaImpr = (AUC − 0.5) / (AUC_TT − 0.5) − 1 against Two-Tower on the same "
        "seed.",
        f"- Training: {_protocol(doc['protocol'])}",
        f"- {doc['selection']}", "",
        *_models(doc), *_variants(doc), *_ablations(doc),
    ]
    return "\n".join(lines) + "\n"
