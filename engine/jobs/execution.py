"""Run a job's target in this process under a heartbeat, and record how it ended."""
from __future__ import annotations

import importlib
import json
import time
import traceback

from engine.errors import error_code
from engine.jobs.context import Heartbeat, JobContext, error_line, is_cancellation
from engine.jobs.store import Job, JobStore


def resolve_target(target: str):
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"Job target {target!r} is not 'module:function'.")
    function = importlib.import_module(module)
    for part in name.split("."):
        function = getattr(function, part)
    return function


def execute(store: JobStore, job: Job, ctx: JobContext, reraise: bool = False) -> None:
    """Run the job's target under a heartbeat and record done / failed / cancelled. `reraise`
    (foreground runs): the target's exception propagates to the caller once recorded."""
    try:
        with Heartbeat(ctx):
            result = resolve_target(job.target)(job.params, ctx)
            json.dumps(result)  # refuse a result the store cannot hold, as a failure of this job
            ctx.flush()
        finished = time.time()
        store.update(job.id, only_if_status=("running",), status="done", result=result, finished_at=finished,
                     message=f"Done in {finished - (job.started_at or job.created_at):.1f} s")
    except BaseException as exc:  # noqa: BLE001 - every outcome must reach the store
        if is_cancellation(exc) or ctx.lost:
            sets = dict(status="cancelled", message="Cancelled: nothing was saved.")
        else:
            if not reraise:  # a worker: the traceback goes to its log; a foreground caller reports it itself
                traceback.print_exc()
            sets = dict(status="failed", error=error_line(exc), error_type=type(exc).__name__,
                        error_code=error_code(exc).value, message="Failed")
        store.update(job.id, only_if_status=("running",), finished_at=time.time(), **sets)
        if reraise:
            raise
