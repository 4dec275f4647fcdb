"""Nothing half-written is served and nothing shows "running" forever: cancelled and killed cache
writers, reused pids, silent and never-started processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from jobs_helpers import TIMEOUT_S, registered_kinds, wait_for_stage, wait_until  # noqa: F401 - fixture

import engine.jobs as jobs
from engine.processes import process_state
from engine.processes import process_started_at
from engine.jobs.store import JobStore

pytestmark = pytest.mark.usefixtures("registered_kinds")


def test_a_cancelled_cache_writer_leaves_nothing_served(tmp_path):
    from engine.store.db import Cache

    job = jobs.submit("cache_writer", {"key": "request-1", "gate": str(tmp_path / "never")})
    wait_for_stage(job.id, "scoring")
    assert jobs.cancel(job.id, wait=True, grace_s=30).status == "cancelled"
    cache = Cache()
    assert cache.find_done("request-1") is None
    assert list(cache.list_runs()["status"]) == ["cancelled"]


def test_a_worker_killed_mid_write_is_interrupted_serves_nothing_and_a_rerun_completes():
    from engine.store.db import Cache

    job = jobs.submit("cache_writer", {"key": "request-2", "pause_in_transaction": True}, key="write request-2")
    pid = wait_for_stage(job.id, "in_transaction").pid
    os.killpg(pid, signal.SIGKILL)  # inside the DuckDB transaction that would mark the run done
    wait_until(lambda: process_state(pid, None) == "gone", "the killed worker to be reaped")
    cache = Cache()
    assert cache.find_done("request-2") is None
    assert list(cache.list_runs()["status"]) == ["interrupted"]
    with cache.connect() as con:
        assert con.execute("SELECT count(*) FROM scores").fetchone()[0] == 0

    # The same request again: submit itself notices that the live-looking job is dead
    rerun = jobs.submit("cache_writer", {"key": "request-2"}, key="write request-2")
    assert rerun.id != job.id
    killed = JobStore().get(job.id)  # as stored (a plain read, no liveness check)
    assert killed.status == "interrupted" and f"pid {pid}" in killed.message
    assert jobs.wait(rerun.id, TIMEOUT_S).status == "done"
    assert cache.find_done("request-2")["run_id"] == jobs.get(rerun.id).result["run_id"]


def _insert_running(store: JobStore, job_id: str, **values) -> None:
    now = time.time()
    row = dict(id=job_id, kind="gated", key=job_id, params="{}", target="jobs_helpers:gated_job", status="running",
               created_at=now, started_at=now, heartbeat_at=now)
    row.update(values)
    with store.connect(write=True) as con:
        store.insert(con, **row)


def test_liveness_catches_reused_pids_silent_processes_and_jobs_that_never_started():
    store, me = JobStore(), os.getpid()
    my_start = process_started_at(me)
    _insert_running(store, "healthy", pid=me, pid_started_at=my_start, foreground=1)
    _insert_running(store, "reused", pid=me, pid_started_at=my_start - 3600)  # e.g. pid 1 after a restart
    _insert_running(store, "silent-cli", pid=me, pid_started_at=my_start, foreground=1, heartbeat_at=time.time() - 60)
    _insert_running(store, "never-started", status="queued", pid=None, created_at=time.time() - 60, heartbeat_at=None)
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        _insert_running(store, "hung-worker", pid=hung.pid, pid_started_at=process_started_at(hung.pid),
                        heartbeat_at=time.time() - 60)
        status = {j.id: j for j in jobs.list_jobs()}
        assert hung.wait(timeout=TIMEOUT_S) == -signal.SIGKILL  # a hung worker of ours is stopped for good
    finally:
        hung.kill()
    assert status["healthy"].status == "running"
    assert status["reused"].status == "interrupted" and "belongs to another process" in status["reused"].message
    assert status["silent-cli"].status == "interrupted" and "not reported" in status["silent-cli"].message
    assert status["never-started"].status == "interrupted" and "never started" in status["never-started"].message
    assert status["hung-worker"].status == "interrupted"
    assert store.get("reused").status == "interrupted"  # persisted, not only shown
