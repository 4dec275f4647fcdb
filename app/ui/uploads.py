"""Uploaded files as files on disk, so the engine readers (which take paths) can read them.

Uploads live in one private folder per process (`tempfile.mkdtemp`: mode 0700, readable by this user
only), which is removed when the process exits. `uploaded_file` removes its file as soon as the reader
is done; `save_upload` keeps the newest few for pages that read a file again on later reruns. Either
refuses a file over the server's upload limit (engine/policy.py).
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import shutil
import tempfile
import threading
from pathlib import Path

from engine.errors import InputError
from engine.policy import ServerPolicy

KEEP_SAVED = 8  # uploads `save_upload` keeps on disk (each page rerun saves its current one again)
_lock = threading.Lock()
_folder: Path | None = None


def _private_folder() -> Path:
    global _folder
    with _lock:
        if _folder is None or not _folder.is_dir():
            _folder = Path(tempfile.mkdtemp(prefix="valuescope-uploads-"))
            atexit.register(shutil.rmtree, _folder, True)
        return _folder


def _checked_bytes(uploaded, policy: ServerPolicy | None = None) -> bytes:
    limit_mb = (policy or ServerPolicy.from_env()).max_upload_mb
    size = getattr(uploaded, "size", None)
    data = uploaded.getvalue() if size is None or size <= limit_mb * 2**20 else b""
    size = len(data) if size is None else size
    if size > limit_mb * 2**20:
        raise InputError(f"{_file_name(uploaded)} is {size / 2**20:.1f} MB: this server accepts uploads of at most "
                         f"{limit_mb} MB.")
    return data


def _file_name(uploaded) -> str:
    """The upload's own name, without any folder part (a name like "../x" stays inside the folder)."""
    name = Path(str(getattr(uploaded, "name", "") or "").replace("\\", "/")).name.replace("\x00", "")
    return name if name not in ("", ".", "..") else "upload"


@contextlib.contextmanager
def uploaded_file(uploaded, policy: ServerPolicy | None = None):
    """`with uploaded_file(upload) as path:` the upload as a file under its own name, removed on leaving."""
    data = _checked_bytes(uploaded, policy)
    folder = Path(tempfile.mkdtemp(dir=_private_folder()))
    try:
        path = folder / _file_name(uploaded)
        path.write_bytes(data)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def save_upload(uploaded, policy: ServerPolicy | None = None) -> Path:
    """The upload as a file that outlives this call (for readers that cache by path), kept under its own
    name in a folder named after its content; only the newest KEEP_SAVED are kept."""
    data = _checked_bytes(uploaded, policy)
    root = _private_folder() / "saved"
    folder = root / hashlib.sha256(data).hexdigest()[:16]
    with _lock:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / _file_name(uploaded)
        if not path.exists():
            path.write_bytes(data)
        folder.touch()  # newest last, for pruning
        kept = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in kept[: max(0, len(kept) - KEEP_SAVED)]:
            shutil.rmtree(old, ignore_errors=True)
    return path
