"""Trivial job kinds for the job-system tests, and polling helpers.

Module-level functions, so worker processes import them by name (`jobs_helpers:gated_job`): the
test's sys.path reaches the worker through PYTHONPATH. Jobs that must be observed mid-way wait for
a gate file the test creates, so nothing depends on how fast this machine is.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

import engine.jobs as jobs
from engine.jobs import JobCancelled

TIMEOUT_S = 60


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
    if params["error"] == "not cached":
        from engine.errors import NotCachedError

        raise NotCachedError("tiny has no cached vocab run for this prompt.")
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

    from engine.store.db import Cache

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


@pytest.fixture
def registered_kinds():
    """The kinds above, known to JOB_KINDS for one test (each test module uses it as autouse)."""
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
