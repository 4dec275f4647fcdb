"""What a job's target sees (`JobContext`), its heartbeat, and how an exception becomes a status."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from engine.errors import Cancelled, is_out_of_memory, is_user_error, user_message
from engine.jobs.liveness import HEARTBEAT_S
from engine.jobs.store import Job, JobStore

WRITE_INTERVAL_S = 0.25  # progress reaches the store at most 4 times a second
CANCEL_POLL_S = 0.5  # cancelled() reads the store at most twice a second
JobCancelled = Cancelled  # raised by a target (or by the worker on SIGTERM) to stop: the job ends `cancelled`


class JobContext:
    """Handed to `target(params, ctx)`: report progress and stages, check for cancellation.

    progress() may be called thousands of times a second: it keeps the newest values in memory and
    writes them at most every WRITE_INTERVAL_S (and when done reaches total); the heartbeat thread
    writes whatever is left."""

    def __init__(self, store: JobStore, job: Job, on_progress: Callable[[int, int], None] | None = None,
                 on_stage: Callable[[str, str | None], None] | None = None):
        self.store, self.job_id, self.home = store, job.id, store.home
        self._lock = threading.Lock()
        self._state = {"stage": job.stage, "done": job.done, "total": job.total, "message": job.message}
        self._dirty = False
        self._last_write = 0.0
        self._last_cancel_read = 0.0
        self._cancel = threading.Event()
        self.lost = False  # the row stopped being `running` under us (forced cancel, declared interrupted)
        self._on_progress, self._on_stage = on_progress, on_stage

    @property
    def log_dir(self) -> Path:
        return self.store.jobs_dir

    def progress(self, done: int, total: int, message: str | None = None) -> None:
        with self._lock:
            self._state.update(done=int(done), total=int(total))
            if message is not None:
                self._state["message"] = message
            self._dirty = True
            due = time.monotonic() - self._last_write >= WRITE_INTERVAL_S or done >= total
        if self._on_progress is not None:
            self._on_progress(done, total)
        if due:
            self.flush()

    def note(self, done: int, total: int, message: str) -> None:
        """A count inside a stage told in the message only, the bar left where it is: for jobs whose bar
        counts units (prompts, runs) while one unit converts or writes. Written as progress() is."""
        with self._lock:
            self._state["message"] = message
            self._dirty = True
            due = time.monotonic() - self._last_write >= WRITE_INTERVAL_S or done >= total
        if due:
            self.flush()

    def stage(self, name: str, message: str | None = None) -> None:
        """Enter a stage (assembling, converting, loading, scoring, writing, ...); written at once."""
        with self._lock:
            self._state.update(stage=name, message=message or name.capitalize())
            self._dirty = True
        if self._on_stage is not None:
            self._on_stage(name, message)
        self.flush()

    def cancelled(self) -> bool:
        """True once a cancel was requested (read from the store at most every CANCEL_POLL_S)."""
        if not self._cancel.is_set() and time.monotonic() - self._last_cancel_read >= CANCEL_POLL_S:
            self._last_cancel_read = time.monotonic()
            job = self.store.get(self.job_id)
            self._note(None if job is None or job.status != "running" else job.cancel_requested)
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise JobCancelled("Cancelled: nothing was saved.")

    def flush(self) -> None:
        """Write pending progress, with a heartbeat."""
        with self._lock:
            sets = dict(self._state) if self._dirty else {}
            self._dirty = False
            self._last_write = time.monotonic()
        answer = self.store.touch(self.job_id, heartbeat_at=time.time(), **sets)
        self._last_cancel_read = time.monotonic()
        self._note(answer)

    def _note(self, cancel_requested: bool | None) -> None:
        if cancel_requested is None:  # no longer running: stop as if cancelled
            self.lost = True
        if cancel_requested is None or cancel_requested:
            self._cancel.set()


class Heartbeat:
    """A daemon thread writing the context's heartbeat (and any unwritten progress) every HEARTBEAT_S."""

    def __init__(self, ctx: JobContext, interval_s: float = HEARTBEAT_S):
        self.ctx, self.interval_s = ctx, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{ctx.job_id}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.ctx.flush()
            except Exception as exc:  # noqa: BLE001 - a busy store must not kill the job; the next beat retries
                print(f"heartbeat failed: {type(exc).__name__}: {exc}", flush=True)


def is_cancellation(exc: BaseException) -> bool:
    return isinstance(exc, (KeyboardInterrupt, Cancelled))


def error_line(exc: BaseException, limit: int = 500) -> str:
    """One line for the job row; the traceback goes to the job's log."""
    if is_user_error(exc):
        text = user_message(exc)
    elif is_out_of_memory(exc):
        text = f"Out of memory ({type(exc).__name__}: {exc}): try a smaller model or batch size."
    else:
        text = f"Unexpected error ({type(exc).__name__}: {exc})"
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
