"""Run a sweep: plan its tasks, skip finished ones, dispatch the rest to a backend, import results.

The driver (this process) is the only writer of the DuckDB cache: workers stage each run as Parquet
and the driver imports it (engine.store.ingest) as soon as the worker reports, so a worker killed
midway loses only the run it was computing. A task that fails is reported, the others go on;
running the same sweep again skips every run already in the cache and retries the rest.
Backends: `local` submits one background job per task (engine.jobs; VALUESCOPE_MAX_JOBS at once);
`ray` runs one actor per GPU or CPU slot (engine.sweeps.ray_backend).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import engine.jobs as jobs
from engine.configs import SearchConfig, SweepConfig
from engine.jobs.store import FINISHED
from engine.store.db import Cache
from engine.store.ingest import ingest_staged
from engine.sweeps.plan import plan_sweep, split_list, sweep_id, sweep_prompts
from engine.sweeps.progress import SweepProgress, staging_dir
from engine.sweeps.ray_backend import run_on_ray
from engine.workflows.requests import SweepTaskRequest

Report = Callable[[SweepProgress, str], None]  # (progress, what just happened)


def run_sweep(sweep: SweepConfig, base: SearchConfig, home=None, report: Report | None = None,
              on_dispatch: Callable | None = None) -> SweepProgress:
    """Run every unfinished task of `sweep`; returns its progress record (status done or incomplete).
    `on_dispatch(worker_info)` is told when work starts on a worker (Ray: the actor's process id)."""
    cache = Cache(home)
    staging = staging_dir(home)
    ingest_staged(cache, staging)  # runs a killed driver staged but did not import
    tasks = plan_sweep(sweep, base, done=lambda key: cache.find_done(key) is not None, home=home)
    pending = [t for t in tasks if t.requests]
    progress = SweepProgress(sweep_id(tasks), sweep.backend, split_list(sweep.models, "--models"),
                             len(sweep_prompts(sweep)), len(tasks), finished=len(tasks) - len(pending))
    progress.save(home)
    tell = report or (lambda p, what: None)
    tell(progress, f"{len(tasks)} tasks, {len(pending)} to run")

    def finished(task: SweepTaskRequest, error: str | None) -> None:
        progress.runs_imported += len(ingest_staged(cache, staging).imported)
        if error is None:
            progress.finished += 1
        else:
            progress.failed.append(f"{task.label}: {error}")
        progress.save(home)
        tell(progress, f"{'failed' if error else 'done'}: {task.label}" + (f" ({error})" if error else ""))

    if pending:
        if sweep.backend == "ray":
            run_on_ray(pending, sweep, staging, finished, home, on_dispatch)
        else:
            run_as_jobs(pending, staging, finished, home)
    progress.runs_imported += len(ingest_staged(cache, staging).imported)
    progress.status = "incomplete" if progress.failed else "done"
    progress.save(home)
    tell(progress, progress.status)
    return progress


def run_as_jobs(tasks: list[SweepTaskRequest], staging, finished, home, poll_s: float = 0.5) -> None:
    """One background job per task, keyed by the task (a live job for the same task is joined)."""

    jobs.register_kind("sweep_task", "engine.sweeps.tasks:run_sweep_task")
    live = {}
    for task in tasks:
        request = dataclasses.replace(task, staging=str(staging))
        job = jobs.submit(request.kind, request.to_params(), key=request.job_key(), label=f"sweep {task.label}", home=home)
        live[job.id] = task
    while live:
        time.sleep(poll_s)
        for job_id, task in list(live.items()):
            job = jobs.get(job_id, home=home)
            if job is None or job.status in FINISHED:
                del live[job_id]
                ok = job is not None and job.status == "done"
                finished(task, None if ok else (job.error or job.status if job else "job vanished"))
