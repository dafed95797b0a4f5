"""Versioned artifact store: atomic publish, hash-verified reads, an atomic CURRENT.

    <artifacts>/bundles/<version>/manifest.json + files     version = UTC time + content hash
    <artifacts>/CURRENT                                     the live version's name
    <artifacts>/PREVIOUS                                    what CURRENT named before its
                                                            last move: the rollback target
    <artifacts>/CHALLENGER, HISTORY.jsonl                   model.rollout; every move logged

A bundle is written completely into a hidden temporary directory beside its final place, every
file hashed into the manifest, verified, fsynced, then renamed into `bundles/<version>`; CURRENT is
replaced last by write-temp-then-rename. A crash at any point leaves CURRENT naming the previous
complete bundle (the temporary directory is garbage, never served, and the next publish sweeps
it). Readers verify every hash. Old versions are collected by model.retention (`inttower gc`).
CURRENT, PREVIOUS and CHALLENGER move under one lock (model.pointers), so a publish and a
promotion or rollback never interleave.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model import pointers
from model.locks import unowned, writer_lock

log = logging.getLogger(__name__)

# 2: as-of-time target statistics and the user history field; 3: int8 item vectors possible
# (manifest item_vectors.dtype, item_scales.npy). This build writes 3 and reads both.
FORMAT_VERSION = 3
READABLE_FORMATS = (2, 3)
MANIFEST = "manifest.json"
CURRENT = "CURRENT"
PREVIOUS = "PREVIOUS"
CHALLENGER = "CHALLENGER"
BUNDLES = "bundles"
TMP_PREFIX = ".tmp-"  # a bundle being written, under bundles/
# A temporary is swept once it is this old and unlocked (its writer locks it right after
# creating it: the age closes that window); a CURRENT temporary, renamed at once, once this old.
STALE_TMP_S = 60.0


class BundleError(RuntimeError):
    """A bundle that must not be served: missing, incomplete, or not matching its manifest."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sweep_temporaries(artifacts: Path) -> list[str]:
    """Remove what dead publishers left: `bundles/.tmp-*` folders older than STALE_TMP_S whose
    writer lock is free, and pointer temporaries (CURRENT...) as old. Returns the names removed."""
    removed = []
    root = Path(artifacts) / BUNDLES
    for folder in sorted(root.glob(f"{TMP_PREFIX}*")) if root.is_dir() else []:
        if _older_than(folder, STALE_TMP_S) and unowned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(f"{BUNDLES}/{folder.name}")
    for tmp in (tmp for name in (CURRENT, PREVIOUS, CHALLENGER)
                for tmp in Path(artifacts).glob(pointers.temporary_glob(name))):
        if _older_than(tmp, STALE_TMP_S):
            tmp.unlink(missing_ok=True)
            removed.append(tmp.name)
    if removed:
        log.info("swept %d temporaries of dead publishers: %s", len(removed), ", ".join(removed))
    return removed


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except FileNotFoundError:  # renamed or removed by its writer meanwhile
        return False


def publish(artifacts: Path, write: Callable[[Path], None], manifest: dict[str, Any],
            go_live: bool = True) -> str:
    """Write a new bundle with `write(tmp_dir)`, seal it with a manifest, make it CURRENT (unless
    not `go_live`: a challenger, model.rollout, is sealed and left for its rollout to name).

    `manifest` holds the caller's fields (model config, metrics, parent...); the store adds
    format_version, version, created_at and the sha256 and size of every file. Returns the version.
    The temporary folder is locked while it is written (model.locks), and what dead publishers
    left is swept first.
    """
    root = Path(artifacts) / BUNDLES
    root.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(artifacts)
    tmp = root / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    tmp.mkdir()
    with writer_lock(tmp):
        version = _seal(tmp, write, manifest)
    if go_live:
        set_current(artifacts, version)
    return version


def _seal(tmp: Path, write: Callable[[Path], None], manifest: dict[str, Any]) -> str:
    """Write, hash, verify and rename `tmp` into its version's folder; returns the version."""
    root = tmp.parent
    try:
        write(tmp)
        files = {
            p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(tmp.iterdir())
            if p.is_file()
        }
        if MANIFEST in files:
            raise ValueError(f"{MANIFEST} is written by the store, not by the bundle writer")
        created = datetime.now(UTC)
        # The hash covers the caller's manifest too: a refresh that rewrites identical files
        # under another parent within the same second is still a new version.
        digest = json.dumps([files, manifest], sort_keys=True, default=str).encode()
        content = hashlib.sha256(digest).hexdigest()[:10]
        version = f"{created:%Y%m%dT%H%M%S}Z-{content}"
        sealed = {
            **manifest, "format_version": FORMAT_VERSION, "version": version,
            "created_at": created.isoformat(), "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(sealed, indent=2, sort_keys=True))
        for path in tmp.iterdir():
            _fsync(path)
        verify(tmp)
        final = root / version
        if final.exists():  # identical content published within the same second
            shutil.rmtree(tmp)
        else:
            os.rename(tmp, final)
            _fsync(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return version


def set_current(artifacts: Path, version: str, event: str = "publish") -> str | None:
    """Point CURRENT at `version` atomically (the bundle must exist and verify), under the
    pointer lock; returns the version it named before."""
    verify(bundle_path(artifacts, version))
    with pointers.locked(artifacts):
        return move_current(artifacts, version, event)


def move_current(artifacts: Path, version: str, event: str) -> str | None:
    """CURRENT := `version`, PREVIOUS := what it named (the rollback target), the move recorded
    in HISTORY.jsonl as `event`; the caller holds pointers.locked. Returns the old version."""
    try:
        was = current_version(artifacts)
    except BundleError:  # a damaged CURRENT is what a publish repairs
        was = None
    pointers.write(artifacts, CURRENT, version + "\n")
    if was is not None and was != version:
        pointers.write(artifacts, PREVIOUS, was + "\n")
    pointers.record(artifacts, event, current=version, was=was)
    return was


def current_version(artifacts: Path) -> str | None:
    """The version CURRENT names; None before the first publish. BundleError for an empty or
    undecodable CURRENT (publishers replace it whole, so that is damage); OSError if unreadable."""
    return _pointer(artifacts, CURRENT)


def previous_version(artifacts: Path) -> str | None:
    """The version CURRENT named before its last move (the rollback target), if any."""
    return _pointer(artifacts, PREVIOUS)


def _pointer(artifacts: Path, name: str) -> str | None:
    path = Path(artifacts) / name
    try:
        text = pointers.read(artifacts, name)
    except UnicodeDecodeError as exc:
        raise BundleError(f"{path} is not UTF-8 text: {exc}") from exc
    if text is None:
        return None
    if not text.strip():
        raise BundleError(f"{path} is empty")
    return text.strip()


def bundle_path(artifacts: Path, version: str) -> Path:
    if not version or "/" in version or version.startswith("."):
        raise BundleError(f"not a bundle version: {version!r}")
    return Path(artifacts) / BUNDLES / version


def current_path(artifacts: Path) -> Path:
    version = current_version(artifacts)
    if version is None:
        raise BundleError(f"no bundle published in {artifacts} (no {CURRENT} file)")
    return bundle_path(artifacts, version)


def version_folders(artifacts: Path) -> list[Path]:
    """Every bundle folder in the store, sealed or not (temporaries excluded), oldest first."""
    root = Path(artifacts) / BUNDLES
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  ) if root.is_dir() else []


def published_versions(artifacts: Path) -> list[str]:
    """Versions of the complete bundles in the store (sealed by a manifest), oldest first."""
    return [p.name for p in version_folders(artifacts) if (p / MANIFEST).is_file()]


def source_path(artifacts: Path, version: str | None = None) -> Path:
    """The bundle an offline command starts from: `version`, else the one CURRENT names. When
    neither can be used, BundleError says why and which versions `--version` could name."""
    if version is None:
        try:
            path = current_path(artifacts)
        except (OSError, BundleError) as exc:
            raise BundleError(f"{exc}{_version_hint(artifacts)}") from exc
        if not (path / MANIFEST).is_file():
            raise BundleError(f"{CURRENT} in {artifacts} names {path.name}, which is missing or "
                              f"incomplete{_version_hint(artifacts)}")
        return path
    path = bundle_path(artifacts, version)
    if not (path / MANIFEST).is_file():
        raise BundleError(f"no complete bundle {version} in {artifacts}{_choices(artifacts)}")
    return path


def _version_hint(artifacts: Path) -> str:
    choices = _choices(artifacts)
    return f": pass --version{choices}" if choices else ""


def _choices(artifacts: Path, shown: int = 5) -> str:
    versions = published_versions(artifacts)
    if not versions:
        return ""
    more = f" and {len(versions) - shown} older" if len(versions) > shown else ""
    return f"; published: {', '.join(reversed(versions[-shown:]))}{more}"


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise BundleError(f"{path} has no {MANIFEST}: incomplete bundle") from exc
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}/{MANIFEST} is not valid JSON: {exc}") from exc
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise BundleError(
            f"{path}: bundle format {manifest.get('format_version')!r}, "
            f"this build reads {' and '.join(map(str, READABLE_FORMATS))}"
        )
    return manifest


def verify(path: Path) -> dict[str, Any]:
    """Check every file against the manifest's size and sha256; return the manifest."""
    manifest = read_manifest(path)
    for name, expected in manifest["files"].items():
        file = Path(path) / name
        if not file.is_file():
            raise BundleError(f"{path}: {name} is missing")
        if file.stat().st_size != expected["bytes"] or sha256_file(file) != expected["sha256"]:
            raise BundleError(f"{path}: {name} does not match its manifest hash")
    return manifest
