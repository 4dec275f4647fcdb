"""Errors a user can act on, and the one check for running out of memory (no torch import here).

Every error caused by input, environment or data (a bad option, a missing model, a damaged cache)
derives from `UserError`: the CLI prints it as one line and the app as one message. Anything else
is a bug and keeps its traceback. The subclasses also derive from the matching built-in exception,
so callers that catch ValueError or KeyError keep working.

Where an error crosses a process boundary (a job's row), it travels as an `ErrorCode`, not a class name:
pages and the CLI branch on the code.
"""
from __future__ import annotations

from enum import StrEnum


class UserError(Exception):
    """Something the user can fix; its message says what and how."""


class InputError(UserError, ValueError):
    """A bad option, prompt, file content or combination of settings."""


class NotFoundError(UserError, KeyError):
    """A run, model, lexicon or prompt that does not exist."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder named by the user that is not there."""


class ModelLoadError(UserError, RuntimeError):
    """A model that cannot be found, read or converted."""


class ModelTooLargeError(ModelLoadError):
    """The weights alone would not fit the device's free memory."""


class CacheError(UserError, RuntimeError):
    """The DuckDB cache cannot be used as it is."""


class CacheLockedError(CacheError):
    """Another process holds the cache file for writing."""


class CacheDamagedError(CacheError):
    """The cache file is not a readable DuckDB database (empty, truncated or overwritten)."""


class CacheReadOnlyError(CacheError):
    """The cache can be read but not written (read-only file or folder)."""


class JobStoreError(UserError, RuntimeError):
    """The job store (jobs.sqlite) cannot be used as it is: damaged, read-only or on a full disk."""


class NotCachedError(NotFoundError):
    """A cached-only request asked for a run that is not in the cache."""


class Cancelled(UserError):
    """Work stopped on request; nothing partial was saved."""


# Exceptions whose message is meant for the user: ours, and the built-ins that libraries raise for bad input.
USER_ERRORS = (UserError, ValueError, KeyError, FileNotFoundError)


class ErrorCode(StrEnum):
    """Why a job failed, as its row records it (`error_code`)."""

    INPUT = "input"  # InputError
    NOT_CACHED = "not_cached"  # a cached-only request met a run that is not in the cache
    NOT_FOUND = "not_found"
    MISSING_FILE = "missing_file"
    MODEL_TOO_LARGE = "model_too_large"
    MODEL_LOAD = "model_load"
    CACHE_LOCKED = "cache_locked"
    CACHE = "cache"  # damaged or read-only
    JOB_STORE = "job_store"
    CANCELLED = "cancelled"
    OUT_OF_MEMORY = "out_of_memory"
    USER = "user"  # any other user error (a library's ValueError, KeyError, FileNotFoundError)
    SYSTEM = "system"  # the machine said no: permissions, a full disk, no process to spare
    BUG = "bug"  # anything else: the traceback is in the job's log

    @property
    def is_user_error(self) -> bool:
        return self not in (ErrorCode.BUG, ErrorCode.SYSTEM, ErrorCode.OUT_OF_MEMORY)


# Most specific first: an exception gets the code of the first class it is an instance of.
ERROR_CODES: tuple[tuple[type[BaseException], ErrorCode], ...] = (
    (NotCachedError, ErrorCode.NOT_CACHED), (NotFoundError, ErrorCode.NOT_FOUND),
    (MissingFileError, ErrorCode.MISSING_FILE), (ModelTooLargeError, ErrorCode.MODEL_TOO_LARGE),
    (ModelLoadError, ErrorCode.MODEL_LOAD), (CacheLockedError, ErrorCode.CACHE_LOCKED), (CacheError, ErrorCode.CACHE),
    (JobStoreError, ErrorCode.JOB_STORE), (Cancelled, ErrorCode.CANCELLED), (KeyboardInterrupt, ErrorCode.CANCELLED),
    (InputError, ErrorCode.INPUT),
)


def error_code(exc: BaseException) -> ErrorCode:
    """The code a job records for `exc`."""
    for cls, code in ERROR_CODES:
        if isinstance(exc, cls):
            return code
    if is_out_of_memory(exc):
        return ErrorCode.OUT_OF_MEMORY
    if is_user_error(exc):
        return ErrorCode.USER
    return ErrorCode.SYSTEM if isinstance(exc, OSError) else ErrorCode.BUG


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, USER_ERRORS)


def user_message(exc: BaseException) -> str:
    """The message of a user error as one would say it (a KeyError's argument without its quotes)."""
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def is_out_of_memory(exc: BaseException) -> bool:
    """CPU or GPU out-of-memory, whichever library raised it (torch's CUDA error is matched by name)."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or \
        "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text
