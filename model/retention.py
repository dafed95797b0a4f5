"""`inttower gc`: old versions collected from the artifacts store, with the temporaries of dead
publishers (model.store.sweep_temporaries).

`collect` keeps, whatever `keep` says:
- the version CURRENT names and its parent chain, up to `keep` versions in all;
- PREVIOUS (the rollback target) and the challenger of a rollout in progress (model.rollout);
- every bundle younger than `grace_s`: an API replica swaps within seconds of CURRENT moving
  and loads a bundle within seconds, so none still reads a folder older than that;
and refuses to run when CURRENT cannot be read (what it protects would be unknown).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from model import rollout, store

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 3600.0


def protected_versions(artifacts: Path, keep: int) -> list[str]:
    """CURRENT and its parents, newest first, `keep` versions at most (at least CURRENT)."""
    version = store.current_version(artifacts)
    if version is None:
        raise store.BundleError(f"no bundle published in {artifacts} (no {store.CURRENT} file)")
    chain: list[str] = []
    while version is not None and len(chain) < max(keep, 1):
        chain.append(version)
        try:
            version = store.read_manifest(store.bundle_path(artifacts, version)).get("parent")
        except store.BundleError:
            break  # a parent already collected: the chain ends here
    return chain


def collect(artifacts: Path, keep: int, grace_s: float = DEFAULT_GRACE_S,
            dry_run: bool = False) -> list[str]:
    """Remove published versions outside the rules above (and dead publishers' temporaries);
    return the versions removed (or that would be, with `dry_run`)."""
    running = rollout.challenger(artifacts)
    kept = {*protected_versions(artifacts, keep), store.previous_version(artifacts),
            running.version if running else None}
    now = time.time()
    # Sealed or not: a folder without a manifest (a copy cut short, say) is debris too.
    doomed = [p.name for p in store.version_folders(artifacts)
              if p.name not in kept and now - p.stat().st_mtime > grace_s]
    if not dry_run:
        store.sweep_temporaries(artifacts)
        for version in doomed:
            shutil.rmtree(store.bundle_path(artifacts, version))
            log.info("removed bundle %s", version)
    return doomed

