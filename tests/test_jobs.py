"""Jobs in worker processes: progress, joining, cancel, liveness, foreground runs, a real search.

The job kinds below are module-level functions: worker processes import this module by name.
Jobs that must be observed mid-way wait for a gate file the test creates, so nothing depends on
how fast this machine is; every wait polls with a timeout.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import engine.jobs as jobs
from engine.jobs import JobCancelled
from engine.jobs.liveness import process_start_time, process_state
from engine.jobs.store import JobStore

TIMEOUT_S = 60


# ---- job kinds used by the tests --------------------------------------------------------------------
def gated_job(params, ctx):
    """Reports `calls` progress updates as fast as it can, then waits for the gate file (stopping
    when cancelled). Returns how many store writes the updates cost."""
    writes = []
    touch = ctx.store.touch
    ctx.store.touch = lambda *a, **k: writes.append(1) or touch(*a, **k)
    calls, started = params.get("calls", 0), time.monotonic()
    ctx.stage("counting", "Counting")
    for i in range(calls):
        ctx.progress(i + 1, calls * 2, f"update {i + 1}")
    seconds, n_writes = time.monotonic() - started, len(writes)
    ctx.stage("gated", "Waiting for the gate")
    while not Path(params["gate"]).exists():
        ctx.check_cancelled()
        time.sleep(0.02)
    ctx.progress(calls * 2, calls * 2)
    return {"writes": n_writes, "seconds": seconds, "pid": os.getpid()}


def stubborn_job(params, ctx):
    """Never checks for cancellation (like a long C call); ignores SIGTERM too when asked."""
    if params.get("ignore_sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ctx.stage("stuck", "Not listening")
    while True:
        time.sleep(0.02)


def failing_job(params, ctx):
    if params["error"] == "user":
        raise ValueError("Unknown prompt 'x': use a battery key or free text.")
    return 1 / 0


def interrupted_job(params, ctx):
    ctx.progress(1, 10)
    raise KeyboardInterrupt


def cache_writer_job(params, ctx):
    """Writes one run to the DuckDB cache the engine's way (start_run, then scores and `done` in one
    transaction). With "pause_in_transaction" it stops inside that transaction, just before marking
    the run done, and says so with the stage "in_transaction"."""
    import duckdb
    import pandas as pd

    from engine.cache import Cache

    cache = Cache(ctx.home)
    run_id = cache.start_run({"request_key": params["key"], "model_id": "test-writer"})
    try:
        ctx.stage("scoring")
        while params.get("gate") and not Path(params["gate"]).exists():
            ctx.check_cancelled()
            time.sleep(0.02)
        if params.get("pause_in_transaction"):
            real_connect = duckdb.connect

            class PausesBeforeMarkingDone:
                def __init__(self, con):
                    self.con = con

                def execute(self, sql, *args):
                    if sql.startswith("UPDATE runs SET"):  # scores inserted, not committed
                        ctx.stage("in_transaction")
                        while True:
                            time.sleep(0.02)
                    return self.con.execute(sql, *args)

                def __getattr__(self, name):
                    return getattr(self.con, name)

            duckdb.connect = lambda *a, **k: PausesBeforeMarkingDone(real_connect(*a, **k))
        scores = pd.DataFrame({"token_id": [1, 2, 3], "text": ["a", "b", "c"], "score": [0.3, 0.1, 0.2]})
        cache.finish_run(run_id, scores)
    except BaseException as exc:
        cache.fail_run(run_id, str(exc), "cancelled" if isinstance(exc, JobCancelled) else "failed")
        raise
    return {"run_id": run_id}


KINDS = {"gated": gated_job, "stubborn": stubborn_job, "failing": failing_job, "interrupted": interrupted_job,
         "cache_writer": cache_writer_job}


@pytest.fixture(autouse=True)
def test_kinds():
    for name, function in KINDS.items():
        jobs.register_kind(name, function)
    yield
    for name in KINDS:
        jobs.JOB_KINDS.pop(name, None)


def wait_until(predicate, what: str, timeout_s: float = TIMEOUT_S, poll_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def wait_for_stage(job_id: str, stage: str):
    return wait_until(lambda: (j := jobs.get(job_id)).stage == stage and j, f"stage {stage} of job {job_id}")


# ---- tests --------------------------------------------------------------------------------------
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


def test_a_cancelled_cache_writer_leaves_nothing_served(tmp_path):
    from engine.cache import Cache

    job = jobs.submit("cache_writer", {"key": "request-1", "gate": str(tmp_path / "never")})
    wait_for_stage(job.id, "scoring")
    assert jobs.cancel(job.id, wait=True, grace_s=30).status == "cancelled"
    cache = Cache()
    assert cache.find_done("request-1") is None
    assert list(cache.list_runs()["status"]) == ["cancelled"]


def test_a_worker_killed_mid_write_is_interrupted_serves_nothing_and_a_rerun_completes():
    from engine.cache import Cache

    params = {"key": "request-2", "pause_in_transaction": True}
    job = jobs.submit("cache_writer", params)
    pid = wait_for_stage(job.id, "in_transaction").pid
    os.killpg(pid, signal.SIGKILL)  # inside the DuckDB transaction that would mark the run done
    ended = wait_until(lambda: (j := jobs.get(job.id)).finished and j, "the killed job to be noticed")
    assert ended.status == "interrupted" and f"pid {pid}" in ended.message
    cache = Cache()
    assert cache.find_done("request-2") is None
    assert list(cache.list_runs()["status"]) == ["interrupted"]
    with cache.connect() as con:
        assert con.execute("SELECT count(*) FROM scores").fetchone()[0] == 0

    rerun = jobs.submit("cache_writer", {"key": "request-2"})
    assert rerun.id != job.id
    assert jobs.wait(rerun.id, TIMEOUT_S).status == "done"
    assert cache.find_done("request-2")["run_id"] == jobs.get(rerun.id).result["run_id"]


def _insert_running(store: JobStore, job_id: str, **values) -> None:
    now = time.time()
    row = dict(id=job_id, kind="gated", key=job_id, params="{}", target="test_jobs:gated_job", status="running",
               created_at=now, started_at=now, heartbeat_at=now)
    row.update(values)
    with store.connect(write=True) as con:
        store.insert(con, **row)


def test_liveness_catches_reused_pids_silent_processes_and_jobs_that_never_started():
    store, me = JobStore(), os.getpid()
    my_start = process_start_time(me)
    _insert_running(store, "healthy", pid=me, pid_started_at=my_start, foreground=1)
    _insert_running(store, "reused", pid=me, pid_started_at=my_start - 3600)  # e.g. pid 1 after a restart
    _insert_running(store, "silent-cli", pid=me, pid_started_at=my_start, foreground=1, heartbeat_at=time.time() - 60)
    _insert_running(store, "never-started", status="queued", pid=None, created_at=time.time() - 60, heartbeat_at=None)
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        _insert_running(store, "hung-worker", pid=hung.pid, pid_started_at=process_start_time(hung.pid),
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


def test_failures_are_one_line_with_the_traceback_in_the_log():
    user = jobs.submit("failing", {"error": "user"})
    other = jobs.submit("failing", {"error": "bug"})
    user, other = jobs.wait(user.id, TIMEOUT_S), jobs.wait(other.id, TIMEOUT_S)
    assert (user.status, user.error, user.error_type) == (
        "failed", "Unknown prompt 'x': use a battery key or free text.", "ValueError")
    assert other.status == "failed" and other.error == "Unexpected error (ZeroDivisionError: division by zero)"
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
    assert jobs.cleanup(older_than_s=3600) == 0
    assert jobs.cleanup(older_than_s=0) == 1
    assert jobs.get(job.id) is None and not Path(job.log_path).exists()


def test_kinds_are_named_by_trusted_code_only():
    with pytest.raises(ValueError, match="Unknown job kind"):
        jobs.submit("os:system", {})
    with pytest.raises(ValueError, match="module level"):
        jobs.register_kind("local", lambda params, ctx: None)
    assert jobs.JOB_KINDS["train"] == "engine.training.jobs:run_training"


def test_importing_engine_jobs_loads_neither_torch_nor_duckdb():
    code = "import sys, engine.jobs; print(sorted(m for m in ('torch', 'duckdb', 'streamlit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


def test_a_search_job_in_a_worker_is_then_served_from_the_cache(tiny_llama_dir):
    from engine.config import SearchConfig
    from engine.runner import Runner

    config = {"model": str(tiny_llama_dir), "mode": "reward", "device": "cpu"}
    params = {"config": config, "prompt": "What is the best thing ever?"}
    job = jobs.wait(jobs.submit("search", params, label="tiny").id, 120)
    assert job.status == "done", (job.error, Path(job.log_path).read_text()[-2000:])
    assert job.stage == "writing" and job.done == job.total == job.result["n_scores"] > 0
    assert job.result["from_cache"] is False
    served = Runner().cached(SearchConfig(**config), params["prompt"])
    assert served.run["run_id"] == job.result["run_id"] and len(served.scores) == job.result["n_scores"]
    again = jobs.wait(jobs.submit("search", params).id, 120)  # a new job, answered from the cache
    assert again.id != job.id and again.result["from_cache"] is True
    assert again.result["run_id"] == job.result["run_id"]


def test_search_stages_know_when_a_gguf_model_is_assembled_or_converted_first(tmp_path, valuescope_home):
    from engine.gguf import MARKER, converted_dir
    from engine.jobs.kinds import converted_folder, pending_conversion
    from engine.registry import REGISTRY, resolve_spec

    assert pending_conversion(REGISTRY["gemma3-270m"], valuescope_home) == "assembling"  # chunked package
    assert pending_conversion(REGISTRY["smollm2-135m-instruct"], valuescope_home) == "converting"
    assert pending_conversion(resolve_spec("Skywork/Skywork-Reward-V2-Qwen3-8B"), valuescope_home) is None
    gguf_file = tmp_path / "dummy.gguf"
    gguf_file.write_bytes(b"not really a model")
    spec = resolve_spec(str(gguf_file))
    assert pending_conversion(spec, valuescope_home) == "converting"
    folder = converted_folder(spec, valuescope_home)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("{}")
    assert pending_conversion(spec, valuescope_home) is None
    # the engine finds the same folder (were it another, it would try to convert the dummy file and fail)
    assert converted_dir(spec, valuescope_home)[0] == folder


def test_battery_and_implicit_kinds_report_per_prompt_and_per_run(tiny_llama_dir, tiny_gemma_dir):
    prompts = ["greatest_ever_one", "worst_time_single"]
    config = {"model": str(tiny_llama_dir), "mode": "logprob", "device": "cpu"}
    seen, stages = [], []
    job = jobs.run_foreground("battery", {"config": config, "prompts": prompts, "words": ["love", "freedom"]},
                              progress=lambda d, t: seen.append((d, t)), stage=lambda name, _: stages.append(name))
    assert [r["prompt_key"] for r in job.result["runs"]] == prompts
    assert {d for d, _ in seen} == {0, 1, 2} and {t for _, t in seen} == {2}
    assert stages == ["loading", "scoring", "writing", "scoring", "writing"]  # the model loads once

    implicit = {"pairs": [[str(tiny_llama_dir), str(tiny_gemma_dir)]], "prompts": prompts[:1],
                "words": ["love", "freedom"], "vocab": False, "templates": [["chat", "chat"]],
                "base": {"device": "cpu"}, "resamples": 99}
    job = jobs.run_foreground("implicit", implicit)
    assert (job.done, job.total) == (2, 2)  # one prompt, two sides, named words only
    assert [(r["side"], r["from_cache"]) for r in job.result["runs"]] == [("a", False), ("b", False)]
    stages.clear()
    again = jobs.run_foreground("implicit", implicit, stage=lambda name, _: stages.append(name))
    assert all(r["from_cache"] for r in again.result["runs"]) and stages == []  # nothing loaded
