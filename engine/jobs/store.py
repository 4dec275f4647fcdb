"""The job store: one small SQLite database per data folder (`<home>/jobs.sqlite`), read and written
by the app, the CLI and every worker process.

SQLite rather than DuckDB: DuckDB lets one process open a file for writing and excludes all others,
while pages poll job status every second from one process as workers write progress from others.
In WAL mode SQLite readers never wait for writers, and writers queue on a busy timeout. Every
operation opens its own connection and holds it for one statement or one short transaction.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

from engine.errors import ErrorCode
from engine.options import FINISHED_STATUSES, LIVE_STATUSES
from engine.options import STATUSES as ALL_STATUSES
from engine.paths import home_dir
from engine.jobs.diagnosis import explain
from engine.jobs.migrations import MIGRATIONS
from engine.migrate import applied_migrations, apply_migrations

LIVE, FINISHED, STATUSES = LIVE_STATUSES, FINISHED_STATUSES, ALL_STATUSES
DB_NAME = "jobs.sqlite"

_MIGRATED: set[str] = set()  # databases this process has brought up to date
_MIGRATE_GUARD = threading.Lock()


@dataclass(frozen=True)
class Job:
    """A snapshot of one jobs row (times are seconds since the epoch)."""

    id: str
    kind: str
    key: str
    label: str | None
    params: dict
    target: str
    status: str
    stage: str | None
    done: int
    total: int
    message: str | None
    pid: int | None
    pid_started_at: float | None
    foreground: bool
    heartbeat_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    result: object
    error: str | None
    error_type: str | None  # the exception's class name, for the log reader
    error_code: ErrorCode | None  # what pages and the CLI branch on
    log_path: str | None
    cancel_requested: bool
    cancel_requested_at: float | None

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def fraction(self) -> float:
        if self.status == "done":
            return 1.0  # a job answered from the cache never counted its candidates
        return min(1.0, self.done / self.total) if self.total else 0.0

    def elapsed_s(self, now: float | None = None) -> float:
        return (self.finished_at or now or time.time()) - (self.started_at or self.created_at)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["params"] = json.loads(values["params"])
        values["result"] = json.loads(values["result"]) if values["result"] is not None else None
        values["error_code"] = ErrorCode(values["error_code"]) if values["error_code"] else None
        values["foreground"] = bool(values["foreground"])
        values["cancel_requested"] = bool(values["cancel_requested"])
        return cls(**values)


JOB_COLUMNS = [f.name for f in fields(Job)]


class JobStore:
    """Rows of `jobs.sqlite` in one data folder. Cheap to create: the schema is checked once per process."""

    def __init__(self, home=None, busy_timeout_s: float = 30.0):
        self.home: Path = home_dir(home)
        self.path: Path = self.home / DB_NAME
        self.jobs_dir: Path = self.home / "jobs"  # one log file per job
        self.busy_timeout_s = busy_timeout_s
        with _MIGRATE_GUARD:
            if str(self.path) not in _MIGRATED or not self.path.exists():  # a store set aside by repair starts afresh
                self._migrate()
                _MIGRATED.add(str(self.path))

    @contextlib.contextmanager
    def connect(self, write: bool = False):
        """A connection for one operation; `write=True` wraps it in BEGIN IMMEDIATE ... COMMIT, so a
        read-then-write (join an identical job, mark a dead one) is atomic across processes. SQLite errors
        that mean a damaged, read-only or full store become one-line JobStoreErrors (engine/jobs/diagnosis.py)."""
        try:
            con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise (explain(exc, self.path) or exc) from exc
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across process crashes, fast commits
            if write:
                con.execute("BEGIN IMMEDIATE")
            yield con
            if write:
                con.execute("COMMIT")
        except BaseException as exc:
            if con.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the first error is the one to report
                    con.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and explain(exc, self.path) is not None:
                raise explain(exc, self.path) from exc
            raise
        finally:
            con.close()

    def _migrate(self) -> None:
        with self.connect() as con:
            con.execute("PRAGMA journal_mode=WAL")  # persistent: set once, kept in the file
        with self.connect(write=True) as con:  # two processes starting together migrate one after the other
            apply_migrations(con, "jobs", MIGRATIONS)

    def schema_version(self) -> int:
        """How many steps of the job store's migration set this file has."""
        with self.connect() as con:
            return len(applied_migrations(con, "jobs"))

    # ---- rows ----------------------------------------------------------------------------------
    def insert(self, con: sqlite3.Connection, **values) -> None:
        for name in ("params", "result"):
            if name in values and not isinstance(values[name], (str, type(None))):
                values[name] = json.dumps(values[name], sort_keys=True, default=str)
        con.execute(f"INSERT INTO jobs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                    list(values.values()))

    def get(self, job_id: str, con: sqlite3.Connection | None = None) -> Job | None:
        rows = self.select("id = ?", [job_id], con=con)
        return rows[0] if rows else None

    def select(self, where: str = "1", args: list | tuple = (), limit: int | None = None,
               con: sqlite3.Connection | None = None) -> list[Job]:
        """Jobs matching `where`, newest first."""
        sql = f"SELECT * FROM jobs WHERE {where} ORDER BY created_at DESC" + (f" LIMIT {int(limit)}" if limit else "")
        if con is not None:
            return [Job.from_row(r) for r in con.execute(sql, list(args))]
        with self.connect() as c:
            return [Job.from_row(r) for r in c.execute(sql, list(args))]

    def update(self, job_id: str, only_if_status: tuple[str, ...] | None = LIVE, con: sqlite3.Connection | None = None,
               **sets) -> bool:
        """Set columns of one job, only while its status is in `only_if_status` (a job that already
        ended is never overwritten). True when the row was changed."""
        if "result" in sets and sets["result"] is not None:
            sets["result"] = json.dumps(sets["result"], sort_keys=True, default=str)
        if sets.get("status") in FINISHED:
            sets.setdefault("stage", sets["status"])  # never "starting" or "scoring" once it has ended
        sql = f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?"
        args = [*sets.values(), job_id]
        if only_if_status:
            sql += f" AND status IN ({', '.join('?' * len(only_if_status))})"
            args += list(only_if_status)
        if con is not None:
            return con.execute(sql, args).rowcount > 0
        with self.connect() as c:
            return c.execute(sql, args).rowcount > 0

    def touch(self, job_id: str, **sets) -> bool | None:
        """Progress/heartbeat write by the job's own process: None when the job is no longer running
        (it was cancelled by force or declared interrupted), else whether a cancel was requested."""
        sql = f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ? AND status = 'running' " \
              "RETURNING cancel_requested"
        with self.connect() as con:
            row = con.execute(sql, [*sets.values(), job_id]).fetchone()
        return None if row is None else bool(row[0])

    def delete_finished_before(self, before: float) -> list[Job]:
        with self.connect(write=True) as con:
            old = self.select(f"finished_at < ? AND status IN ({', '.join('?' * len(FINISHED))})",
                              [before, *FINISHED], con=con)
            con.executemany("DELETE FROM jobs WHERE id = ?", [[j.id] for j in old])
        return old
