"""Why a DuckDB cache file cannot be used, as an error the user can act on.

DuckDB says what went wrong only in its messages (every failure is an IOException or a plain Error),
so they are matched here, once: a file that is not a DuckDB database (empty, overwritten), one cut
short (a read past its end), one whose blocks fail their checksums, a file or folder that cannot be
written or read, a full disk, and a lock held by another process (DuckDB names its PID).
"""
from __future__ import annotations

import re
from pathlib import Path

from engine.errors import CacheDamagedError, CacheError, CacheLockedError, CacheReadOnlyError

REPAIR_HINT = ("`valuescope cache check` lists what still reads cleanly; `valuescope cache repair` copies every "
               "readable run into a new file and sets the damaged one aside")
# message fragment (lower case) -> what it means for the file
_DAMAGE = {
    "not a valid duckdb database file": "not a DuckDB database: empty or overwritten",
    "could not read enough bytes": "truncated: part of the file is missing",
    "corrupt database file": "corrupt: a block fails its checksum",
    "checksum": "corrupt: a block fails its checksum",
    "invalid block": "corrupt: an invalid block",
    "failed to load metadata": "corrupt: its metadata cannot be read",
    "database has been invalidated": "unusable after an earlier read error",
}
_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def damage_of(exc: BaseException) -> str | None:
    """What is wrong with the file, if `exc` says it is damaged; None otherwise."""
    text = str(exc).lower()
    return next((what for fragment, what in _DAMAGE.items() if fragment in text), None)


def is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "could not set lock" in text or "conflicting lock" in text


def lock_holder(exc: BaseException) -> int | None:
    """The PID DuckDB names as holding the file's lock, if it does."""
    found = _LOCK_PID.search(str(exc))
    return int(found.group(1)) if found else None


def locked_error(path: Path, exc: BaseException, waited_s: float) -> CacheLockedError:
    pid = lock_holder(exc)
    holder = f"PID {pid} on this host" if pid else "another process"
    return CacheLockedError(f"The cache {path} is locked by {holder}: another valuescope command or app writes "
                            f"to it (waited {waited_s:.0f} s). Try again when it has finished.")


def explain(exc: BaseException, path: Path) -> CacheError | None:
    """The CacheError that `exc`, raised by DuckDB while opening or using `path`, stands for; None when it
    is none of the known conditions (then it is a bug, and keeps its traceback)."""
    damage = damage_of(exc)
    if damage:
        return CacheDamagedError(f"The cache {path} is damaged ({damage}). {REPAIR_HINT}.")
    text = str(exc).lower()
    if "read-only mode" in text or "read-only file system" in text:
        return CacheReadOnlyError(f"The cache {path} is read-only (the file or its folder cannot be written): runs "
                                  "can be listed and exported, not added or deleted. Make it writable, or use another "
                                  "data folder with --home / VALUESCOPE_HOME.")
    if "no space left on device" in text or "disk quota exceeded" in text:
        return CacheError(f"The disk holding the cache {path} is full: nothing of this change was saved (runs "
                          "already cached are intact). Free some space and run it again, or use another data folder "
                          "with --home / VALUESCOPE_HOME.")
    if "permission denied" in text:
        return CacheError(f"The cache {path} cannot be opened: permission denied (the file, its folder or its .wal "
                          "file belongs to another user). Fix its permissions, or use another data folder with "
                          "--home / VALUESCOPE_HOME.")
    if is_lock_conflict(exc):
        return locked_error(path, exc, 0)
    return None
