"""`python -m engine.jobs.worker JOB_ID --home HOME`: run one queued job in this process.

Started by `engine.jobs.submit` in its own session (so a cancel can signal its whole process group)
with stdout/stderr in `<home>/jobs/<job id>.log`. Waits for a free slot (at most VALUESCOPE_MAX_JOBS
background jobs run at once: engine.policy), marks the job running, runs `target(params, ctx)` with a
heartbeat, and writes the outcome. The row is the authority: a worker whose row stops being
`running` (cancelled by force, declared interrupted) stops at its next check.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from engine.jobs.context import JobCancelled, JobContext
from engine.jobs.execution import execute
from engine.policy import ServerPolicy
from engine.processes import process_started_at, process_state
from engine.jobs.store import JobStore

SLOT_POLL_S = 1.0


def max_jobs() -> int:
    """The server's limit of jobs running at once (engine.policy: VALUESCOPE_MAX_JOBS, else its default)."""
    return ServerPolicy.from_env().max_jobs


def _claim(store: JobStore, job_id: str) -> str:
    """"run" (this process now owns the running job), "wait" (no free slot) or "stop" (cancelled or
    no longer queued)."""
    now = time.time()
    with store.connect(write=True) as con:
        rows = store.select("id = ?", [job_id], con=con)
        if not rows or rows[0].status != "queued":
            return "stop"
        if rows[0].cancel_requested:
            store.update(job_id, con=con, status="cancelled", finished_at=now, message="Cancelled before it started.")
            return "stop"
        running = store.select("status = 'running' AND foreground = 0", con=con)
        busy = sum(process_state(j.pid, j.pid_started_at) == "alive" for j in running)
        pid = os.getpid()
        if busy >= max_jobs():
            store.update(job_id, con=con, pid=pid, pid_started_at=process_started_at(pid), heartbeat_at=now,
                         stage="waiting", message=f"Waiting for a free worker ({busy} jobs running)")
            return "wait"
        store.update(job_id, con=con, status="running", pid=pid, pid_started_at=process_started_at(pid),
                     started_at=now, heartbeat_at=now, stage="starting", message="Starting")
    return "run"


def _cancel_on_sigterm(signum, frame):
    # The canceller's SIGTERM after the grace period: unwind (the engine marks its cache run
    # cancelled on the way out). Further SIGTERMs are ignored so that clean-up can finish; SIGKILL
    # remains the last resort.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise JobCancelled("Cancelled: stopped by signal.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.jobs.worker")
    parser.add_argument("job_id")
    parser.add_argument("--home", required=True, help="data folder holding jobs.sqlite")
    args = parser.parse_args(argv)
    store = JobStore(args.home)
    job = store.get(args.job_id)
    if job is None:
        print(f"no job {args.job_id} in {store.path}", file=sys.stderr)
        return 2
    print(f"job {job.id} ({job.kind}, {job.target}) pid {os.getpid()} at {time.ctime()}", flush=True)
    signal.signal(signal.SIGTERM, _cancel_on_sigterm)
    try:
        while (claim := _claim(store, job.id)) == "wait":
            time.sleep(SLOT_POLL_S)
    except JobCancelled:
        store.update(job.id, status="cancelled", finished_at=time.time(), message="Cancelled before it started.")
        return 0
    if claim == "stop":
        return 0
    job = store.get(job.id)
    try:
        execute(store, job, JobContext(store, job))
    except JobCancelled:  # a SIGTERM between the target's end and the final write
        store.update(job.id, only_if_status=("running",), status="cancelled", finished_at=time.time(),
                     message="Cancelled: nothing was saved.")
    print(f"job {job.id} ended {store.get(job.id).status} at {time.ctime()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
