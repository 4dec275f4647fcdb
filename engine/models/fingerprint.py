"""A content fingerprint of local weights, so a model re-saved into the same folder is a new request.

A hub model is pinned by its revision and an embedded model by its package version; a local folder
or file has neither. Its fingerprint hashes the bytes of every weight, config and tokenizer file,
memoised per (path, size, modification time) so a page that asks on every rerun reads each file once.
"""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from engine.models.manifests import file_sha256
from engine.models.registry import ModelSpec

_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".json", ".model", ".txt", ".jinja"}
_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()


def _file_digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    value = file_sha256(path)
    with _memo_lock:
        _memo[key] = value
    return value


def weights_fingerprint(spec: ModelSpec) -> str | None:
    """sha256 over a local model's files (None for hub ids and embedded packages: their revision pins them)."""
    kind, _, target = spec.source.partition(":")
    if kind == "gguf-file":
        return _file_digest(Path(target))[:16]
    folder = Path(spec.source)
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _SUFFIXES)
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(folder)}\0{_file_digest(path)}\n".encode())
    return digest.hexdigest()[:16]
