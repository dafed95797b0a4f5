"""The house rules a reader relies on: which package may import which, small files, and a README
whose layout section names every folder of the repository."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> the project packages it may import (its own included). The benchmark is the one
# package that sees both sides; the service never reads training code, the model reads neither.
ALLOWED = {
    "model": {"model"},
    "training": {"model", "training"},
    "service": {"model", "service"},
    "bench": {"model", "training", "service", "bench"},
    "inttower": {"model", "training", "service", "bench", "inttower"},
}
MAX_LINES = 300


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported_packages(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    names |= {node.module for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    return {name.split(".")[0] for name in names} & set(ALLOWED)


@pytest.mark.parametrize("package", list(ALLOWED))
def test_packages_import_only_what_their_layer_allows(package: str) -> None:
    crossings = {f"{source.relative_to(ROOT)} imports {sorted(extra)}"
                 for source in _sources(package)
                 if (extra := _imported_packages(source) - ALLOWED[package])}
    assert not crossings


def test_no_source_file_is_over_300_lines() -> None:
    long = {str(source.relative_to(ROOT)): lines for package in [*ALLOWED, "tests"]
            for source in _sources(package)
            if (lines := len(source.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long


def test_the_readme_layout_names_every_folder_of_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("### Layout", 1)[1].split("```")[1]
    named = set(re.findall(r"^([a-z_]+)/", layout, re.MULTILINE))
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listing.returncode != 0:
        pytest.skip(f"not a git checkout: {listing.stderr.strip()}")
    tracked = listing.stdout.splitlines()
    folders = {path.split("/")[0] for path in tracked if "/" in path and not path.startswith(".")}
    assert named == folders
