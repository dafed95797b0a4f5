"""The store's small named files (CURRENT, PREVIOUS, CHALLENGER) and the lock their moves hold.

Each file is replaced whole, by write-temp-fsync-rename, so a reader sees the old content or the
new, never a mix; a writer that dies leaves a `.<NAME>.<hex>` temporary that
model.store.sweep_temporaries removes. A move that reads one file to write another (promote reads
CHALLENGER and CURRENT, writes CURRENT and PREVIOUS) holds `locked(artifacts)`, an exclusive
flock on `<artifacts>/.pointers.lock`, so two moves never interleave; readers take no lock. Every
move is appended to HISTORY.jsonl, under the same lock.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.locks import writer_lock

LOCK = ".pointers.lock"
HISTORY = "HISTORY.jsonl"


@contextmanager
def locked(artifacts: Path) -> Iterator[None]:
    """Hold the store's pointer lock until the block ends (blocking; released if the holder
    dies). Not re-entrant: a second `locked` in the same thread waits forever."""
    lock = Path(artifacts) / LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch(exist_ok=True)
    with writer_lock(lock):
        yield


def temporary_glob(name: str) -> str:
    """The pattern of `name`'s temporaries, for the sweep."""
    return f".{name}.*"


def write(artifacts: Path, name: str, text: str) -> None:
    """Replace `<artifacts>/<name>` with `text` atomically (and durably)."""
    tmp = Path(artifacts) / f".{name}.{uuid.uuid4().hex}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, Path(artifacts) / name)


def read(artifacts: Path, name: str) -> str | None:
    """The content of `<artifacts>/<name>`, None if there is no such file. UnicodeDecodeError for
    bytes that are not UTF-8 (damage: writers replace the file whole)."""
    try:
        return (Path(artifacts) / name).read_bytes().decode()
    except FileNotFoundError:
        return None


def remove(artifacts: Path, name: str) -> bool:
    """Delete `<artifacts>/<name>`; False if it was not there."""
    try:
        os.unlink(Path(artifacts) / name)
    except FileNotFoundError:
        return False
    return True


def record(artifacts: Path, event: str, **fields: Any) -> dict[str, Any]:
    """Append one move to HISTORY.jsonl (hold `locked` around the move it records)."""
    entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, **fields}
    with open(Path(artifacts) / HISTORY, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def history(artifacts: Path, last: int | None = None) -> list[dict[str, Any]]:
    """The recorded moves, oldest first (the `last` ones only, if given); a line cut short by a
    crash is skipped."""
    try:
        lines = (Path(artifacts) / HISTORY).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries if last is None else entries[-last:]
