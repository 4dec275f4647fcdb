"""Check a cache file run by run, and rebuild a damaged one from every run that still reads cleanly.

`check_cache` opens the file read-only and reads what the commands read: the schema record
(`migrations`), each run's row and all its scores (a damaged block shows only when it is read),
and each lookup through the indexes (run id, request key, the scores' run id); a `done` run must also
have as many scores as it recorded. Runs are read with a prefix match on their id, which DuckDB answers
by scanning (skipping row groups by their min/max) rather than through an index, so a damaged index
makes the file need repair without losing any run. `repair_cache` copies every clean run, with its
scores, into a new file (fresh schema record and indexes), sets the damaged file aside as
`valuescope.duckdb.damaged-<timestamp>` (kept: nothing is deleted) and puts the new file in its place.
A file that cannot be opened for another reason (permission denied, locked) is not damaged: check and
repair raise that error and change nothing.
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
from engine.store.diagnosis import damage_of, explain, is_lock_conflict, locked_error
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
    damaged_parts: list[str] = field(default_factory=list)  # unreadable parts that hold no run (schema record, indexes)

    @property
    def clean(self) -> list[RunCheck]:
        return [r for r in self.runs if r.problem is None]

    @property
    def lost(self) -> list[RunCheck]:
        return [r for r in self.runs if r.problem is not None]

    @property
    def healthy(self) -> bool:
        return self.problem is None and not self.lost and not self.damaged_parts


@dataclass
class RepairResult:
    check: CacheCheck
    damaged_copy: Path | None  # where the damaged file was set aside; None when nothing needed repair
    kept: list[RunCheck]
    lost: list[RunCheck]


def _short(exc: BaseException) -> str:
    return damage_of(exc) or str(exc).splitlines()[0][:200]


def _open_read_only(path: Path):
    """A read-only connection; an error that does not mean damage (permission denied, a lock) is raised as
    the CacheError it stands for, never taken for damage."""
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        if is_lock_conflict(exc):  # a live writer: it is not this tool's file to judge now
            raise locked_error(path, exc, 0) from exc
        if damage_of(exc):
            raise
        raise (explain(exc, path) or exc) from exc


# (what it is, a lookup through it): what the commands look up by an indexed column
_INDEX_LOOKUPS = [
    ("the index of runs by id", "SELECT count(*) FROM runs WHERE run_id = ?", "run_id"),
    ("the index of runs by request", "SELECT count(*) FROM runs WHERE request_key = ?", "request_key"),
    ("the index of scores by run", "SELECT count(*) FROM scores WHERE run_id = ?", "run_id"),
]


def _read_run(con, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A run's row and scores, read by scanning (see the module docstring), never through an index."""
    row = con.execute("SELECT * FROM runs WHERE starts_with(run_id, ?)", [run_id]).df()
    scores = con.execute(f"SELECT run_id, {', '.join(SCORE_COLUMNS)} FROM scores WHERE starts_with(run_id, ?)",
                         [run_id]).df()
    return row[row.run_id == run_id].reset_index(drop=True), \
        scores[scores.run_id == run_id].drop(columns="run_id").reset_index(drop=True)


def _check_run(con, run_id: str) -> RunCheck:
    check = RunCheck(run_id)
    try:
        row, scores = _read_run(con, run_id)
    except duckdb.Error as exc:
        check.problem = _short(exc)
        return check
    record = row.iloc[0]
    check.model_id, check.status, check.n_scores = record["model_id"], record["status"], len(scores)
    expected = record["n_scores"]
    if check.status == "done" and not pd.isna(expected) and int(expected) != check.n_scores:
        check.problem = f"{check.n_scores} of its {int(expected)} scores are left"
    return check


def _damaged_indexes(path: Path, rows: pd.DataFrame) -> list[str]:
    """The indexes a lookup of some run fails through (each probed on its own connection, so a failure
    leaves the others' probes and the run reads unaffected)."""
    damaged = []
    for what, sql, column in _INDEX_LOOKUPS:
        con = _open_read_only(path)
        try:
            for value in rows[column].dropna().unique():
                con.execute(sql, [value]).fetchone()
        except duckdb.Error as exc:
            damaged.append(f"{what} ({_short(exc)})")
        finally:
            con.close()
    return damaged


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
            rows = con.execute("SELECT run_id, request_key FROM runs").df()
        except duckdb.Error as exc:
            return CacheCheck(path, problem=f"its list of runs cannot be read ({_short(exc)})")
        check = CacheCheck(path, runs=[_check_run(con, run_id) for run_id in rows.run_id])
    finally:
        con.close()
    con = _open_read_only(path)
    try:
        con.execute("SELECT * FROM migrations").fetchall()  # engine.migrate's record of applied steps
    except duckdb.Error as exc:
        check.damaged_parts.append(f"its schema record ({_short(exc)})")
    finally:
        con.close()
    check.damaged_parts += _damaged_indexes(path, rows)
    return check


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
