"""Errors cross process boundaries as typed codes: each exception maps to one ErrorCode."""
from __future__ import annotations

import pytest

from engine.errors import (CacheLockedError, Cancelled, ErrorCode, InputError, ModelTooLargeError, NotCachedError,
                           NotFoundError, error_code, is_user_error)


@pytest.mark.parametrize("exc, code", [
    (NotCachedError("x"), ErrorCode.NOT_CACHED),  # before its base class NotFoundError
    (NotFoundError("x"), ErrorCode.NOT_FOUND),
    (ModelTooLargeError("x"), ErrorCode.MODEL_TOO_LARGE),  # before its base class ModelLoadError
    (CacheLockedError("x"), ErrorCode.CACHE_LOCKED),
    (InputError("x"), ErrorCode.INPUT),
    (Cancelled("x"), ErrorCode.CANCELLED),
    (ValueError("a library's bad input"), ErrorCode.USER),
    (MemoryError(), ErrorCode.OUT_OF_MEMORY),
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), ErrorCode.OUT_OF_MEMORY),
    (PermissionError(13, "Permission denied"), ErrorCode.SYSTEM),
    (ZeroDivisionError(), ErrorCode.BUG),
])
def test_each_exception_has_one_code(exc, code):
    assert error_code(exc) is code
    assert code.is_user_error == is_user_error(exc)  # the code agrees with the one list of user errors
