"""`inttower refresh-users`: bring the stored users' interaction state up to date, no retraining.

The log is the users' whole interaction history up to now (the training log plus what came
after, laid out like the training interactions), not a delta: a user's state is counted from all
of its events in the log. For every user the log names, the label statistic (event count and
smoothed positive rate), the recent positive items and, from a newer behaviour log
(`--events`), the event sequences are recomputed with the live bundle's
codecs - its item vocabulary, prior, smoothing and scalers; nothing is refitted. Users the log
does not name keep their stored rows; users the bundle does not hold are added with the OOV id
row and missing features, so their requests are scored from their behaviour. The weights and the
item vectors are the parent's; the child bundle names its parent and goes live atomically (or
becomes a rollout's challenger). `version` starts from that published bundle instead of CURRENT's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model import store
from model.bundle import BundleContent
from model.features import TowerCodec
from training.as_of import AFTER_ALL
from training.publish import Challenger, publish, source_bundle
from training.schema import DatasetSchema
from training.tables import DataError, read_events, read_interactions
from training.user_state import users_as_of, with_state

log = logging.getLogger(__name__)


def _recorded_schema(manifest: dict[str, Any]) -> DatasetSchema:
    recorded = manifest.get("dataset_schema")
    if recorded is None:
        raise ValueError("the live bundle records no data layout to read the log with")
    return DatasetSchema.model_validate(recorded)


def read_interaction_log(artifacts: Path, path: Path, version: str | None = None
                         ) -> pd.DataFrame:
    """A log laid out like the live bundle's (or `version`'s) training interactions: user_id,
    item_id, label and timestamp columns (DataError if the file lacks one, or holds no
    interaction)."""
    schema = _recorded_schema(store.read_manifest(store.source_path(artifacts, version)))
    if schema.interactions.timestamp is None:
        raise DataError(f"dataset {schema.name!r} has no timestamp column: a user's recent "
                        "items need the events' times")
    layout = schema.interactions.model_copy(update={"file": Path(path).name, "format": "auto"})
    return read_interactions(schema.model_copy(update={"interactions": layout}),
                             Path(path).parent)


def read_event_log(artifacts: Path, path: Path, version: str | None = None) -> pd.DataFrame:
    """A behaviour log laid out like the live bundle's (or `version`'s) training events table
    (a file, or a folder of Parquet parts)."""
    schema = _recorded_schema(store.read_manifest(store.source_path(artifacts, version)))
    if schema.events is None:
        raise ValueError("the live bundle was trained without an events table")
    layout = schema.events.model_copy(update={"file": Path(path).name, "format": "auto"})
    return read_events(schema.model_copy(update={"events": layout}), Path(path).parent)


def _fewer_events(codec: TowerCodec, before: np.ndarray, after: np.ndarray) -> int:
    """Users whose event count went down from `before` to `after` (their numeric columns): a
    sign that the log is a delta."""
    stat, layout = codec.label_stat, codec.layout
    if stat is None:
        return 0
    count_before = stat.counts(layout.stat_columns(before, None))
    return int((stat.counts(layout.stat_columns(after, None)) < count_before - 0.5).sum())


def refresh_users(artifacts: Path, interactions: pd.DataFrame,
                  events: pd.DataFrame | None = None, version: str | None = None,
                  challenger: Challenger | None = None) -> str:
    """Publish a child of the live bundle (or of `version`) with its users' state from
    `interactions` (user_id, item_id, label, timestamp) and, for a bundle with event sequences,
    the `events` table (read_event_log); returns its version."""
    live = source_bundle(artifacts, version)
    codec = live.user_codec
    if codec.label_stat is None and codec.history is None and not codec.sequences:
        raise ValueError(f"bundle {live.version}'s users have no interaction features to refresh")
    if interactions.empty:
        raise DataError("the interaction log is empty: nothing to refresh, nothing published")
    if codec.sequences and events is None:
        raise ValueError(f"bundle {live.version} reads the event sequences "
                         f"{[q.column for q in codec.sequences]}: pass the newer behaviour log "
                         "too (--events)")
    logs = [interactions] if events is None else [interactions, events]
    # (U,) raw ids, in log order: the users either log names
    named = pd.unique(np.concatenate([frame["user_id"].to_numpy() for frame in logs]))
    specs = _recorded_schema(live.manifest).events
    state = users_as_of(codec, live.items, interactions, named,
                        np.full(len(named), AFTER_ALL, np.int64), events,
                        specs.sequences if specs is not None else ())
    stored = pd.Index(live.users.ids).get_indexer(named)  # (U,) stored row, -1 for new users
    known = stored >= 0
    users = live.users.take(np.arange(len(live.users)))  # a copy to write into
    updated = with_state(codec.layout, live.users.take(stored[known]), state.take(known))
    fewer = _fewer_events(codec, users.num[stored[known]], updated.num)
    if fewer:
        log.warning("%d users have fewer events in the log than in bundle %s: is the log a "
                    "delta? It must hold their whole history", fewer, live.version)
    users.num[stored[known]] = updated.num
    for field, fresh in zip(users.seq, updated.seq, strict=True):
        field[stored[known]] = fresh
    # New users: the codec's encoding of ids it never saw, nothing known (OOV, missing values).
    new_ids = named[~known].astype(str)
    users = users.concat(with_state(codec.layout, codec.encode_unknown(new_ids.tolist()),
                                    state.take(~known)))
    summary = {"events": len(interactions), "behaviour_events": len(events) if events is not None
               else 0, "users_updated": int(known.sum()),
               "users_added": len(new_ids), "latest_event": int(interactions["timestamp"].max())}
    log.info("refresh-users: %s; %d users kept as stored", summary,
             len(live.users) - summary["users_updated"])
    content = BundleContent(model=live.model, user_codec=codec, item_codec=live.item_codec,
                            users=users, items=live.items, item_vectors=live.item_vectors)
    return publish(artifacts, content, parent=live, challenger=challenger,
                   users_refreshed=summary)
