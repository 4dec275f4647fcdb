"""Errors as one readable message in the page; tracebacks go to the server log, never to the page.
In public mode (engine/policy.py) messages carry no server paths or process ids."""
from __future__ import annotations

import logging
import re

import streamlit as st

from engine.errors import CacheLockedError, ModelTooLargeError, is_out_of_memory, is_user_error, user_message
from engine.policy import ServerPolicy

log = logging.getLogger("valuescope.app")

# An absolute path: POSIX (not the "/" inside "owner/name", a URL or a fraction) or Windows (C:\...).
_POSIX_PATH = re.compile(r"(?<![\w.:/~\\-])/(?:[^\s'\"`()<>,;:|]+/?)*")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\[^\s'\"`()<>,;|]*")
_PID = re.compile(r"\b(PID|pid)(\s*[:=]?\s*)\d+")


def scrub_server_details(text: str) -> str:
    """`text` without absolute paths (each becomes …/<its last part>) and process ids."""
    def last_part(match: re.Match) -> str:
        parts = [p for p in re.split(r"[/\\]", match.group(0)) if p]
        return "…/" + parts[-1] if parts else "…/"

    text = _WINDOWS_PATH.sub(last_part, _POSIX_PATH.sub(last_part, text))
    return _PID.sub(lambda m: f"{m.group(1)}{m.group(2)}(hidden)", text)


def public_safe(text, policy: ServerPolicy | None = None) -> str:
    """`text` as a visitor may see it: scrubbed of server details in public mode, unchanged otherwise."""
    text = "" if text is None else str(text)
    return scrub_server_details(text) if (policy or ServerPolicy.from_env()).public else text


SERVER_DETAIL_COLUMNS = ("model_id", "model_source", "error", "params")  # run columns that can name server paths


def public_safe_table(table, columns=SERVER_DETAIL_COLUMNS, policy: ServerPolicy | None = None):
    """`table` (a DataFrame of runs or jobs) as a visitor may see it: its text `columns` scrubbed in public mode."""
    if not (policy or ServerPolicy.from_env()).public:
        return table
    table = table.copy()
    for column in (c for c in columns if c in table.columns):
        table[column] = table[column].map(lambda v: v if v is None or v != v else scrub_server_details(v))
    return table


def friendly_message(exc: BaseException) -> str:
    """One paragraph for an exception the user can act on; never a traceback."""
    return public_safe(_message(exc))


def _message(exc: BaseException) -> str:
    if is_out_of_memory(exc) and not isinstance(exc, ModelTooLargeError):
        return ("The machine ran out of memory: this model (or batch) is too large for it. Try a smaller model, "
                "4-bit/8-bit quantisation on a GPU, a smaller batch size, or the command line on a bigger machine.")
    if isinstance(exc, CacheLockedError):
        return f"The cache is busy: {exc}"
    if is_user_error(exc) or isinstance(exc, PermissionError):
        return user_message(exc)
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"Unexpected error ({type(exc).__name__}). The details are in the server log."


def show_error(exc: BaseException, what: str | None = None) -> None:
    """An st.error for `exc`, logged with its traceback on the server for unexpected types."""
    if not is_user_error(exc):
        log.error("error in the app", exc_info=exc)
    st.error((f"**{what}**: " if what else "") + friendly_message(exc), icon=":material/error:")


class guard:
    """`with guard("Loading the lexicon") as g:` shows any exception as an st.error; `g.failed` tells
    whether it did. Streamlit's own control flow (reruns, st.stop) passes through untouched."""

    def __init__(self, what: str | None = None):
        self.what, self.failed, self.error = what, False, None

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, Exception):
            return False
        self.failed, self.error = True, exc
        show_error(exc, self.what)
        return True
