"""Start, join, watch, cancel and clean up jobs; run one in the foreground (the CLI)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from engine.errors import error_code
from engine.paths import REPO_ROOT
from engine.jobs.context import JobContext
from engine.jobs.liveness import CANCEL_GRACE_S, KILL_AFTER_S, refresh, refresh_all, signal_job
from engine.processes import process_started_at
from engine.jobs.store import Job, JobStore
from engine.jobs.execution import execute

# kind -> "module:function" run as function(params: dict, ctx: JobContext) -> JSON-able result.
# Only trusted code maps kinds to targets: a request names a kind, never a target.
JOB_KINDS: dict[str, str] = {
    "search": "engine.jobs.kinds:run_search",
    "battery": "engine.jobs.kinds:run_battery",
    "implicit": "engine.jobs.kinds:run_implicit",
    "values": "engine.jobs.kinds:run_values",
    # Written by the training work: run_training(params, ctx) reports ctx.stage("training") and
    # ctx.progress(step, steps), checks ctx.cancelled() between steps, returns e.g. {"model_dir": ...}.
    "train": "engine.training.jobs:run_training",
}


def register_kind(name: str, target: str | Callable) -> str:
    """Add (or replace) a job kind: `target` is "module:function" or a module-level function, which
    the worker process imports by name (its module must be importable there: the parent's sys.path
    is passed on)."""
    if callable(target):
        if "<locals>" in target.__qualname__ or target.__module__ == "__main__":
            raise ValueError(f"{target!r} cannot be imported by a worker: define it at module level in a module.")
        target = f"{target.__module__}:{target.__qualname__}"
    module, _, function = target.partition(":")
    if not module or not function:
        raise ValueError(f"Job target {target!r} is not 'module:function'.")
    JOB_KINDS[name] = target
    return target


def _target_for(kind: str) -> str:
    if kind not in JOB_KINDS:
        raise ValueError(f"Unknown job kind {kind!r}; known: {', '.join(sorted(JOB_KINDS))}.")
    return JOB_KINDS[kind]


def default_key(kind: str, params: dict) -> str:
    """Identity of a request: its kind and its parameters (canonical JSON)."""
    text = kind + "\n" + json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _new_row(store: JobStore, kind: str, params: dict, key: str | None, label: str | None, **values) -> dict:
    job_id = uuid.uuid4().hex[:16]
    try:
        params_json = json.dumps(params, sort_keys=True)
    except TypeError as exc:
        raise ValueError(f"Job parameters must be JSON: {exc}") from exc
    return dict(id=job_id, kind=kind, key=key or default_key(kind, params), label=label or kind, params=params_json,
                target=_target_for(kind), created_at=time.time(), log_path=str(store.jobs_dir / f"{job_id}.log"),
                **values)


def submit(kind: str, params: dict, key: str | None = None, label: str | None = None, home=None) -> Job:
    """Start `kind` on `params` in a worker process, or join the live job with the same key."""
    store = JobStore(home)
    row = _new_row(store, kind, params, key, label, status="queued", stage="queued", message="Queued")
    with store.connect(write=True) as con:  # one submitter at a time: two identical requests, one job
        for job in store.select("key = ? AND status IN ('queued', 'running')", [row["key"]], con=con):
            job = refresh(store, job, con=con)
            if job.live and not job.cancel_requested:
                return job
        store.insert(con, **row)
    try:
        _spawn(store, row["id"])
    except OSError as exc:
        store.update(row["id"], status="failed", finished_at=time.time(), error=f"Could not start a worker: {exc}",
                     error_type=type(exc).__name__, error_code=error_code(exc).value, message="Failed")
    return store.get(row["id"])


def _child_pythonpath() -> str:
    """The repository, the caller's PYTHONPATH and the caller's own import path entries (a test's
    folder), without the interpreter's library folders, which the child finds by itself."""
    libraries = {os.path.realpath(sysconfig.get_path(name)) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    libraries |= {os.path.realpath(p) for p in site.getsitepackages() + [site.getusersitepackages()]}
    own = [os.path.realpath(p or os.getcwd()) for p in sys.path]
    own = [p for p in own if not any(p == lib or p.startswith(lib + os.sep) for lib in libraries)]
    given = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    entries = [str(REPO_ROOT), *given, *own]
    return os.pathsep.join(p for i, p in enumerate(entries) if os.path.isdir(p) and p not in entries[:i])


def _spawn(store: JobStore, job_id: str) -> None:
    store.jobs_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, VALUESCOPE_HOME=str(store.home), PYTHONPATH=_child_pythonpath())
    with open(store.jobs_dir / f"{job_id}.log", "ab") as log:
        # Own session: it outlives the app's reruns, and a cancel can signal its whole process group.
        proc = subprocess.Popen([sys.executable, "-m", "engine.jobs.worker", job_id, "--home", str(store.home)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env)
    store.update(job_id, only_if_status=("queued",), pid=proc.pid, pid_started_at=process_started_at(proc.pid))
    # Reap it when it ends (a zombie would look alive to os.kill); the thread only sits in waitpid.
    threading.Thread(target=proc.wait, name=f"reap-{job_id}", daemon=True).start()


def get(job_id: str, home=None) -> Job | None:
    """The job, with its liveness checked (about a millisecond: one SQLite read, one /proc read)."""
    store = JobStore(home)
    job = store.get(job_id)
    return refresh(store, job) if job is not None else None


def latest_for_key(key: str, home=None) -> Job | None:
    """The newest job with this key, live or finished."""
    store = JobStore(home)
    jobs = store.select("key = ?", [key], limit=1)
    return refresh(store, jobs[0]) if jobs else None


def list_jobs(status: str | tuple[str, ...] | None = None, kind: str | None = None, limit: int | None = 200,
              home=None) -> list[Job]:
    """Jobs, newest first; `status` is one status or several. Liveness is checked before filtering."""
    store = JobStore(home)
    where, args = ["1"], []
    if kind:
        where.append("kind = ?")
        args.append(kind)
    jobs = refresh_all(store, store.select(" AND ".join(where), args, limit=limit))
    wanted = (status,) if isinstance(status, str) else status
    return [j for j in jobs if not wanted or j.status in wanted]


def wait(job_id: str, timeout_s: float | None = None, poll_s: float = 0.1, home=None) -> Job:
    """Poll until the job has ended; TimeoutError after `timeout_s`."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        job = get(job_id, home)
        if job is None:
            raise KeyError(f"No job {job_id!r}.")
        if job.finished:
            return job
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"Job {job_id} still {job.status} ({job.message}) after {timeout_s} s.")
        time.sleep(poll_s)


def cancel(job_id: str, home=None, grace_s: float = CANCEL_GRACE_S, wait: bool = False) -> Job | None:
    """Ask a job to stop at its next check. If it is still there after `grace_s`, SIGTERM, then
    SIGKILL after KILL_AFTER_S, and mark it cancelled. That escalation runs in a daemon thread, or
    in the caller with `wait=True`; should the caller go away, the next liveness check finishes it."""
    store = JobStore(home)
    job = store.get(job_id)
    if job is None or not job.live:
        return job
    now = time.time()
    store.update(job_id, cancel_requested=1, cancel_requested_at=now, message="Cancelling…")
    if job.status == "queued" and not job.pid:  # no worker yet; one that starts now sees the status and stops
        store.update(job_id, only_if_status=("queued",), status="cancelled", finished_at=now,
                     message="Cancelled before it started.")
    if wait:
        _enforce_cancel(store, job_id, grace_s)
    else:
        threading.Thread(target=_enforce_cancel, args=(store, job_id, grace_s), daemon=True).start()
    return get(job_id, home)


def _enforce_cancel(store: JobStore, job_id: str, grace_s: float) -> None:
    deadline = time.monotonic() + grace_s
    for sig, until in ((None, deadline), (signal.SIGTERM, deadline + KILL_AFTER_S), (signal.SIGKILL, None)):
        job = store.get(job_id)
        if job is None or job.finished:
            return
        if sig is not None:
            signal_job(job, sig)
        while until is not None and time.monotonic() < until:
            job = refresh(store, store.get(job_id))
            if job.finished:
                return
            time.sleep(0.1)
    time.sleep(0.2)  # SIGKILL is asynchronous; the row is marked below either way
    store.update(job_id, status="cancelled", finished_at=time.time(),
                 message=f"Cancelled: stopped by force after {grace_s + KILL_AFTER_S:.0f} s; nothing was saved.")


def run_foreground(kind: str, params: dict, progress: Callable[[int, int], None] | None = None,
                   stage: Callable[[str, str | None], None] | None = None, key: str | None = None,
                   label: str | None = None, home=None) -> Job:
    """Run `kind` in this process (the CLI), recorded in the store with this pid so the app lists it.
    `progress(done, total)` and `stage(name, message)` are called as the target reports. The target's
    exception (KeyboardInterrupt included) is re-raised after the job is marked failed/cancelled."""
    store = JobStore(home)
    now, pid = time.time(), os.getpid()
    row = _new_row(store, kind, params, key, label, status="running", stage="starting", message="Starting",
                   pid=pid, pid_started_at=process_started_at(pid), foreground=1, heartbeat_at=now, started_at=now)
    row["log_path"] = None  # its output is the caller's terminal
    with store.connect(write=True) as con:
        store.insert(con, **row)
    job = store.get(row["id"])
    execute(store, job, JobContext(store, job, on_progress=progress, on_stage=stage), reraise=True)
    return store.get(job.id)


def cleanup(older_than_s: float = 30 * 86400, home=None) -> int:
    """Delete jobs that ended more than `older_than_s` ago, with their logs and result files; returns how many."""
    store = JobStore(home)
    old = store.delete_finished_before(time.time() - older_than_s)
    for job in old:
        if job.log_path:
            Path(job.log_path).unlink(missing_ok=True)
        for artifact in store.jobs_dir.glob(f"{job.id}.*"):  # e.g. the folder <id>.implicit
            if artifact.is_dir():
                shutil.rmtree(artifact, ignore_errors=True)
            else:
                artifact.unlink(missing_ok=True)
    return len(old)


__all__ = ["JOB_KINDS", "cancel", "cleanup", "default_key", "get", "latest_for_key",
           "list_jobs", "register_kind", "run_foreground", "submit", "wait"]
