"""Numbered schema migrations for the SQLite job store. Applied by engine.migrate.apply_migrations as the set "jobs".
Append new ones; never edit or rename an applied one."""
from __future__ import annotations

from engine.errors import ERROR_CODES, ErrorCode

# Codes for the class names rows recorded before error codes existed (USER_ERRORS' built-ins included).
_CODE_OF_CLASS = {cls.__name__: code for cls, code in reversed(ERROR_CODES)} | {
    "ValueError": ErrorCode.USER, "KeyError": ErrorCode.USER, "FileNotFoundError": ErrorCode.USER,
    "MemoryError": ErrorCode.OUT_OF_MEMORY, "OutOfMemoryError": ErrorCode.OUT_OF_MEMORY,
    "OSError": ErrorCode.SYSTEM, "PermissionError": ErrorCode.SYSTEM}


def _error_codes_from_class_names(con) -> None:
    con.execute("ALTER TABLE jobs ADD COLUMN error_code TEXT")  # an ErrorCode: what pages and the CLI branch on
    rows = con.execute("SELECT id, error_type FROM jobs WHERE status = 'failed'").fetchall()
    for job_id, class_name in rows:
        code = _CODE_OF_CLASS.get(class_name or "", ErrorCode.BUG)
        con.execute("UPDATE jobs SET error_code = ? WHERE id = ?", [code.value, job_id])


MIGRATIONS: list[tuple[str, object]] = [
    (
        "001 jobs",
        """
        CREATE TABLE jobs (
            id               TEXT PRIMARY KEY,
            kind             TEXT NOT NULL,     -- search | battery | implicit | train | a registered kind
            key              TEXT NOT NULL,     -- identity of the work: identical requests share one live job
            label            TEXT,              -- what a page shows, e.g. the model name
            params           TEXT NOT NULL,     -- JSON handed to the target
            target           TEXT NOT NULL,     -- "module:function", from trusted code only (JOB_KINDS)
            status           TEXT NOT NULL,     -- queued | running | done | failed | cancelled | interrupted
            stage            TEXT,              -- waiting | assembling | converting | loading | scoring | writing ...
            done             INTEGER NOT NULL DEFAULT 0,
            total            INTEGER NOT NULL DEFAULT 0,
            message          TEXT,
            pid              INTEGER,
            pid_started_at   REAL,              -- the process's start time: a live pid with another one was reused
            foreground       INTEGER NOT NULL DEFAULT 0,  -- 1: run inside the caller (CLI), not a worker
            heartbeat_at     REAL,
            created_at       REAL NOT NULL,     -- all times: seconds since the epoch (time.time())
            started_at       REAL,
            finished_at      REAL,
            result           TEXT,              -- JSON returned by the target
            error            TEXT,              -- one line
            error_type       TEXT,              -- the exception's class name
            log_path         TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            cancel_requested_at REAL
        );
        CREATE INDEX jobs_key ON jobs(key, created_at);
        CREATE INDEX jobs_status ON jobs(status);
        CREATE INDEX jobs_created ON jobs(created_at);
        """,
    ),
    ("002 error codes", _error_codes_from_class_names),
]
