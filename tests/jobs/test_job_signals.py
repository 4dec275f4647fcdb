"""A hung job's process is killed only when its recorded start time matches: a row without one never gets
whatever process now holds its pid signalled."""
from __future__ import annotations

import subprocess
import sys
import time

import engine.jobs as jobs
from engine.jobs.store import JobStore
from engine.processes import process_started_at


def _hung_job(pid: int, started_at: float | None) -> str:
    store = JobStore()
    job_id = f"hung{time.monotonic_ns()}"[:16]
    with store.connect(write=True) as con:
        store.insert(con, id=job_id, kind="search", key=job_id, label="x", params={}, target="t", status="running",
                     pid=pid, pid_started_at=started_at, heartbeat_at=time.time() - 3600, created_at=time.time() - 3600)
    return job_id


def test_a_stale_job_without_a_start_time_signals_nothing():
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        job = jobs.get(_hung_job(bystander.pid, None))
        assert job.status == "interrupted"
        time.sleep(0.3)
        assert bystander.poll() is None  # still running: its pid was never matched to the job
        job = jobs.get(_hung_job(bystander.pid, process_started_at(bystander.pid)))  # the job's own, hung process
        assert job.status == "interrupted"
        assert bystander.wait(timeout=10) == -9
    finally:
        bystander.kill()
        bystander.wait()
