"""Background work in threads of the app process, with progress and cancel (pages only read a Job)."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import streamlit as st

from app.ui.messages import friendly_message
from app.ui.resources import home, model_pool
from engine.configs import SearchConfig
from engine.errors import Cancelled, NotCachedError, UserError
from engine.models.pool import ModelPool
from engine.store.db import Cache
from engine.workflows.runner import RunRequest

log = logging.getLogger("valuescope.app")

FINISHED = ("done", "failed", "cancelled")


@dataclass
class Job:
    """Work running in a worker thread, so the page stays live, shows progress and can cancel it.
    The worker writes `phase`, `message`, `done`/`total` and `result`; pages only read them."""

    id: str
    key: str  # what is computed: equal keys are the same work
    label: str
    phase: str = "queued"  # queued | loading | scoring | done | failed | cancelled
    message: str = "Queued"
    done: int = 0
    total: int = 0
    error: str | None = None
    error_type: str | None = None
    result: object = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        self.cancel_event.set()
        if self.phase not in FINISHED:
            self.message = "Cancelling after the current batch…"

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def progress(self, done: int, total: int, what: str = "candidates") -> None:
        self.done, self.total = done, total
        self.message = f"Scoring: {done:,} of {total:,} {what}"


class JobBoard:
    """All background work of this process. Asking for work whose key is already running joins it
    (another session's identical search shows its progress instead of computing it twice)."""

    def __init__(self, keep_s: float = 3600, keep_finished: int = 32, keep_results: int = 6):
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self.keep_s, self.keep_finished, self.keep_results = keep_s, keep_finished, keep_results

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id or "")

    def latest(self, key: str) -> Job | None:
        """The newest job with this key, running or finished."""
        with self._lock:
            same = [j for j in self._jobs.values() if j.key == key]
        return max(same, key=lambda j: j.started) if same else None

    def submit(self, key: str, label: str, target, join: bool = True) -> Job:
        """Run `target(job)` in a daemon thread (unless a job with this key is running and `join`)."""
        with self._lock:
            self._prune()
            if join:
                for job in self._jobs.values():
                    if job.key == key and job.phase not in FINISHED:
                        return job
            job = Job(uuid.uuid4().hex[:12], key, label)
            self._jobs[job.id] = job
        threading.Thread(target=_run_job, args=(job, target), name=f"valuescope-{job.id}", daemon=True).start()
        return job

    def _prune(self) -> None:
        now = time.time()
        finished = sorted((j for j in self._jobs.values() if j.finished), key=lambda j: j.finished)
        old = [j for j in finished if now - j.finished > self.keep_s]
        old += finished[: max(0, len(finished) - self.keep_finished)]
        for job in old:
            self._jobs.pop(job.id, None)
        # results can be large (a battery of vocabulary joins): keep only the newest few in memory
        with_results = [j for j in finished if j.result is not None and j.id in self._jobs]
        for job in with_results[: max(0, len(with_results) - self.keep_results)]:
            job.result = None




def _run_job(job: Job, target) -> None:
    try:
        job.result = target(job)
        job.phase, job.message = "done", "Done"
    except BaseException as exc:  # noqa: BLE001 - a worker must report, never die silently
        if isinstance(exc, Cancelled):
            job.phase, job.message = "cancelled", "Cancelled: nothing was saved."
        else:
            if not isinstance(exc, (UserError, ValueError, KeyError, FileNotFoundError)):
                log.error("background job %s (%s) failed", job.id, job.label, exc_info=exc)
            job.phase, job.error, job.error_type = "failed", friendly_message(exc), type(exc).__name__
            job.message = "Failed"
    finally:
        job.finished = time.time()


@st.cache_resource(show_spinner=False)
def job_board() -> JobBoard:
    return JobBoard()


def _announce_load(job: Job, pool: ModelPool, request) -> None:
    """Say what the model load will do: nothing (loaded), wait for another session, or load/convert."""
    config, spec = request.config, request.spec
    state = pool.status(request)
    job.phase = "loading"
    if state == "loaded":
        job.message = f"{config.model} is loaded"
    elif state == "loading":
        job.message = f"Waiting for {config.model}: another session is loading it…"
    else:
        slow = " (its first use converts the embedded GGUF weights: about 25 s for SmolLM2, 95 s for Gemma)" \
            if spec.source.startswith("gguf-") else ""
        job.message = f"Loading {config.model}{slow}…"


def search_job(config: SearchConfig, prompt: str, words=None, candidates=None) -> Job:
    """Start (or join) a token search in the background; its result is the finished run's row."""
    from engine.workflows.runner import Runner, RunRequest

    request = RunRequest.resolve(config, prompt, words, candidates)
    pool, run_home = model_pool(), home()

    def work(job: Job):
        runner = Runner(cache=Cache(run_home), home=run_home, model_loader=pool)
        _announce_load(job, pool, request)
        lm = runner.model(request)
        if job.cancelled:
            raise Cancelled()
        job.phase = "scoring"
        job.message = "Waiting for another session's search on this model…" if lm.lock.locked() else "Scoring…"
        result = runner.run_request(request, progress=job.progress, cancel=lambda: job.cancelled)
        return result.run  # the scores are in the cache; the page reads them from there

    return job_board().submit(request.key, config.model, work)


class JobRunner:
    """Wraps an engine Runner for engine functions that call `runner.run(...)` many times (the
    implicit RM): reports each run as progress, makes every run cancellable, and in `cached_only`
    mode answers from the cache alone (raising NotCachedError), so it never loads a model."""

    def __init__(self, runner, job: Job, total_runs: int, cached_only: bool = False, pool: ModelPool | None = None):
        self.runner, self.job, self.total, self.cached_only, self.pool = runner, job, total_runs, cached_only, pool
        self.calls = 0

    def run(self, config, prompt, words=None, candidates=None, progress=None, cancel=None, refresh=False):
        if self.job.cancelled:
            raise Cancelled()
        self.calls += 1
        self.job.done, self.job.total = self.calls - 1, self.total
        what = f"run {self.calls} of {self.total}: {config.model}, {candidates or 'vocab'}"
        if self.cached_only:
            self.job.message = f"Reading cached {what}"
            result = self.runner.cached(config, prompt, words, candidates)
            if result is None:
                raise NotCachedError(f"{config.model} has no cached {candidates or 'vocab'} run for this prompt.")
            return result
        result = self.runner.cached(config, prompt, words, candidates)
        if result is not None:
            self.job.message = f"From the cache: {what}"
            return result
        if self.pool is not None:
            request = RunRequest.resolve(config, prompt, words, candidates)
            _announce_load(self.job, self.pool, request)
            self.runner.model(request)
        self.job.phase = "scoring"
        self.job.message = f"Scoring {what}"

        def progress(done: int, total: int) -> None:
            self.job.message = f"Scoring {what}: {done:,} of {total:,} candidates"

        return self.runner.run(config, prompt, words, candidates, progress=progress, cancel=lambda: self.job.cancelled)


@st.fragment(run_every=0.5)
def job_progress(job_id: str) -> None:
    """A live progress bar with a Cancel button; reruns the whole page when the job finishes."""
    job = job_board().get(job_id)
    if job is None:
        return
    elapsed = (job.finished or time.time()) - job.started
    st.progress(job.fraction(), text=f"{job.message} ({elapsed:.0f} s)")
    st.button("Cancel", key=f"cancel-{job.id}", on_click=job.cancel, icon=":material/stop:",
              disabled=job.phase in FINISHED or job.cancelled)
    if job.phase in FINISHED:
        st.rerun()


