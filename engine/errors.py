"""Error checks shared by the engine and the app (no torch import: the app browses without it)."""
from __future__ import annotations


def is_out_of_memory(exc: BaseException) -> bool:
    """CPU or GPU out-of-memory, whichever library raised it (torch's CUDA error is matched by name)."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or \
        "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text
