"""User sequence fields from an events table, on a hand-made behaviour log whose sequences are
known: train rows see the events strictly before them (ties excluded), the stored users those
before the train cutoff, held-out rows the stored state (`cutoff`) or every event before them
(`online`); only the listed event types count; the vocabulary comes from events before the
cutoff."""

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from model.bundle import load_current
from model.item_vectors import ItemDtype
from service.app import create_app
from service.settings import Settings
from training.dataset import BatchSource
from training.encoded import EncodedData, EncodedSplit
from training.evaluate import evaluate_bundle
from training.features import encode_dataset
from training.refresh_users import read_event_log, read_interaction_log, refresh_users
from training.schema import DatasetSchema
from training.split import EvalMode, HeldOut, SplitKind
from training.synth_taobao import TaobaoSizes, generate_taobao
from training.tables import RawData
from training.trainer import TrainConfig, TrainResult, train

SCHEMA = DatasetSchema.model_validate({
    "name": "toy",
    "interactions": {"file": "i.csv", "user_id": "u", "item_id": "i", "label": {"column": "y"},
                     "timestamp": "t"},
    "users": {"id": "u"},
    "items": {"id": "i"},
    "events": {"file": "e.csv", "user_id": "u", "timestamp": "t", "type": "btag",
               "sequences": [{"column": "cate", "max_len": 2},
                             {"column": "cate", "name": "bought", "max_len": 2,
                              "types": ["buy"]}]},
})
# (user, item, label, time): rows 0-2 train (cutoff: t=5 -> events up to t=5), 3 valid, 4 test.
LOG = [("a", "x", 1, 3), ("b", "x", 0, 2), ("a", "y", 1, 5), ("a", "x", 1, 8), ("b", "y", 0, 9)]
SPLITS = {"train": np.arange(0, 3), "valid": np.array([3]), "test": np.array([4])}
# (user, time, type, cate). "c9" only after the cutoff: out of the vocabulary (OOV).
EVENTS = [("a", 1, "pv", "c1"), ("a", 2, "buy", "c2"), ("a", 3, "pv", "c3"),
          ("b", 1, "pv", "c1"), ("a", 4, "buy", "c1"), ("a", 6, "pv", "c9"), ("b", 8, "buy", "c2"),
          ("c", 1, "pv", "c2")]  # a user with no interactions: read, never counted


def _encode() -> EncodedData:
    users, items, label, time = zip(*LOG, strict=True)
    inter = pd.DataFrame({"user_id": users, "item_id": items, "label": np.array(label, np.float32),
                          "timestamp": np.array(time, np.int64)})
    e_user, e_time, e_type, e_cate = zip(*EVENTS, strict=True)
    events = pd.DataFrame({"user_id": e_user, "timestamp": np.array(e_time, np.int64),
                           "type": e_type, "token:cate": e_cate})
    user_table = pd.DataFrame(index=pd.Index(["a", "b"], name="user_id"))
    item_table = pd.DataFrame(index=pd.Index(["x", "y"], name="item_id"))
    return encode_dataset(RawData(SCHEMA, inter, user_table, item_table, events), SPLITS)


def _sequences(data: EncodedData, split: EncodedSplit) -> list[list[list[str]]]:
    """Per row, per sequence (cate, bought): its tokens as the batches see them."""
    batch = next(BatchSource(data.users, data.items, split).batches(len(split)))
    out = []
    for row in range(len(split)):
        fields = []
        for codec in data.user_codec.sequences:
            vocab = ["", "<oov>", *codec.vocab]
            tokens = batch.user.seq[data.user_codec.layout.sequences[codec.column]][row]
            fields.append([vocab[t] for t in tokens.tolist()])
        out.append(fields)
    return out


def test_the_vocabulary_holds_the_tokens_before_the_cutoff_only() -> None:
    data = _encode()
    assert [c.column for c in data.user_codec.sequences] == ["cate", "bought"]
    assert data.user_codec.sequences[0].vocab == ("c1", "c2", "c3")  # c9 comes after t=5
    assert data.user_codec.sequences[1].vocab == ("c1", "c2")


def test_train_rows_see_the_events_strictly_before_them() -> None:
    data = _encode()
    assert _sequences(data, data.train) == [
        [["c2", "c1"], ["c2", ""]],  # a at t=3: c2 (t=2), c1 (t=1); the c3 at t=3 ties
        [["c1", ""], ["", ""]],  # b at t=2
        [["c1", "c3"], ["c1", "c2"]],  # a at t=5: the two latest, most recent first
    ]


@pytest.mark.parametrize("mode, expected", [
    # cutoff (t=5): a's c1 (t=4), c3; b's c1 only
    (EvalMode.cutoff, [[["c1", "c3"], ["c1", "c2"]], [["c1", ""], ["", ""]]]),
    # online: a at t=8 sees c9 (t=6, OOV); b at t=9 sees its buy of c2 at t=8
    (EvalMode.online, [[["<oov>", "c1"], ["c1", "c2"]], [["c2", "c1"], ["c2", ""]]]),
])
def test_held_out_rows_see_the_state_their_mode_serves(mode: EvalMode,
                                                       expected: list[list[list[str]]]) -> None:
    data = _encode()
    rows = [_sequences(data, data.held_out[mode][split])[0] for split in HeldOut]
    assert rows == expected


def test_the_stored_users_hold_the_cutoff_state_and_the_model_sees_the_fields() -> None:
    data = _encode()
    spec = data.user_codec.spec
    assert len(spec.seq_vocab) == 2 and spec.seq_vocab == (5, 4)  # + padding and OOV rows
    stored = data.users.seq[data.user_codec.layout.sequences["cate"]]
    np.testing.assert_array_equal(stored, [[2, 4], [2, 0]])  # a: c1, c3; b: c1


def test_a_sequence_that_picks_types_needs_a_type_column() -> None:
    bad = SCHEMA.model_dump()
    bad["events"]["type"] = None
    with pytest.raises(ValueError, match="type"):
        DatasetSchema.model_validate(bad)
    clash = SCHEMA.model_dump()
    clash["events"]["sequences"][1]["name"] = None  # two sequences named "cate"
    with pytest.raises(ValueError, match="differ"):
        DatasetSchema.model_validate(clash)


# --- A bundle trained with event sequences: evaluated, refreshed and served like any other ---

@pytest.fixture(scope="module")
def taobao_bundle(tmp_path_factory: pytest.TempPathFactory,
                  toy_config: Callable[..., TrainConfig]) -> tuple[Path, Path, TrainResult]:
    """(schema, artifacts, result) of a toy model trained on a tiny Taobao-shaped set."""
    root = tmp_path_factory.mktemp("taobao")
    schema = generate_taobao(root / "data", TaobaoSizes(users=300, ads=150, impressions=6_000,
                                                        behaviours=40_000), seed=2)
    config = toy_config(schema, root / "artifacts", epochs=2)
    config = replace(config, data=replace(config.data, split=SplitKind.temporal),
                     item_dtype=ItemDtype.float32)
    return schema, root / "artifacts", train(config)


def test_evaluate_reads_the_events_and_equals_training_in_both_modes(
        taobao_bundle: tuple[Path, Path, TrainResult]) -> None:
    schema, artifacts, trained = taobao_bundle
    bundle = load_current(artifacts)
    assert [q["field"] for q in bundle.manifest["user_sequences"]] == ["recent_cates",
                                                                      "recent_brands"]
    result = evaluate_bundle(bundle, HeldOut.test, schema)
    for mode in EvalMode:
        assert result.metrics[mode.value]["auc"] == pytest.approx(
            trained.metrics[mode]["test"]["auc"], abs=1e-5)


def test_refresh_users_reads_a_newer_behaviour_log_and_the_request_sends_fresh_tokens(
        taobao_bundle: tuple[Path, Path, TrainResult], tmp_path: Path) -> None:
    schema, artifacts, _ = taobao_bundle
    store_copy = tmp_path / "artifacts"
    shutil.copytree(artifacts, store_copy)
    impressions = _write(schema.parent / "raw_sample", tmp_path / "impressions.parquet")
    with pytest.raises(ValueError, match="--events"):
        refresh_users(store_copy, read_interaction_log(store_copy, impressions))
    newer = pd.DataFrame({"user": [1, 1], "time_stamp": [2_000_000_000, 2_000_000_001],
                          "btag": ["pv", "buy"], "cate": [7, 3], "brand": [11, 12]})
    behaviour = tmp_path / "behaviour"
    shutil.copytree(schema.parent / "behavior_log", behaviour)
    newer.to_parquet(behaviour / "part-99999.parquet", index=False)
    refresh_users(store_copy, read_interaction_log(store_copy, impressions),
                  read_event_log(store_copy, behaviour))
    child = load_current(store_copy)
    codec, row = child.user_codec, list(child.users.ids).index("1")
    cates = child.users.seq[codec.layout.sequences["recent_cates"]][row]
    vocab = codec.sequences[0].vocab
    assert [vocab[t - 2] for t in cates[:2]] == ["3", "7"]  # the newest events, most recent first
    with TestClient(create_app(Settings(artifacts=store_copy))) as client:
        body = {"user_id": "1", "candidate_ids": ["1", "2"]}
        stored = client.post("/score", json=body).json()["scores"]
        fresh = client.post("/score", json={**body, "user_features": {
            "recent_cates": ["5", "9", "1"]}}).json()["scores"]
        assert stored != fresh
        assert client.get("/model").json()["user_sequences"][0]["field"] == "recent_cates"


def _write(parts: Path, path: Path) -> Path:
    pq.write_table(ds.dataset(sorted(parts.glob("*.parquet"))).to_table(), path)
    return path
