"""Long work from the pages runs as engine jobs (worker processes, engine/jobs); pages only poll status.

A page submits a job keyed by what it computes (a search's request key), so a reload, another
session or an app restart finds the same job again with `engine.jobs.latest_for_key`. The progress
fragment reads one SQLite row about once a second and nothing else.
"""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

import engine.jobs as jobs
from app.ui.messages import guard, public_safe
from app.ui.resources import home
from engine.errors import InputError
from engine.policy import ServerPolicy, check_search_config
from engine.workflows.requests import SearchRequest

POLL_S = 1.0
STAGE_LABELS = {"queued": "Queued", "waiting": "Waiting for a free worker", "starting": "Starting",
                "assembling": "Assembling", "converting": "Converting", "loading": "Loading", "scoring": "Scoring",
                "writing": "Writing", "training": "Training", "evaluating": "Evaluating"}


def check_capacity(key: str | None = None) -> None:
    """Refuse a new job when the server's limit of running jobs is reached (joining a live job is free)."""
    policy = ServerPolicy.from_env()
    if key is not None and (live := jobs.latest_for_key(key, home=home())) is not None and live.live:
        return
    running = jobs.list_jobs(status=jobs.LIVE, limit=None, home=home())
    if len(running) >= policy.max_jobs:
        raise InputError(f"{len(running)} jobs are already running on this server (the limit is {policy.max_jobs}): "
                         "try again when one has finished.")


def submit_search(request: SearchRequest, runs: list | None = None) -> jobs.Job:
    """Start (or join) a search job for this request (`runs`: its resolved runs, if already at hand),
    within the server's policy."""
    check_search_config(request.config)
    key = SearchRequest.job_key(runs or request.resolve(home()))
    check_capacity(key)
    return jobs.submit(request.kind, request.to_params(), key=key, label=request.label(), home=home())


def failure(job: jobs.Job) -> str:
    """Why a job did not finish, in one line, never empty."""
    reason = job.error or job.message
    return reason or f"The job ended {job.status} without a message" + (f"; its log: {job.log_path}" if job.log_path else ".")


def live_job(key: str) -> jobs.Job | None:
    """The newest job with this key, whatever its state (None if there never was one)."""
    return jobs.latest_for_key(key, home=home())


def describe(job: jobs.Job, eta_s: float | None = None) -> str:
    """The progress line: the stage by name, what it is doing, its fraction, time taken and left."""
    stage = STAGE_LABELS.get(job.stage or job.status, (job.stage or job.status).capitalize())
    message = public_safe(job.message or stage)
    if job.live and not message.startswith(stage):
        message = f"{stage}: {message}"
    share = f" {job.fraction():.0%}" if job.live and job.total else ""
    left = f", about {_duration(eta_s)} left" if eta_s is not None else ""
    return f"{message}{share} ({job.elapsed_s():.0f} s{left})"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def remaining_s(job: jobs.Job, now: float | None = None) -> float | None:
    """Seconds left at the throughput measured since this page first saw the job's progress move: the
    first sample (time, done) is kept per job in the session; None until the progress has moved."""
    now = now or time.time()
    samples = st.session_state.setdefault("job_progress_samples", {})
    first = samples.get(job.id)
    if first is None or job.done < first[1] or job.total != first[2]:  # a new stage counts afresh
        samples[job.id] = (now, job.done, job.total)
        return None
    moved, took = job.done - first[1], now - first[0]
    if moved <= 0 or took <= 0 or not job.total:
        return None
    return (job.total - job.done) * took / moved


@st.fragment(run_every=POLL_S)
def job_progress(job_id: str, allow_cancel: bool = True) -> None:
    """A live progress line with a Cancel button; reruns the whole page when the job ends."""
    job = jobs.get(job_id, home=home())
    if job is None:
        return
    st.progress(job.fraction(), text=describe(job, remaining_s(job) if job.live else None))
    if allow_cancel:
        st.button("Cancel", key=f"cancel-{job.id}", icon=":material/stop:",
                  on_click=lambda: jobs.cancel(job.id, home=home()), disabled=not job.live or job.cancel_requested)
    if job.finished:
        time.sleep(0.05)
        st.rerun()


@st.fragment(run_every=POLL_S * 2)
def jobs_table(limit: int = 100, allow_cancel: bool = True) -> None:
    """Running and recent jobs of this data folder (any session, the CLI's included), newest first."""
    with guard("Jobs") as g:  # a damaged or read-only job store is one message, never a traceback
        listed = jobs.list_jobs(limit=limit, home=home())
    if g.failed:
        return
    if not listed:
        st.info("No jobs yet: searches, implicit-RM runs and training started here or from the CLI appear here.",
                icon=":material/info:")
        return
    now = time.time()
    table = pd.DataFrame([{
        "job": j.id[:12], "kind": j.kind, "what": j.label, "status": j.status, "stage": j.stage,
        "progress": j.fraction(), "message": public_safe(j.error or j.message), "started": pd.Timestamp(j.created_at, unit="s"),
        "seconds": round(j.elapsed_s(now)), "where": "CLI" if j.foreground else "worker"} for j in listed])
    live = [j for j in listed if j.live]
    st.caption(f"{len(live)} running or queued, {len(listed) - len(live)} finished (newest {limit} shown).")
    st.dataframe(table, hide_index=True, width="stretch", height=min(420, 38 + 35 * len(table)),
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1),
                                "started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss")})
    if allow_cancel and live:
        choice = st.selectbox("Cancel a running job", [None, *[j.id for j in live]], key="cancel_job_pick",
                              format_func=lambda i: "…" if i is None else f"{i[:12]} {next(j.label for j in live if j.id == i)}")
        if choice and st.button("Cancel job", icon=":material/stop:", key="cancel_job_button"):
            jobs.cancel(choice, home=home())
            st.toast("Cancel requested.", icon=":material/stop:")
