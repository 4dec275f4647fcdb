"""Run one sweep task in a worker: load its model (kept while the next task needs it), score each
pending request, and stage each run as Parquet (engine.store.ingest): workers never write the cache.

The same `TaskWorker` runs inside a local job (`run_sweep_task`, staging files on this machine) and
inside a Ray actor (engine.sweeps.ray_backend, returning the Parquet bytes to the driver).
"""
from __future__ import annotations

import time
from collections.abc import Iterator

from engine.scoring.templates import build_framing
from engine.store.ingest import run_to_parquet, stage_bytes
from engine.workflows.requests import SweepTaskRequest
from engine.workflows.runner import load_for, score_request


class TaskWorker:
    """Holds one loaded model at a time (a sweep's tasks come grouped by model)."""

    def __init__(self, home=None):
        self.home = home
        self._key, self._model = None, None

    def model(self, request):
        if request.model_key != self._key:
            self._key, self._model = None, None  # free the previous model before loading the next
            self._model, self._key = load_for(request, self.home), request.model_key
        return self._model

    def run(self, task: SweepTaskRequest, progress=None, cancel=None) -> Iterator[tuple[str, bytes]]:
        """(request key, Parquet bytes) of each pending request, as each is scored."""
        for i, request in enumerate(task.requests):
            lm = self.model(request)
            framing = build_framing(lm.tokenizer, request.prompt_text, request.template, lm.max_length)
            started = time.perf_counter()
            scores = score_request(lm, request, framing, cancel=cancel)
            record = request.record(lm, framing.template)
            record.seconds = time.perf_counter() - started
            yield request.key, run_to_parquet(record, scores)
            if progress is not None:
                progress(i + 1, len(task.requests))


def run_sweep_task(params: dict, ctx) -> dict:
    """Job kind `sweep_task`: params from SweepTaskRequest.to_params()."""
    task = SweepTaskRequest.from_params(params)
    ctx.stage("scoring", f"Sweep task {task.label}")
    worker, staged = TaskWorker(ctx.home), []
    report = lambda done, total: ctx.progress(done, total, f"{done} of {total} runs of {task.label}")  # noqa: E731
    for key, data in worker.run(task, report, ctx.cancelled):
        stage_bytes(task.staging, key, data)  # each run survives a kill of this worker
        staged.append(key)
    return {"task": task.key, "staged": staged}
