"""DuckDB cache of runs and their scores.

Concurrency model: DuckDB lets one process hold a database file for writing, and a writing process
excludes every other process. So every operation here opens a short-lived connection, does its
work and closes it; model loading and scoring happen outside any connection. A process that finds
the file locked retries with back-off for `lock_timeout_s`. Inside one process (the Streamlit app,
many sessions in threads) operations on one file take turns on a process-wide lock: DuckDB's
instance cache races when threads open and close connections to one file at the same moment, and
every operation is short. Crash safety: a run's scores and its `done` status are written
in one transaction, so a killed process leaves at most a `running` row, which is never served.

A file or folder that cannot be written is opened read-only (runs can be listed and exported); a
damaged file gets its own error naming `valuescope cache repair` (engine/store/diagnosis.py, repair.py).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd

from engine.errors import CacheDamagedError, CacheError, CacheReadOnlyError, InputError, NotFoundError
from engine.paths import db_path
from engine.processes import process_started_at, process_state
from engine.store.diagnosis import explain, is_lock_conflict, locked_error
from engine.migrate import applied_migrations, apply_migrations
from engine.store.migrations import MIGRATIONS
from engine.store.records import (INSERT_RUN, RUN_COLUMNS, SCORE_COLUMNS, RunRecord, rank_scores, row_dict,
                                  score_frame, utc_now)

WRITE_CHUNK = 10_000  # rows per insert: a Gemma vocabulary run (262k rows) in 27 steps, 0.32 s vs 0.24 s in one
_FILE_LOCKS: dict[str, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> threading.RLock:
    """One re-entrant lock per database file per process."""
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(str(path), threading.RLock())


def _run_process_alive(pid, pid_started_at, created_at) -> bool:
    """Whether the process that wrote a `running` row still runs. A PID is reused (PID 1 after a container
    restart), so the process now holding it must also have started when the run's process did, or, for
    rows written before that was recorded, before the run was created."""
    if pd.isna(pid) or not pid:
        return False
    if not pd.isna(pid_started_at):
        return process_state(int(pid), float(pid_started_at)) == "alive"
    started = process_started_at(int(pid))
    if started is None:
        return False
    if isinstance(created_at, datetime):
        return started <= created_at.replace(tzinfo=timezone.utc).timestamp() + 1.0
    return True


def _open_read_only(path: Path) -> bool:
    """Open read-only when the file or its folder cannot be written (DuckDB writes a .wal beside the file)."""
    folder_writable = os.access(path.parent, os.W_OK)
    if not path.exists():
        if not folder_writable:
            raise CacheReadOnlyError(f"Cannot create the cache {path}: its folder is not writable. Use another data "
                                     "folder with --home / VALUESCOPE_HOME.")
        return False
    return not (os.access(path, os.W_OK) and folder_writable)


@contextlib.contextmanager
def transaction(con):
    """BEGIN ... COMMIT, rolled back on any error. When the error already ended the transaction (a failed
    COMMIT on a full disk), the ROLLBACK's own failure is dropped so that the first error is the one raised."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise


class Cache:
    def __init__(self, home: str | os.PathLike | None = None, lock_timeout_s: float = 30.0,
                 path: str | os.PathLike | None = None):
        """The cache of data folder `home` (or the database file `path`)."""
        self.path: Path = Path(path) if path is not None else db_path(home)
        self.lock_timeout_s = lock_timeout_s
        self.read_only = _open_read_only(self.path)
        self._found: dict[str, tuple] = {}  # request key -> (generation, newest done run or None)
        with self.connect() as con:
            if not self.read_only:  # a read-only cache of an older schema is still read (columns it lacks are absent)
                self._migrate(con)

    @contextlib.contextmanager
    def connect(self):
        """A short-lived connection; DuckDB errors that mean a damaged, read-only or unreadable file become
        CacheErrors saying so."""
        with _file_lock(self.path), self._connect_across_processes() as con:
            try:
                yield con
            except duckdb.Error as exc:
                error = explain(exc, self.path)
                if error is None:  # not about the file: a bug, with its own traceback
                    raise
                raise error from exc

    @contextlib.contextmanager
    def _connect_across_processes(self):
        started = time.monotonic()
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=self.read_only)
                break
            except duckdb.Error as exc:
                if is_lock_conflict(exc):  # another process holds the file: wait for it, up to lock_timeout_s
                    if time.monotonic() - started > self.lock_timeout_s:
                        raise locked_error(self.path, exc, time.monotonic() - started) from exc
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                raise (explain(exc, self.path) or CacheError(f"Cannot open the cache {self.path}: {exc}")) from exc
        try:
            yield con
        finally:
            con.close()

    @staticmethod
    def _migrate(con) -> None:
        with transaction(con):
            apply_migrations(con, "runs", MIGRATIONS)

    def schema_version(self) -> int:
        """How many steps of the schema's migration set this file has."""
        with self.connect() as con:
            return len(applied_migrations(con, "runs"))

    # ---- writing -------------------------------------------------------------------------------
    def start_run(self, record: RunRecord | dict) -> str:
        """Record a run as `running` (visible to other sessions, never served) and return its id."""
        record = record if isinstance(record, RunRecord) else RunRecord.from_meta(record)
        record.status, record.pid, record.created_at = "running", os.getpid(), utc_now()
        record.pid_started_at = process_started_at(os.getpid())
        with self.connect() as con:
            con.execute(INSERT_RUN, record.values())
        return record.run_id

    def finish_run(self, run_id: str, scores: pd.DataFrame, seconds: float | None = None,
                   progress: Callable[[int, int], None] | None = None, **updates) -> None:
        """Write all scores and mark the run done, in one transaction. The rows go in chunks of WRITE_CHUNK
        inside that transaction, `progress(rows written, total)` after each: an error or a kill part-way
        leaves no row of this run (and its status `running`, never served)."""
        frame = score_frame(scores)
        total = len(frame)
        with self.connect() as con, transaction(con):
            con.execute("DELETE FROM scores WHERE run_id = ?", [run_id])
            if progress is not None:
                progress(0, total)
            for start in range(0, total, WRITE_CHUNK):
                con.register("new_scores", frame.iloc[start:start + WRITE_CHUNK])
                con.execute(f"INSERT INTO scores SELECT ? AS run_id, {', '.join(SCORE_COLUMNS)} FROM new_scores",
                            [run_id])
                con.unregister("new_scores")
                if progress is not None:
                    progress(min(start + WRITE_CHUNK, total), total)
            sets = {"status": "done", "n_scores": len(frame), "seconds": seconds, "finished_at": utc_now(), **updates}
            con.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in sets)} WHERE run_id = ?", [*sets.values(), run_id])

    def fail_run(self, run_id: str, error: str, status: str = "failed") -> None:
        """Mark a run failed (or `cancelled`); its scores, if any were written, are never served."""
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE run_id = ? AND status <> 'done'",
                [status, error[:2000], utc_now(), run_id],
            )

    def save_run(self, meta: dict, scores: pd.DataFrame, seconds: float | None = None) -> str:
        run_id = self.start_run(meta)
        try:
            self.finish_run(run_id, scores, seconds=seconds)
        except BaseException as exc:
            self.fail_run(run_id, f"{type(exc).__name__}: {exc}")
            raise
        return run_id

    def save_runs(self, runs: list[tuple[dict, pd.DataFrame]], replace_run_ids: list[str] | tuple = ()) -> list[str]:
        """Write several complete runs (status `done`) and delete `replace_run_ids`, in one transaction:
        either all of it lands or none of it (an import is never half done)."""
        rows, frames = [], []
        for meta, scores in runs:
            frame = score_frame(scores)
            row = meta if isinstance(meta, RunRecord) else RunRecord.from_meta(meta)
            row.status, row.n_scores, row.finished_at = "done", len(frame), row.created_at
            rows.append(row)
            frames.append(frame.assign(run_id=row.run_id))
        if not rows and not replace_run_ids:
            return []
        with self.connect() as con, transaction(con):
            for run_id in replace_run_ids:
                con.execute("DELETE FROM scores WHERE run_id = ?", [run_id])
                con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
            if rows:
                con.executemany(INSERT_RUN, [row.values() for row in rows])
                con.register("new_scores", pd.concat(frames, ignore_index=True))
                con.execute(f"INSERT INTO scores SELECT run_id, {', '.join(SCORE_COLUMNS)} FROM new_scores")
                con.unregister("new_scores")
        return [row.run_id for row in rows]

    def delete_run(self, run_id: str) -> bool:
        with self.connect() as con, transaction(con):
            con.execute("DELETE FROM scores WHERE run_id = ?", [run_id])
            n = con.execute("DELETE FROM runs WHERE run_id = ? RETURNING run_id", [run_id]).fetchall()
        return bool(n)

    # ---- reading -------------------------------------------------------------------------------
    def generation(self) -> tuple:
        """Changes whenever any process writes the file (its size and time, and its write-ahead log's)."""
        stamps = []
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                stat = path.stat()
                stamps.append((stat.st_mtime_ns, stat.st_size))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def find_done(self, request_key: str) -> dict | None:
        """The newest completed run for this request, or None. Answered from memory while the file is
        unchanged (a page asks on every rerun; a query costs a connection)."""
        generation = self.generation()
        known = self._found.get(request_key)
        if known is not None and known[0] == generation:
            return dict(known[1]) if known[1] is not None else None
        with self.connect() as con:
            df = con.execute(
                "SELECT * FROM runs WHERE request_key = ? AND status = 'done' ORDER BY finished_at DESC LIMIT 1",
                [request_key],
            ).df()
        run = None if df.empty else row_dict(df.iloc[0])
        self._found[request_key] = (generation, run)
        return dict(run) if run is not None else None

    def find_done_many(self, request_keys) -> dict[str, dict]:
        """The newest completed run of each of these requests that has one, by request key (one query)."""
        keys = list(dict.fromkeys(request_keys))
        if not keys:
            return {}
        with self.connect() as con:
            df = con.execute(
                f"SELECT * FROM runs WHERE status = 'done' AND request_key IN ({', '.join('?' * len(keys))}) "
                "ORDER BY finished_at", keys).df()
        return {row["request_key"]: row for row in (row_dict(r) for _, r in df.iterrows())}  # newest last wins

    def get_run(self, run_id: str) -> dict:
        """One run by its id or a unique prefix of it (matched literally: `%` and `_` are characters)."""
        run_id = (run_id or "").strip()
        if not run_id:
            raise InputError("Give a run id (or a unique prefix of one): `valuescope runs` lists them.")
        with self.connect() as con:
            df = con.execute("SELECT * FROM runs WHERE starts_with(run_id, ?)", [run_id]).df()
        exact = df[df["run_id"] == run_id]
        df = exact if len(exact) else df
        if df.empty:
            raise NotFoundError(f"No run with id {run_id!r} in {self.path}. `valuescope runs` lists them.")
        if len(df) > 1:
            raise NotFoundError(f"Run id prefix {run_id!r} is ambiguous: {', '.join(df.run_id)}")
        return row_dict(df.iloc[0])

    def list_runs(self, status: str | None = None, **equals) -> pd.DataFrame:
        where, args = [], []
        if status:  # `interrupted` is a `running` row whose process is gone: decided below, not stored
            where.append("status = ?")
            args.append("running" if status == "interrupted" else status)
        for column, value in equals.items():
            if value is None:
                continue
            if column not in RUN_COLUMNS:
                raise InputError(f"Unknown run column {column!r}")
            if isinstance(value, (list, tuple, set)):
                where.append(f"{column} IN ({', '.join('?' * len(value))})")
                args.extend(value)
            else:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY created_at"
        with self.connect() as con:
            df = con.execute(sql, args).df()
        # A `running` row whose process is gone was killed mid-run: say so rather than "running".
        started = df["pid_started_at"] if "pid_started_at" in df else pd.Series(None, index=df.index, dtype=float)
        running = df.index[df["status"] == "running"]  # only these need a look at their process
        stale = [i for i in running if not _run_process_alive(df.at[i, "pid"], started.at[i], df.at[i, "created_at"])]
        df.loc[stale, "status"] = "interrupted"
        if status in ("running", "interrupted"):
            df = df[df["status"] == status].reset_index(drop=True)
        return df

    def scores(self, run_id: str) -> pd.DataFrame:
        """Scores of one completed run, best first, with rank 1 = highest score."""
        run = self.get_run(run_id)
        if run["status"] != "done":
            raise NotFoundError(f"Run {run['run_id']} is {run['status']}, not done: it has no complete scores.")
        try:
            with self.connect() as con:
                df = con.execute(
                    f"SELECT {', '.join(SCORE_COLUMNS)} FROM scores WHERE run_id = ?", [run["run_id"]]
                ).df()
        except CacheDamagedError as exc:
            raise CacheDamagedError(f"Run {run['run_id']} cannot be read: {exc}") from exc
        return rank_scores(df)

    def scores_for_runs(self, run_ids: list[str]) -> pd.DataFrame:
        """Scores of many completed runs in one long table with a run_id column (unranked)."""
        if not run_ids:
            return pd.DataFrame(columns=["run_id", *SCORE_COLUMNS])
        with self.connect() as con:
            return con.execute(
                f"SELECT s.run_id, {', '.join('s.' + c for c in SCORE_COLUMNS)} FROM scores s JOIN runs r USING (run_id) "
                f"WHERE r.status = 'done' AND s.run_id IN ({', '.join('?' * len(run_ids))})",
                list(run_ids),
            ).df()
