"""Jobs in worker processes: progress, joining, the worker limit, cancel, failures, foreground runs.
Recovery from killed and vanished processes: test_jobs_recovery.py; the engine's kinds: test_jobs_kinds.py."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from jobs_helpers import TIMEOUT_S, registered_kinds, wait_for_stage, wait_until  # noqa: F401 - fixture

import engine.jobs as jobs
from engine.errors import ErrorCode
from engine.processes import process_state
from helpers import ROOT

pytestmark = pytest.mark.usefixtures("registered_kinds")


def test_a_worker_process_runs_the_job_with_throttled_progress(tmp_path):
    gate = tmp_path / "gate"
    job = jobs.submit("gated", {"gate": str(gate), "calls": 20000}, label="counting")
    assert job.status in ("queued", "running") and job.label == "counting"
    seen = wait_for_stage(job.id, "gated")
    assert seen.status == "running" and seen.pid != os.getpid()
    wait_until(lambda: jobs.get(job.id).done == 20000, "the last progress update to reach the store")
    gate.touch()
    done = jobs.wait(job.id, TIMEOUT_S)
    assert done.status == "done" and done.done == done.total == 40000
    assert done.result["pid"] == seen.pid
    # 20,000 updates cost a handful of writes: at most one per WRITE_INTERVAL_S, plus the last
    assert 1 <= done.result["writes"] <= done.result["seconds"] / 0.25 + 3, done.result
    assert Path(done.log_path).read_text().count(f"job {job.id}") == 2  # worker's start and end lines


def test_identical_requests_share_one_job(tmp_path):
    gate = tmp_path / "gate"
    params = {"gate": str(gate)}
    found = []
    threads = [threading.Thread(target=lambda: found.append(jobs.submit("gated", params))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({j.id for j in found}) == 1
    other = jobs.submit("gated", {"gate": str(gate), "calls": 1})
    assert other.id != found[0].id
    assert jobs.latest_for_key(jobs.default_key("gated", params)).id == found[0].id
    gate.touch()
    assert jobs.wait(found[0].id, TIMEOUT_S).status == "done"
    assert jobs.wait(other.id, TIMEOUT_S).status == "done"
    again = jobs.submit("gated", params)  # the first one has ended: a new request is new work
    assert again.id != found[0].id
    assert jobs.wait(again.id, TIMEOUT_S).status == "done"
    assert len(jobs.list_jobs(kind="gated")) == 3


def test_jobs_past_the_worker_limit_wait_queued_and_can_be_cancelled_there(tmp_path, monkeypatch):
    monkeypatch.setenv("VALUESCOPE_MAX_JOBS", "1")  # the workers inherit it
    first_gate = tmp_path / "first"
    first = jobs.submit("gated", {"gate": str(first_gate)})
    wait_for_stage(first.id, "gated")
    second = jobs.submit("gated", {"gate": str(tmp_path / "open"), "n": 2})
    third = jobs.submit("gated", {"gate": str(tmp_path / "open"), "n": 3})
    (tmp_path / "open").touch()
    for waiting in (second, third):
        assert wait_for_stage(waiting.id, "waiting").status == "queued"
    assert jobs.cancel(third.id, wait=True).status == "cancelled"
    assert jobs.get(second.id).status == "queued"  # still waiting: the first holds the only slot
    first_gate.touch()
    assert jobs.wait(first.id, TIMEOUT_S).status == "done"
    assert jobs.wait(second.id, TIMEOUT_S).status == "done"
    assert jobs.get(third.id).message == "Cancelled before it started."


def test_cancel_stops_a_job_at_its_next_check(tmp_path):
    job = jobs.submit("gated", {"gate": str(tmp_path / "never")})
    pid = wait_for_stage(job.id, "gated").pid
    ended = jobs.cancel(job.id, wait=True, grace_s=30)
    assert ended.status == "cancelled" and ended.message == "Cancelled: nothing was saved."
    wait_until(lambda: process_state(pid, None) == "gone", "the worker to exit")


@pytest.mark.parametrize("ignore_sigterm", [False, True])
def test_cancel_escalates_to_sigterm_then_sigkill(ignore_sigterm, monkeypatch):
    monkeypatch.setattr("engine.jobs.api.KILL_AFTER_S", 0.5)
    job = jobs.submit("stubborn", {"ignore_sigterm": ignore_sigterm})
    pid = wait_for_stage(job.id, "stuck").pid
    ended = jobs.cancel(job.id, wait=True, grace_s=0.3)
    assert ended.status == "cancelled"
    # SIGTERM unwinds the worker, which records the cancel itself; past that, SIGKILL and the canceller records it
    assert ("by force" in ended.message) == ignore_sigterm, ended.message
    wait_until(lambda: process_state(pid, None) == "gone", "the worker to be gone")


def test_failures_are_one_line_with_the_traceback_in_the_log():
    user = jobs.submit("failing", {"error": "user"})
    other = jobs.submit("failing", {"error": "bug"})
    missing = jobs.submit("failing", {"error": "not cached"})
    user, other, missing = (jobs.wait(j.id, TIMEOUT_S) for j in (user, other, missing))
    assert (user.status, user.error, user.error_type, user.error_code) == (
        "failed", "Unknown prompt 'x': use a battery key or free text.", "ValueError", ErrorCode.USER)
    assert other.status == "failed" and other.error == "Unexpected error (ZeroDivisionError: division by zero)"
    assert other.error_code is ErrorCode.BUG and not other.error_code.is_user_error
    assert (missing.error_code, missing.error) == (ErrorCode.NOT_CACHED, "tiny has no cached vocab run for this prompt.")
    assert "Traceback" in Path(other.log_path).read_text()


def test_foreground_run_records_progress_in_the_store_and_ctrl_c_cancels(tmp_path):
    gate = tmp_path / "gate"
    gate.touch()
    seen, stages = [], []
    job = jobs.run_foreground("gated", {"gate": str(gate), "calls": 500}, progress=lambda d, t: seen.append((d, t)),
                              stage=lambda name, message: stages.append(name))
    assert job.status == "done" and job.foreground and job.pid == os.getpid()
    assert seen[:2] == [(1, 1000), (2, 1000)] and seen[-1] == (1000, 1000) and len(seen) == 501
    assert stages == ["counting", "gated"]
    assert (job.done, job.total) == (1000, 1000)
    assert jobs.list_jobs(status="done")[0].id == job.id

    with pytest.raises(KeyboardInterrupt):
        jobs.run_foreground("interrupted", {})
    assert jobs.list_jobs(kind="interrupted")[0].status == "cancelled"


def test_cleanup_removes_old_finished_jobs_and_their_logs():
    job = jobs.wait(jobs.submit("failing", {"error": "user"}).id, TIMEOUT_S)
    result_folder = Path(job.log_path).with_suffix(".implicit")  # where an implicit job keeps its tables
    result_folder.mkdir()
    (result_folder / "runs.parquet").write_bytes(b"")
    assert jobs.cleanup(older_than_s=3600) == 0
    assert jobs.cleanup(older_than_s=0) == 1
    assert jobs.get(job.id) is None and not Path(job.log_path).exists() and not result_folder.exists()


def test_kinds_are_named_by_trusted_code_only():
    with pytest.raises(ValueError, match="Unknown job kind"):
        jobs.submit("os:system", {})
    with pytest.raises(ValueError, match="module level"):
        jobs.register_kind("local", lambda params, ctx: None)
    assert jobs.JOB_KINDS["train"] == "engine.training.jobs:run_training"


def test_importing_engine_jobs_loads_neither_torch_nor_duckdb():
    code = "import sys, engine.jobs; print(sorted(m for m in ('torch', 'duckdb', 'streamlit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    assert out.stdout.strip() == "[]"
