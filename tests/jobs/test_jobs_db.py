"""Databases under several processes: the SQLite job store, and the DuckDB cache written by two
worker processes while eight readers poll it."""
from __future__ import annotations

import json
import multiprocessing
import random
import sqlite3
import threading
import time
import traceback
from pathlib import Path


from engine.jobs import JobStore
from engine.jobs.migrations import MIGRATIONS

SCORES_PER_RUN = 3000
RUNS_PER_WRITER = 12
WRITERS = 2
READER_PROCESSES, THREADS_PER_READER = 4, 2  # 8 readers


def test_job_store_migrations_are_numbered_applied_once_and_in_wal_mode(valuescope_home):
    names = [name for name, _ in MIGRATIONS]
    assert [int(n.split()[0]) for n in names] == list(range(1, len(names) + 1))
    store = JobStore(valuescope_home)
    store._migrate()  # as a second process would: nothing to apply, nothing fails
    assert store.schema_version() == len(names)
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM migrations WHERE set_name = 'jobs'").fetchone()[0] == len(names)
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_reader_is_not_blocked_by_a_writer_holding_the_job_store(valuescope_home):
    """WAL: while a process holds a write transaction, another reads at once (no busy wait). In
    SQLite's default rollback-journal mode the EXCLUSIVE lock below would shut every reader out."""
    store = JobStore(valuescope_home)
    with store.connect(write=True) as con:
        store.insert(con, id="j1", kind="k", key="k", params="{}", target="m:f", status="queued",
                     created_at=time.time())
    writer = sqlite3.connect(store.path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("UPDATE jobs SET message = 'uncommitted' WHERE id = 'j1'")
    try:
        reader = JobStore(valuescope_home, busy_timeout_s=0.05)  # would raise "database is locked" if it waited
        assert reader.get("j1").message is None  # the committed state
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# ---- DuckDB cache: 2 writer processes, 8 readers ----------------------------------------------------
def _scores(seed: int):
    import pandas as pd

    rng = random.Random(seed)
    return pd.DataFrame({"token_id": range(SCORES_PER_RUN), "text": [f" t{i}" for i in range(SCORES_PER_RUN)],
                         "score": [rng.random() for _ in range(SCORES_PER_RUN)]})


def _writer(home: str, writer: int, out: str) -> None:
    from engine.store.db import Cache

    written, errors = {}, []
    try:
        cache = Cache(home)
        for i in range(RUNS_PER_WRITER):
            key = f"w{writer}-{i}"
            written[key] = cache.save_run({"request_key": key, "model_id": f"writer-{writer}"}, _scores(i))
    except Exception:  # noqa: BLE001 - reported to the test
        errors.append(traceback.format_exc())
    Path(out).write_text(json.dumps({"written": written, "errors": errors}))


def _reader(home: str, stop: str, out: str) -> None:
    from engine.store.db import Cache

    cache, ops, errors = Cache(home), [0] * THREADS_PER_READER, []
    Path(out + ".ready").touch()  # the writers start once every reader is reading

    def loop(slot: int) -> None:
        rng = random.Random(slot)
        while not Path(stop).exists():
            try:
                runs = cache.list_runs(status="done")
                if len(runs):
                    run = runs.iloc[rng.randrange(len(runs))]
                    assert len(cache.scores(run["run_id"])) == SCORES_PER_RUN
                    assert cache.find_done(run["request_key"])["run_id"] == run["run_id"]
                ops[slot] += 1
            except Exception:  # noqa: BLE001 - reported to the test
                errors.append(traceback.format_exc())
                return

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(THREADS_PER_READER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Path(out).write_text(json.dumps({"ops": ops, "errors": errors}))


def test_two_writer_processes_and_eight_readers_share_the_duckdb_cache(valuescope_home, tmp_path):
    """No lock error reaches a caller and every written run is readable afterwards."""
    from engine.store.db import Cache

    Cache(valuescope_home)  # create the schema once, before the crowd arrives
    spawn = multiprocessing.get_context("spawn")
    stop = tmp_path / "stop"
    readers = [spawn.Process(target=_reader, args=(str(valuescope_home), str(stop), str(tmp_path / f"r{i}.json")))
               for i in range(READER_PROCESSES)]
    writers = [spawn.Process(target=_writer, args=(str(valuescope_home), w, str(tmp_path / f"w{w}.json")))
               for w in range(WRITERS)]
    started = time.monotonic()
    for p in readers:
        p.start()
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("*.ready"))) < READER_PROCESSES and time.monotonic() < deadline:
        time.sleep(0.05)
    for p in writers:
        p.start()
    for p in writers:
        p.join(timeout=120)
    stop.touch()
    for p in readers:
        p.join(timeout=60)
    seconds = time.monotonic() - started
    assert all(p.exitcode == 0 for p in readers + writers), [p.exitcode for p in readers + writers]

    written = {}
    for w in range(WRITERS):
        report = json.loads((tmp_path / f"w{w}.json").read_text())
        assert report["errors"] == [], report["errors"][0]
        written.update(report["written"])
    for i in range(READER_PROCESSES):
        report = json.loads((tmp_path / f"r{i}.json").read_text())
        assert report["errors"] == [], report["errors"][0]
        assert all(n > 0 for n in report["ops"]), report  # every reader read while the writers wrote
    assert len(written) == WRITERS * RUNS_PER_WRITER
    cache = Cache(valuescope_home)
    for key, run_id in written.items():
        assert cache.find_done(key)["run_id"] == run_id
        assert len(cache.scores(run_id)) == SCORES_PER_RUN
    reads = [json.loads((tmp_path / f"r{i}.json").read_text())["ops"] for i in range(READER_PROCESSES)]
    print(f"reads per reader thread {reads}; {WRITERS} writers x {RUNS_PER_WRITER} runs, "
          f"{READER_PROCESSES * THREADS_PER_READER} readers: {seconds:.1f} s")


def test_rows_failed_before_error_codes_get_their_code_from_the_class_name(valuescope_home):
    """A store written before `error_code` existed: the migration adds the column and fills it for failed rows."""
    from engine.errors import ErrorCode
    from engine.jobs import store as job_store
    from engine.migrate import apply_migrations

    valuescope_home.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(valuescope_home / job_store.DB_NAME, isolation_level=None)
    apply_migrations(con, "jobs", MIGRATIONS[:1])
    for job_id, status, class_name in (("a", "failed", "NotCachedError"), ("b", "failed", "ZeroDivisionError"),
                                       ("c", "failed", "ValueError"), ("d", "done", None)):
        con.execute("INSERT INTO jobs (id, kind, key, params, target, status, created_at, error_type) "
                    "VALUES (?, 'k', 'k', '{}', 'm:f', ?, 0, ?)", [job_id, status, class_name])
    con.close()
    job_store._MIGRATED.clear()  # as a new process would
    store = JobStore(valuescope_home)
    assert [store.get(i).error_code for i in "abcd"] == [ErrorCode.NOT_CACHED, ErrorCode.BUG, ErrorCode.USER, None]
