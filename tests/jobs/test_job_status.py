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
