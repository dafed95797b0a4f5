"""Every benchmark figure the README quotes is in the file it names: a paragraph that cites
`docs/benchmarks/...` may only quote figures (a number with its unit: ms, µs, x, req/s, MB, GB,
s, samples/s, items/s) that one of the cited files holds, as written there. Targets are not
measurements: a figure after "goal" or "<=" / ">=" in the same parenthesis is skipped.
`inttower bench ...` writes those files, so a figure the README quotes is one a command
regenerates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks"
# A cited file: a path under docs/benchmarks (a folder: its .md files), or a bare results name
# (`serve-cpu.md`) in a paragraph that names the folder.
CITED = re.compile(r"docs/benchmarks/([\w./-]*\w/?)|`([\w-]+-(?:cpu|cuda)\.md)`")
FIGURE = re.compile(r"(?<![\w.,])(-?\d[\d,]*(?:\.\d+)?)\s?(ms|µs|x|req/s|MB|GB|s|samples/s|"
                    r"items/s)(?![\w/])")
TARGET = re.compile(r"\((?:goal|target)[^)]*\)|[<>]=\s?[\d.,]+\s?\w+")


def _paragraphs() -> list[str]:
    return re.split(r"\n\s*\n", (ROOT / "README.md").read_text(encoding="utf-8"))


def _cited(paragraph: str) -> list[Path]:
    files: list[Path] = []
    for path, bare in CITED.findall(paragraph):
        cited = BENCHMARKS / (path or bare)
        if cited.is_dir():
            files += sorted(cited.glob("*.md"))
        else:
            files.append(cited.with_suffix(".md") if cited.suffix == ".json" else cited)
    return files


def _quoting() -> list[tuple[str, list[Path]]]:
    return [(p, files) for p in _paragraphs() if (files := _cited(p))
            and FIGURE.search(TARGET.sub("", p))]


def test_the_readme_cites_benchmark_files_that_exist() -> None:
    missing = {str(f.relative_to(ROOT)) for _, files in _quoting() for f in files
               if not f.is_file()}
    assert not missing


@pytest.mark.parametrize(("paragraph", "files"), _quoting(),
                         ids=lambda value: value[:40] if isinstance(value, str) else "")
def test_every_quoted_figure_is_in_a_cited_file(paragraph: str, files: list[Path]) -> None:
    held = "\n".join(f.read_text(encoding="utf-8") for f in files if f.is_file())
    absent = [f"{number} {unit}" for number, unit in FIGURE.findall(TARGET.sub("", paragraph))
              if not re.search(rf"(?<![\d.,]){re.escape(number)}(?!\d|[.,]\d)", held)]
    assert not absent, f"not in {[f.name for f in files]}"
