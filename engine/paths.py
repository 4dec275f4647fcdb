"""Where valuescope keeps its data: the DuckDB cache and converted model weights."""
from __future__ import annotations

import os
from pathlib import Path

from engine.errors import InputError

REPO_ROOT = Path(__file__).resolve().parent.parent


def home_dir(override: str | os.PathLike | None = None) -> Path:
    """The data folder: `override`, else $VALUESCOPE_HOME, else the repository's `cache/`."""
    chosen = override or os.environ.get("VALUESCOPE_HOME") or (REPO_ROOT / "cache")
    path = Path(chosen).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise InputError(f"The data folder {path} (--home / VALUESCOPE_HOME) is a file, not a folder: give a folder.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path(home: str | os.PathLike | None = None) -> Path:
    return home_dir(home) / "valuescope.duckdb"


def models_dir(home: str | os.PathLike | None = None) -> Path:
    """Converted (dequantised) copies of GGUF models, so later loads take seconds, not minutes."""
    path = home_dir(home) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
