"""Is a job's process still there? A queued/running row whose process is gone is marked
`interrupted` when read, so no page shows "running" forever (engine.processes.process_state: pid and
start time)."""
from __future__ import annotations

import os
import signal
import time

from engine.jobs.store import Job, JobStore
from engine.processes import process_state

HEARTBEAT_S = 2.0  # how often a job's process says it is alive
STALE_HEARTBEAT_S = 30.0  # silent this long: hung or stopped, declared interrupted
SPAWN_TIMEOUT_S = 30.0  # a queued job with no process after this never got one
CANCEL_GRACE_S = 5.0  # a cancelled job gets this long to stop at its next check ...
KILL_AFTER_S = 3.0  # ... then SIGTERM, and SIGKILL this long after that


def signal_job(job: Job, sig: int) -> bool:
    """Send `sig` to a job's process: a worker's whole process group (it runs in its own session, so
    children it started go too), a foreground (CLI) process alone, never its shell's group. Only
    when the pid still belongs to the job's process, which takes its recorded start time: without one,
    whatever process now holds the pid might be signalled. True when sent."""
    if job.pid_started_at is None or process_state(job.pid, job.pid_started_at) != "alive":
        return False
    try:
        if not job.foreground and os.getpgid(job.pid) == job.pid:
            os.killpg(job.pid, sig)
        else:
            os.kill(job.pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _reason_dead(job: Job, now: float) -> tuple[str | None, bool]:
    """(why a live row's process is gone, or None while it is alive; whether it is there but hung)."""
    if job.status == "queued" and not job.pid:
        return (None if now - job.created_at < SPAWN_TIMEOUT_S else "its worker process never started"), False
    state = process_state(job.pid, job.pid_started_at)
    if state == "gone":
        return f"its process (pid {job.pid}) ended without reporting", False
    if state == "reused":
        return f"its process (pid {job.pid}) is gone; that pid now belongs to another process", False
    if job.heartbeat_at is not None and now - job.heartbeat_at > STALE_HEARTBEAT_S:
        return f"its process (pid {job.pid}) has not reported for {now - job.heartbeat_at:.0f} s", True
    return None, False


def refresh(store: JobStore, job: Job, now: float | None = None, con=None) -> Job:
    """`job`, or what it became: interrupted when its process is gone, hung or not its own any more;
    cancelled when a cancel was requested and its process is gone or has ignored it far too long.
    `con`: the caller's open write transaction, if any (a second connection would wait on it)."""
    if not job.live:
        return job
    now = now or time.time()
    reason, hung = _reason_dead(job, now)
    overdue = (job.cancel_requested and job.cancel_requested_at is not None
               and now - job.cancel_requested_at > CANCEL_GRACE_S + KILL_AFTER_S + 5)
    if reason is None and not overdue:
        return job
    if (hung and not job.foreground) or overdue:
        # a hung worker, or a cancelled job whose canceller went away (app restarted): nothing it
        # still does is wanted. A hung CLI process (perhaps suspended with Ctrl-Z) is left to its user.
        signal_job(job, signal.SIGKILL)
    if job.cancel_requested:
        sets = dict(status="cancelled", message="Cancelled: nothing was saved.")
    else:
        log = f" Its log: {job.log_path}" if job.log_path else ""
        sets = dict(status="interrupted", message=f"Interrupted: {reason}.{log}")
    # guarded by the status we read: a worker that finished meanwhile keeps its result
    store.update(job.id, only_if_status=(job.status,), finished_at=now, con=con, **sets)
    return store.get(job.id, con=con) or job


def refresh_all(store: JobStore, jobs: list[Job]) -> list[Job]:
    now = time.time()
    return [refresh(store, j, now) for j in jobs]
