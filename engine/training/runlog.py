"""A training run's record: `training_log.jsonl` (one event per line) and `summary.json` (current state).

summary.json: status (running, done, stopped, failed), pid and its start time, settings, data counts
and, per training run (base x data variant), its checkpoints with held-out accuracy and loss. It is
rewritten atomically after every change, so a reader never sees half a file. A run whose process was
killed cannot say so itself: `read_summary` reports its "running" as "interrupted" once that process
(its pid with its start time, as PIDs are reused) is gone.
training_log.jsonl: appended and flushed per event (kind "loss" per optimiser step, "checkpoint",
"status"), so the loss curve survives a killed process too.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from engine.errors import InputError
from engine.processes import process_started_at

LOG_FILE = "training_log.jsonl"
SUMMARY_FILE = "summary.json"
STATUSES = ("running", "done", "stopped", "failed")  # and "interrupted", decided when read, never written


class RunLog:
    def __init__(self, run_dir: Path, run_name: str, settings: dict):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.run_dir / LOG_FILE
        self.log_path.write_text("")  # a re-run into the same folder starts a new log
        self.summary = {"run_name": run_name, "status": "running", "pid": os.getpid(),
                        "pid_started_at": process_started_at(os.getpid()), "started_at": time.time(),
                        "finished_at": None, "error": None, "settings": settings, "data": None, "runs": {}}
        self._write()

    def event(self, kind: str, **fields) -> None:
        with self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"kind": kind, "time": time.time(), **fields}, default=str) + "\n")
            fh.flush()

    def set(self, **fields) -> None:
        self.summary.update(fields)
        self._write()

    def run(self, key: str, **fields) -> None:
        """Create or update one training run's entry (base x data variant)."""
        self.summary["runs"].setdefault(key, {"checkpoints": []}).update(fields)
        self._write()

    def checkpoint(self, key: str, entry: dict) -> None:
        self.summary["runs"][key]["checkpoints"].append(entry)
        self.event("checkpoint", run=key, **entry)
        self._write()

    def finish(self, status: str, error: str | None = None) -> None:
        if status not in STATUSES:
            raise InputError(f"Unknown status {status!r}.")
        self.summary.update(status=status, finished_at=time.time(), error=error)
        self.event("status", status=status, error=error)
        self._write()

    def _write(self) -> None:
        path = self.run_dir / SUMMARY_FILE
        tmp = path.with_name(f".{SUMMARY_FILE}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.summary, indent=2, default=str))
        os.replace(tmp, path)


def read_summary(run_dir: Path) -> dict:
    summary = json.loads((Path(run_dir) / SUMMARY_FILE).read_text())
    if summary.get("status") == "running" and not is_alive(summary):
        summary["status"] = "interrupted"  # killed: it never wrote how it ended
    return summary


def read_log(run_dir: Path) -> list[dict]:
    """Events of training_log.jsonl; a last line cut short by a killed process is ignored."""
    events = []
    path = Path(run_dir) / LOG_FILE
    if not path.is_file():
        return events
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def is_alive(summary: dict) -> bool:
    """Whether a "running" run's process still exists (on this machine): its pid, started when it was recorded
    (a summary written before start times were recorded: the process must predate the run)."""
    if summary.get("status") != "running":
        return False
    try:
        started = process_started_at(int(summary["pid"]))
    except (KeyError, TypeError, ValueError):
        return False
    if started is None:
        return False
    recorded = summary.get("pid_started_at")
    if recorded is not None:
        return abs(started - float(recorded)) < 1.0
    return started <= float(summary.get("started_at") or 0) + 1.0
