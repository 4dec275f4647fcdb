"""A sweep's progress, one small JSON file per sweep under `<home>/sweeps/`, written by its driver
(the CLI) and read by the Runs page. A re-run of the same sweep updates the same file."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.paths import home_dir


def sweeps_dir(home=None) -> Path:
    path = home_dir(home) / "sweeps"
    path.mkdir(parents=True, exist_ok=True)
    return path


def staging_dir(home=None) -> Path:
    """Where workers stage finished runs as Parquet until the driver imports them."""
    return sweeps_dir(home) / "staging"


@dataclass
class SweepProgress:
    sweep_id: str
    backend: str
    models: list[str]
    n_prompts: int
    tasks: int  # all tasks of the sweep
    finished: int = 0  # tasks whose runs are all in the cache (before this run or by it)
    failed: list[str] = field(default_factory=list)  # "task label: error" of tasks that failed in this run
    runs_imported: int = 0
    status: str = "running"  # running | done | incomplete (some tasks failed: re-run to retry them)
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)

    def save(self, home=None) -> None:
        self.updated_at = time.time()
        path = sweeps_dir(home) / f"{self.sweep_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)

    def line(self) -> str:
        failed = f", {len(self.failed)} failed" if self.failed else ""
        return (f"sweep {self.sweep_id}: {self.finished} of {self.tasks} tasks finished{failed}, "
                f"{self.runs_imported} runs imported")


def list_sweeps(home=None) -> list[SweepProgress]:
    """Every recorded sweep, newest first."""
    sweeps = []
    folder = home_dir(home) / "sweeps"  # not created here: the app may read a read-only data folder
    for path in (folder.glob("*.json") if folder.is_dir() else ()):
        try:
            sweeps.append(SweepProgress(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue  # a file being replaced, or not ours
    return sorted(sweeps, key=lambda s: s.updated_at, reverse=True)
