"""Check a cache file run by run, and rebuild a damaged one from every run that still reads cleanly.

`check_cache` opens the file read-only and reads each run's row and all its scores (a damaged block
shows only when it is read); a `done` run must also have as many scores as it recorded. `repair_cache`
copies every clean run, with its scores, into a new file, sets the damaged file aside as
`valuescope.duckdb.damaged-<timestamp>` (kept: nothing is deleted) and puts the new file in its place.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from engine.errors import CacheError
from engine.store.db import Cache
from engine.store.diagnosis import damage_of, is_lock_conflict, locked_error
from engine.store.records import SCORE_COLUMNS


@dataclass
class RunCheck:
    run_id: str
    model_id: str | None = None
    status: str | None = None
    n_scores: int = 0  # scores read
    problem: str | None = None  # why the run does not read cleanly; None when it does


@dataclass
class CacheCheck:
    path: Path
    problem: str | None = None  # why the file as a whole cannot be read (then `runs` is empty)
    runs: list[RunCheck] = field(default_factory=list)

    @property
    def clean(self) -> list[RunCheck]:
        return [r for r in self.runs if r.problem is None]

    @property
    def lost(self) -> list[RunCheck]:
        return [r for r in self.runs if r.problem is not None]

    @property
    def healthy(self) -> bool:
        return self.problem is None and not self.lost


@dataclass
class RepairResult:
    check: CacheCheck
    damaged_copy: Path | None  # where the damaged file was set aside; None when nothing needed repair
    kept: list[RunCheck]
    lost: list[RunCheck]


def _short(exc: BaseException) -> str:
    return damage_of(exc) or str(exc).splitlines()[0][:200]


def _open_read_only(path: Path):
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        if is_lock_conflict(exc):  # a live writer: it is not this tool's file to judge now
            raise locked_error(path, exc, 0) from exc
        raise


def _read_run(con, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    row = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]).df()
    scores = con.execute(f"SELECT {', '.join(SCORE_COLUMNS)} FROM scores WHERE run_id = ?", [run_id]).df()
    return row, scores


def _check_run(con, run_id: str) -> RunCheck:
    check = RunCheck(run_id)
    try:
        record = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]).df().iloc[0]
        check.model_id, check.status = record["model_id"], record["status"]
        check.n_scores = len(con.execute(f"SELECT {', '.join(SCORE_COLUMNS)} FROM scores WHERE run_id = ?",
                                         [run_id]).df())
    except duckdb.Error as exc:
        check.problem = _short(exc)
        return check
    expected = record["n_scores"]
    if check.status == "done" and not pd.isna(expected) and int(expected) != check.n_scores:
        check.problem = f"{check.n_scores} of its {int(expected)} scores are left"
    return check


def check_cache(path: str | os.PathLike) -> CacheCheck:
    """Read every run of the cache file `path` and say which read cleanly (the file is not changed)."""
    path = Path(path)
    if not path.exists():
        return CacheCheck(path, problem="the file does not exist")
    try:
        con = _open_read_only(path)
    except duckdb.Error as exc:
        return CacheCheck(path, problem=_short(exc))
    try:
        try:
            run_ids = [r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()]
        except duckdb.Error as exc:
            return CacheCheck(path, problem=f"its list of runs cannot be read ({_short(exc)})")
        return CacheCheck(path, runs=[_check_run(con, run_id) for run_id in run_ids])
    finally:
        con.close()


def repair_cache(path: str | os.PathLike) -> RepairResult:
    """Rebuild the cache file `path` from its clean runs (see the module docstring). A healthy file is
    left as it is."""
    path = Path(path)
    check = check_cache(path)
    if check.healthy or not path.exists():
        return RepairResult(check, None, check.clean, check.lost)
    rebuilt = path.with_name(f"{path.name}.repair-{os.getpid()}")
    for leftover in (rebuilt, rebuilt.with_name(rebuilt.name + ".wal")):
        leftover.unlink(missing_ok=True)
    target = Cache(path=rebuilt)  # a new, empty cache with the current schema
    if check.clean:
        source = _open_read_only(path)
        try:
            with target.connect() as con:
                columns = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE runs)").fetchall()]
                for run in check.clean:
                    row, scores = _read_run(source, run.run_id)
                    shared = [c for c in columns if c in row.columns]  # an older file lacks newer columns
                    con.register("old_row", row[shared])
                    con.execute(f"INSERT INTO runs ({', '.join(shared)}) SELECT {', '.join(shared)} FROM old_row")
                    con.register("old_scores", scores.assign(run_id=run.run_id))
                    con.execute(f"INSERT INTO scores (run_id, {', '.join(SCORE_COLUMNS)}) "
                                f"SELECT run_id, {', '.join(SCORE_COLUMNS)} FROM old_scores")
                    con.unregister("old_row")
                    con.unregister("old_scores")
        finally:
            source.close()
    damaged_copy = path.with_name(f"{path.name}.damaged-{datetime.now():%Y%m%d-%H%M%S}")
    try:
        os.replace(path, damaged_copy)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():  # its log belongs to the damaged file
            os.replace(wal, damaged_copy.with_name(damaged_copy.name + ".wal"))
        os.replace(rebuilt, path)
    except OSError as exc:
        raise CacheError(f"Could not put the repaired cache in place of {path}: {exc.strerror or exc}. "
                         f"The copy of its readable runs is {rebuilt}.") from exc
    return RepairResult(check, damaged_copy, check.clean, check.lost)
