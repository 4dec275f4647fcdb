"""Long work (model loads and GGUF conversion, vocabulary searches, batteries, training) runs in
separate OS processes, so the app stays responsive and a page reload or app restart loses nothing.

Job model. `submit(kind, params)` records a job in `<home>/jobs.sqlite` and starts
`python -m engine.jobs.worker JOB_ID` in its own session, output in `<home>/jobs/<id>.log`.
A kind names a trusted "module:function" (`JOB_KINDS`, `register_kind`) run as
`function(params, ctx)`; `ctx` reports stages and throttled progress, answers `cancelled()`, and a
heartbeat thread writes every 2 s. A request with the key of a live job joins it. At most
VALUESCOPE_MAX_JOBS workers run at once (engine.policy: 4, 2 on a public server); others wait `queued`. Statuses: queued,
running, done, failed (one-line error; traceback in the log), cancelled, interrupted. `cancel`
asks the job to stop, then after a grace period sends SIGTERM and SIGKILL to its process group.
Any read (`get`, `latest_for_key`, `list_jobs`) marks a live job whose process is gone, not its
own any more (pid reused: pid and start time must both match) or silent for 30 s `interrupted`.
`run_foreground` runs a kind inside the caller (the CLI), recorded with the caller's pid.

Databases under several processes. The job store is SQLite in WAL mode: readers never wait,
writers queue on a 30 s busy timeout, each operation opens its own connection for one statement
or one short BEGIN IMMEDIATE transaction, and progress is written at most 4 times a second. Results
stay in the DuckDB cache, which one process at a time may open: every cache operation opens a
short-lived connection and retries with back-off while another process holds the file, never
during model loading or scoring; a run is written in one transaction, so a killed worker leaves
at most a `running` row, never served. Importing engine.jobs imports neither torch nor duckdb.
"""
from engine.jobs.api import (JOB_KINDS, cancel, cleanup, default_key, get, latest_for_key, list_jobs, register_kind,
                  run_foreground, submit, wait)
from engine.jobs.context import JobCancelled, JobContext
from engine.jobs.store import FINISHED, LIVE, STATUSES, Job, JobStore

__all__ = ["FINISHED", "JOB_KINDS", "LIVE", "STATUSES", "Job", "JobCancelled", "JobContext", "JobStore", "cancel",
           "cleanup", "default_key", "get", "latest_for_key", "list_jobs", "register_kind", "run_foreground",
           "submit", "wait"]
