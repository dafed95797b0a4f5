"""The store cleans up after dead publishers (never after live ones) and `inttower gc` keeps
CURRENT, its parents up to --keep, and anything young."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from typer.testing import CliRunner

from inttower.cli import app
from model import store
from model.locks import writer_lock
from model.retention import collect

OLD = time.time() - 2 * 3600  # an mtime past every age rule


def _publish(artifacts: Path, payload: str, parent: str | None = None,
             go_live: bool = True) -> str:
    return store.publish(artifacts, lambda d: (d / "x.txt").write_text(payload),
                         {"parent": parent}, go_live)


def _age(path: Path) -> None:
    os.utime(path, (OLD, OLD))


def test_a_publish_sweeps_a_dead_publishers_temporary_and_spares_a_live_ones(
        tmp_path: Path) -> None:
    _publish(tmp_path, "first")
    bundles = tmp_path / store.BUNDLES
    # A publisher killed by SIGKILL while it held its temporary's lock.
    with subprocess.Popen([sys.executable, "-c", (
            "import time; from pathlib import Path; from model.locks import writer_lock\n"
            f"d = Path({str(bundles / '.tmp-killed')!r}); d.mkdir(); (d / 'half').write_text('x')\n"
            "with writer_lock(d):\n    print('locked', flush=True); time.sleep(600)")],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1]) as killed:
        assert killed.stdout is not None and killed.stdout.readline().strip() == "locked"
        killed.send_signal(signal.SIGKILL)
    live = bundles / ".tmp-live"
    live.mkdir()
    for folder in (bundles / ".tmp-killed", live):
        _age(folder)
    stale_current = tmp_path / ".CURRENT.abandoned"
    stale_current.write_text("x")
    _age(stale_current)
    with writer_lock(live):  # a slow publisher at work
        _publish(tmp_path, "second")
        assert live.is_dir()
    assert not (bundles / ".tmp-killed").exists() and not stale_current.exists()


def test_four_concurrent_publishers_all_publish(tmp_path: Path) -> None:
    _publish(tmp_path, "seed")
    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda i: _publish(tmp_path, f"payload {i}"), range(4)))
    assert len(set(versions)) == 4 and store.current_version(tmp_path) in versions
    assert set(versions) <= set(store.published_versions(tmp_path))
    assert not list((tmp_path / store.BUNDLES).glob(f"{store.TMP_PREFIX}*"))


def _chain(artifacts: Path, length: int) -> list[str]:
    versions: list[str] = []
    for i in range(length):
        versions.append(_publish(artifacts, f"v{i}", versions[-1] if versions else None))
        time.sleep(1.01)  # versions are named by the second
    return versions


def test_gc_keeps_current_its_parents_up_to_keep_and_young_bundles(tmp_path: Path) -> None:
    chain = _chain(tmp_path, 4)
    orphan = _publish(tmp_path, "never current", go_live=False)  # killed before CURRENT moved
    for version in [*chain, orphan]:
        _age(store.bundle_path(tmp_path, version))
    young = chain[0]
    os.utime(store.bundle_path(tmp_path, young))  # just loaded by a replica, say: young
    assert sorted(collect(tmp_path, keep=2, dry_run=True)) == sorted([chain[1], orphan])
    result = CliRunner().invoke(app, ["gc", "--artifacts", str(tmp_path), "--keep", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.split()) == sorted([chain[1], orphan])
    assert store.published_versions(tmp_path) == sorted([young, chain[2], chain[3]])
    assert store.current_version(tmp_path) == chain[-1]


def test_gc_refuses_to_run_when_current_cannot_be_read(tmp_path: Path) -> None:
    _publish(tmp_path, "only")
    (tmp_path / store.CURRENT).write_text("")
    result = CliRunner().invoke(app, ["gc", "--artifacts", str(tmp_path), "--grace", "0"])
    assert result.exit_code == 2 and "CURRENT is empty" in result.output
    assert len(store.published_versions(tmp_path)) == 1
