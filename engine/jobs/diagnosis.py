"""Why the job store (`<home>/jobs.sqlite`) cannot be used, as one line the user can act on, and how
`valuescope cache repair` replaces a damaged one.

SQLite says what went wrong only in its messages, matched here once: a file that is not a database
(overwritten), a damaged one (cut short, a bad page), a file or folder that cannot be written or created,
and a full disk. The job store holds no results (those are in the DuckDB cache), only the list of
background jobs, so a damaged one can be set aside and started afresh without losing anything but that list.
"""
from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path

from engine.errors import JobStoreError

REBUILD_HINT = ("It holds no results, only the list of background jobs: `valuescope cache repair` sets it aside "
                "and starts a new one")
# message fragment (lower case) -> what it means for the file
_DAMAGE = {
    "file is not a database": "not an SQLite database: overwritten or garbage",
    "malformed": "damaged: truncated or a page is corrupt",
    "file is encrypted": "not an SQLite database: overwritten or garbage",
}
_FULL = ("database or disk is full", "disk i/o error", "no space left")
_READ_ONLY = ("attempt to write a readonly database", "unable to open database file", "readonly database")


def damage_of(exc: BaseException) -> str | None:
    text = str(exc).lower()
    return next((what for fragment, what in _DAMAGE.items() if fragment in text), None)


def explain(exc: sqlite3.Error, path: Path) -> JobStoreError | None:
    """The JobStoreError that `exc`, raised by SQLite while opening or using the job store `path`, stands
    for; None when it is none of the known conditions (a bug, which keeps its traceback)."""
    damage = damage_of(exc)
    if damage:
        return JobStoreError(f"The job store {path} is {damage}. {REBUILD_HINT}.")
    text = str(exc).lower()
    if any(fragment in text for fragment in _FULL):
        return JobStoreError(f"The job store {path} cannot be written: the disk is full (or failing). Free some "
                             "space and run it again; no result was lost.")
    if any(fragment in text for fragment in _READ_ONLY):
        return JobStoreError(f"The job store {path} cannot be written or created: the data folder {path.parent} or "
                             "the file is read-only. Background work (search, training) needs a writable data folder: "
                             "make it writable, or use another one with --home / VALUESCOPE_HOME.")
    return None


def check_job_store(path: str | os.PathLike) -> str | None:
    """What is wrong with the job store file `path` (read-only), or None when it reads (or does not exist)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = con.execute("PRAGMA quick_check").fetchone()
            if row and row[0] != "ok":
                return f"damaged: {row[0]}"
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        damage = damage_of(exc)
        if damage is None:
            raise explain(exc, path) or exc
        return damage
    return None


def set_aside(path: str | os.PathLike) -> Path:
    """Move a damaged job store (and its -wal/-shm files) aside as `jobs.sqlite.damaged-<timestamp>`; the next
    use creates an empty one."""
    path = Path(path)
    kept = path.with_name(f"{path.name}.damaged-{datetime.now():%Y%m%d-%H%M%S}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, kept.with_name(kept.name + suffix))
    return kept
