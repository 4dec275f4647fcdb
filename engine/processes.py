"""Whether a process named by its PID is still the one that wrote something (no torch, no DuckDB)."""
from __future__ import annotations

import psutil


def process_started_at(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), None when there is no such process.
    With a PID it identifies a process: PIDs are reused (PID 1 after every container restart)."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError, OverflowError):
        return None
