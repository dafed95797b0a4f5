"""docker-compose.yml and the Dockerfile, checked statically (no Docker engine runs here): they
parse, every command they run is a real `inttower` command, the healthcheck probes a real route."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from inttower.cli import app as cli
from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_GPU = ROOT / "docker-compose.gpu.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
SHELL_BREAKS = {";", "&&", "||", "|", "then", "else", "fi"}


def _services(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())["services"]


def _inttower_calls(command: str | list[str]) -> list[list[str]]:
    """The argument lists of every `inttower ...` in a command: exec form or a `sh -c` script."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] == ["sh", "-c"]:
        script = argv[2].replace("$$", "$")  # compose's escape for a literal $
        lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        argv = list(lexer)
    calls: list[list[str]] = []
    current: list[str] | None = None
    for token in argv:
        if token == "inttower":
            current = []
            calls.append(current)
        elif token in SHELL_BREAKS:
            current = None
        elif current is not None:
            current.append(token)
    return calls


def _all_calls() -> list[tuple[str, list[str]]]:
    return [(f"{path.name}:{name}", call)
            for path in (COMPOSE, COMPOSE_GPU)
            for name, service in _services(path).items() if "command" in service
            for call in _inttower_calls(service["command"])]


CALLS = _all_calls()


def test_the_trainer_runs_once_and_the_api_starts_after_it_succeeded() -> None:
    services = _services(COMPOSE)
    trainer, api = services["trainer"], services["api"]
    assert trainer["restart"] == "no"
    assert api["depends_on"]["trainer"]["condition"] == "service_completed_successfully"
    assert "${INTTOWER_API_PORTS:-8000}:8000" in api["ports"]  # a range under --scale
    assert "artifacts:/artifacts" in trainer["volumes"]
    assert "artifacts:/artifacts" in api["volumes"]
    assert "artifacts" in yaml.safe_load(COMPOSE.read_text())["volumes"]  # a named volume
    script = trainer["command"][2]
    assert "[ -f /artifacts/CURRENT ]" in script  # training is skipped once a bundle exists


def test_the_services_run_the_commands_they_should() -> None:
    commands = {(where, tuple(call[:2])) for where, call in CALLS}
    assert ("docker-compose.yml:trainer", ("data", "fetch")) in commands
    assert ("docker-compose.yml:trainer", ("train", "--dataset")) in commands
    assert ("docker-compose.yml:api", ("serve", "--artifacts")) in commands
    assert ("docker-compose.gpu.yml:api", ("serve", "--artifacts")) in commands


@pytest.mark.parametrize(("where", "call"), CALLS, ids=[f"{w} {c[0]}" for w, c in CALLS])
def test_every_command_is_a_real_cli_command_with_real_options(where: str,
                                                               call: list[str]) -> None:
    # --help resolves the command path and every option name, then stops before running.
    result = CliRunner().invoke(cli, [*call, "--help"])
    assert result.exit_code == 0, f"{where}: inttower {' '.join(call)}\n{result.output}"


def test_the_healthcheck_probes_readiness_on_a_real_route() -> None:
    probe = " ".join(_services(COMPOSE)["api"]["healthcheck"]["test"])
    path = re.search(r"http://[^/\s']+(/[\w/]*)", probe)
    assert path is not None, probe
    assert path.group(1) == "/readyz"
    assert "get" in create_app(Settings()).openapi()["paths"][path.group(1)]


def test_the_gpu_variant_serves_on_cuda_from_a_cuda_torch_build() -> None:
    api = _services(COMPOSE_GPU)["api"]
    assert api["command"][-2:] == ["--device", "cuda"]
    assert "/whl/cu" in api["build"]["args"]["TORCH_INDEX"]
    assert api["image"] != _services(COMPOSE)["api"]["image"]  # the CPU image stays as it is
    assert api["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_the_dockerfile_installs_cpu_torch_first_and_copies_every_package() -> None:
    text = DOCKERFILE.read_text()
    assert text.startswith("#") and "ARG BASE_IMAGE=python:3.11-slim" in text
    assert "FROM ${BASE_IMAGE} AS build" in text and "COPY --from=build /opt/venv" in text
    for arg in ("TORCH_INDEX=https://download.pytorch.org/whl/cpu",
                "PIP_INDEX_URL=https://pypi.org/simple"):
        assert f"ARG {arg}" in text  # a mirror is a build argument, not an edit
    assert text.count("--mount=type=secret,id=pip_ca,required=false") == 2
    assert text.index('pip install "torch==') < text.index("pip install .")
    copied = {src for line in text.splitlines()
              if line.startswith("COPY ") and "--from=" not in line
              for src in line.split()[1:-1]}
    for source in copied:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {p.rstrip("*") for p in packages} <= copied
