"""What every benchmark report shares: where a result came from (date, git commit, dirty or not,
machine) and the Markdown it is rendered with."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """`git rev-parse --short HEAD`, with `-dirty` when the working tree has changes. A copy
    without .git (a lent machine) says what it is through $INTTOWER_GIT_COMMIT."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        return git("rev-parse", "--short", "HEAD") + ("-dirty" if git("status", "--porcelain")
                                                     else "")
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("INTTOWER_GIT_COMMIT", "unknown")


def machine(device: str, jobs: int) -> dict[str, Any]:
    accelerator = (torch.cuda.get_device_name() if device.startswith("cuda")
                   and torch.cuda.is_available() else None)
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "device": device,
            "accelerator": accelerator, "jobs": jobs}


def provenance(command: str, device: str, jobs: int) -> dict[str, Any]:
    return {"command": command, "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "git_commit": git_commit(), "machine": machine(device, jobs)}


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table, one line per row."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def device_label(machine: dict[str, Any]) -> str:
    """"cuda:0 (NVIDIA H200)" or "cpu": a provenance machine's device and its accelerator."""
    accelerator = machine["accelerator"]
    return machine["device"] + (f" ({accelerator})" if accelerator else "")
