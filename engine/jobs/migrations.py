"""Numbered schema migrations for the SQLite job store. Applied by engine.migrate.apply_migrations as the set "jobs".
Append new ones; never edit or rename an applied one."""
from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
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
]
