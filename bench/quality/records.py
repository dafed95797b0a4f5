"""One JSON record per finished benchmark run, so that `--resume` can skip what an interrupted run
of the same command already trained (a long grid, a machine with a time limit per command).

Records live in `<out>/.runs/`, a folder that ignores itself in git. A record is keyed by the full
task (data, variant, fit configuration, device), so a changed command never reuses it; a changed
code base would, which is why resuming is opt-in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

from bench.quality.cost import ServingCost
from bench.quality.runner import RunResult, Task


class RunRecords:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, task: Task) -> Path:
        # The progress bar setting depends on --jobs and does not change the result.
        key = repr(replace(task, fit=replace(task.fit, progress=False)))
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        return self.folder / f"{task.variant.family}-seed{task.data.seed}-{digest}.json"

    def load(self, task: Task) -> RunResult | None:
        path = self._path(task)
        if not path.is_file():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        return RunResult(**{**record, "serving": ServingCost(**record["serving"])})

    def save(self, task: Task, result: RunResult) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / ".gitignore").write_text("*\n", encoding="utf-8")
        path = self._path(task)
        path.with_suffix(".tmp").write_text(json.dumps(asdict(result)), encoding="utf-8")
        path.with_suffix(".tmp").replace(path)  # a record is complete or absent
