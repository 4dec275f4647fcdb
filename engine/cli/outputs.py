"""`--out` checked when a command starts, not after its computation: a known table suffix, a folder that
can be created, and no existing table overwritten without `--force`."""
from __future__ import annotations

import os
from pathlib import Path

from engine.errors import InputError
from engine.reports.export import SIDECAR_SUFFIX, TABLE_SUFFIXES, sidecar_path, table_suffix
from engine.reports.export import table_files as export_files

KNOWN_SUFFIXES = ", ".join(TABLE_SUFFIXES[:-1]) + " or " + TABLE_SUFFIXES[-1]


def _check_creatable(folder: Path, out) -> None:
    """The nearest existing ancestor of `folder` must be a writable folder (nothing is created yet)."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"--out {out}: {probe} is a file, not a folder.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: cannot write in {probe} (permission denied).")


def check_out_file(out, force: bool = False) -> Path:
    """A table file to write: .csv (and its .meta.json sidecar), .parquet or .xlsx."""
    path = Path(out).expanduser()
    if path.name.endswith(SIDECAR_SUFFIX) or Path(out).suffix.lower() not in (*TABLE_SUFFIXES, ".pq"):
        raise InputError(f"--out {out}: give a file name ending in {KNOWN_SUFFIXES}.")
    if path.is_dir():
        raise InputError(f"--out {out} is a folder: give a file name ending in {KNOWN_SUFFIXES}.")
    written = [path, sidecar_path(path)] if table_suffix(path) == ".csv" else [path]
    existing = [p for p in written if p.exists()]
    if existing and not force:
        names = " and ".join(p.name for p in existing)
        raise InputError(f"--out {out}: {names} already exist{'s' if len(existing) == 1 else ''}; pass --force to "
                         "overwrite.")
    _check_creatable(path.parent, out)
    return path


def table_files(stems, fmt: str) -> list[str]:
    """The files a folder of these tables holds (engine.reports.export.table_files)."""
    return [name for stem in stems for name in export_files(stem, fmt)]


def check_out_folder(out, file_names, force: bool = False) -> Path:
    """A folder of tables: it may exist, but none of `file_names` in it is overwritten without --force."""
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {out} is a file: give a folder for the tables.")
    existing = [name for name in file_names if (folder / name).exists()]
    if existing and not force:
        listed = ", ".join(existing[:4]) + (f" and {len(existing) - 4} more" if len(existing) > 4 else "")
        raise InputError(f"--out {out} already holds {listed}; pass --force to overwrite, or choose another folder.")
    _check_creatable(folder, out)
    return folder
