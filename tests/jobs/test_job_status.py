"""One status vocabulary: a finished job's stage is its status, and a done job is complete."""
from __future__ import annotations

import engine.jobs as jobs
from engine.options import FINISHED_STATUSES, LIVE_STATUSES, RUN_STATUSES


def partly_counted(params, ctx):
    ctx.stage("scoring", "Scoring")
    ctx.progress(5, 6)  # answered before the count reached its total, as a cached search is
    return {"ok": True}


def test_a_finished_job_shows_its_status_as_stage_and_full_progress():
    jobs.register_kind("partly_counted", partly_counted)
    job = jobs.run_foreground("partly_counted", {})
    assert (job.status, job.stage, job.fraction()) == ("done", "done", 1.0)


def test_jobs_and_runs_share_the_status_words():
    assert jobs.STATUSES == LIVE_STATUSES + FINISHED_STATUSES
    assert set(RUN_STATUSES) <= set(jobs.STATUSES)


def test_liveness_is_checked_only_for_live_rows(monkeypatch, tiny_llama_dir):
    """Listing jobs and runs asks the OS about the queued/running rows only, not about every finished one."""
    import engine.jobs.liveness as liveness
    import engine.store.db as db
    from helpers import cached_tiny_search

    jobs.register_kind("partly_counted", partly_counted)
    for _ in range(3):
        jobs.run_foreground("partly_counted", {})
    cached_tiny_search(tiny_llama_dir, "What is the best thing ever?")
    asked = []
    for module in (liveness, db):
        real = module.process_state
        monkeypatch.setattr(module, "process_state", lambda pid, started, real=real: asked.append(pid) or real(pid, started))
    assert len(jobs.list_jobs()) >= 3 and not asked
    assert (db.Cache().list_runs()["status"] == "done").all() and not asked
    store = jobs.JobStore()
    with store.connect(write=True) as con:  # one row left "running" by a process that is gone
        store.insert(con, id="gone", kind="k", key="k", params="{}", target="m:f", status="running", pid=2**22 - 1,
                     pid_started_at=1.0, created_at=0, heartbeat_at=0)
    assert jobs.get("gone").status == "interrupted" and asked == [2**22 - 1]
