"""Rollouts: a challenger bundle beside the live one, and the moves that end it.

    <artifacts>/CHALLENGER   JSON: version, mode, share, salt, started_at (absent: no rollout)

- shadow: every response comes from CURRENT; a `share` of requests is scored again by the
  challenger after the response, and the two answers compared (service.shadow).
- ab: a user is served by the challenger when `user_fraction(salt, user_id) < share`: a hash,
  so the same user gets the same version on every worker and replica for the whole rollout.
  The salt defaults to the challenger's version, so each rollout draws its own users.

`promote` makes the challenger CURRENT (the old CURRENT becomes PREVIOUS, the rollback target),
`stop` ends the rollout, `rollback` moves CURRENT back to PREVIOUS. Every move holds the store's
pointer lock (model.pointers) and is recorded in HISTORY.jsonl, so it never interleaves with a
publish moving CURRENT.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from model import pointers, store


class Mode(StrEnum):
    shadow = "shadow"
    ab = "ab"


class RolloutError(RuntimeError):
    """A rollout move that cannot be made (no challenger, no rollback target...)."""


def user_fraction(salt: str, user_id: str) -> float:
    """Where `user_id` falls in [0, 1) for this salt: 64 bits of blake2b, the same in every
    process (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(f"{salt}\x00{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Rollout:
    version: str
    mode: Mode
    share: float  # (0, 1]: of the users (ab) or of the requests (shadow)
    salt: str
    started_at: str  # ISO 8601, UTC

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise RolloutError(f"share {self.share}: it must be in (0, 1]")

    def serves(self, user_id: str) -> bool:
        """ab: whether the challenger answers this user."""
        return self.mode is Mode.ab and user_fraction(self.salt, user_id) < self.share

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Rollout:
        fields = json.loads(text)
        return cls(**{**fields, "mode": Mode(fields["mode"]), "share": float(fields["share"])})


def challenger(artifacts: Path) -> Rollout | None:
    """The rollout in progress, None without one. RolloutError if CHALLENGER is damaged."""
    path = Path(artifacts) / store.CHALLENGER
    try:
        text = pointers.read(artifacts, store.CHALLENGER)
        return None if text is None else Rollout.from_json(text)
    except (UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise RolloutError(f"{path} is damaged: {exc}") from exc


def start(artifacts: Path, version: str, mode: Mode, share: float,
          salt: str | None = None) -> Rollout:
    """Name `version` (a published bundle, not CURRENT) the challenger; replaces a rollout in
    progress, and says so in the history."""
    store.verify(store.bundle_path(artifacts, version))
    rollout = Rollout(version, Mode(mode), share, salt or version,
                      datetime.now(UTC).isoformat(timespec="seconds"))
    with pointers.locked(artifacts):
        if store.current_version(artifacts) == version:
            raise RolloutError(f"{version} is CURRENT already: nothing to roll out")
        replaced = challenger(artifacts)
        pointers.write(artifacts, store.CHALLENGER, rollout.to_json())
        pointers.record(artifacts, "start", challenger=version, mode=rollout.mode.value,
                        share=share, replaced=replaced.version if replaced else None)
    return rollout


def stop(artifacts: Path, reason: str, version: str | None = None) -> Rollout | None:
    """End the rollout (only if its challenger is `version`, when given: a guard rail that
    tripped on yesterday's challenger must not stop today's). Returns what was stopped."""
    with pointers.locked(artifacts):
        running = challenger(artifacts)
        if running is None or (version is not None and running.version != version):
            return None
        pointers.remove(artifacts, store.CHALLENGER)
        pointers.record(artifacts, "stop", challenger=running.version, reason=reason)
    return running


def promote(artifacts: Path) -> tuple[str, str | None]:
    """The challenger becomes CURRENT and the rollout ends; returns (new CURRENT, old CURRENT,
    now PREVIOUS: the rollback target)."""
    with pointers.locked(artifacts):
        running = challenger(artifacts)
        if running is None:
            raise RolloutError(f"no rollout in progress in {artifacts}: nothing to promote")
        store.verify(store.bundle_path(artifacts, running.version))
        was = store.move_current(artifacts, running.version, "promote")
        pointers.remove(artifacts, store.CHALLENGER)
    return running.version, was


def rollback(artifacts: Path) -> tuple[str, str | None]:
    """CURRENT back to PREVIOUS (and PREVIOUS to what CURRENT was, so a rollback can itself be
    undone); returns (new CURRENT, old CURRENT)."""
    with pointers.locked(artifacts):
        target = store.previous_version(artifacts)
        if target is None:
            raise RolloutError(f"no previous version in {artifacts} to roll back to")
        store.verify(store.bundle_path(artifacts, target))
        was = store.move_current(artifacts, target, "rollback")
    return target, was
