"""Errors as one readable message in the page; tracebacks go to the server log, never to the page."""
from __future__ import annotations

import logging

import streamlit as st

from engine.errors import CacheLockedError, ModelTooLargeError, UserError, is_out_of_memory

log = logging.getLogger("valuescope.app")


def friendly_message(exc: BaseException) -> str:
    """One paragraph for an exception the user can act on; never a traceback."""
    if is_out_of_memory(exc) and not isinstance(exc, ModelTooLargeError):
        return ("The machine ran out of memory: this model (or batch) is too large for it. Try a smaller model, "
                "4-bit/8-bit quantisation on a GPU, a smaller batch size, or the command line on a bigger machine.")
    if isinstance(exc, CacheLockedError):
        return f"The cache is busy: {exc} Try again in a moment."
    if isinstance(exc, (UserError, ValueError, KeyError, FileNotFoundError, PermissionError)):
        return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"Unexpected error ({type(exc).__name__}). The details are in the server log."


def show_error(exc: BaseException, what: str | None = None) -> None:
    """An st.error for `exc`, logged with its traceback on the server for unexpected types."""
    if not isinstance(exc, (UserError, ValueError, KeyError, FileNotFoundError)):
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
