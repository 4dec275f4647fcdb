"""Whether a process named by its PID is still the one that wrote something (no torch, no DuckDB): the
one liveness check of jobs, runs and conversions. A process is its PID *and* its start time: after a
container restart a dead worker's PID (often a small number, even 1) can belong to a new process."""
from __future__ import annotations

import psutil


def process_started_at(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), None when there is no such process.
    With a PID it identifies a process: PIDs are reused (PID 1 after every container restart)."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError, OverflowError):
        return None


START_TIME_TOLERANCE_S = 0.5  # psutil derives start times from clock ticks and boot time


def process_state(pid: int | None, started_at: float | None) -> str:
    """"alive", "gone" (no such process, or a zombie awaiting its parent) or "reused" (another process
    holds the PID: it started at another time, or belongs to another user). `started_at` None: not recorded."""
    if not pid:
        return "gone"
    try:
        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return "gone"
        created = proc.create_time()
    except (psutil.NoSuchProcess, ValueError, OverflowError):
        return "gone"
    except psutil.AccessDenied:  # another user's process: not one of ours
        return "reused"
    if started_at is not None and abs(created - started_at) > START_TIME_TOLERANCE_S:
        return "reused"
    return "alive"
