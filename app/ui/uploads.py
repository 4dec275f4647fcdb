"""Uploaded files written where engine readers (which take paths) can read them."""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path


def save_upload(uploaded) -> Path:
    """Write an st.file_uploader file to a private temporary folder, keeping its name (engine readers
    take paths and use the file's suffix and stem)."""
    data = uploaded.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    name = Path(uploaded.name).name or "upload"
    folder = Path(tempfile.gettempdir()) / "valuescope-uploads" / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        path.write_bytes(data)
    return path


