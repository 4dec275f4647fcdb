"""A job store that cannot be used (garbage, truncated, a read-only data folder, a full disk) is one line naming
the file, what is wrong and what to do, never an sqlite3 traceback; `cache repair` sets a damaged one aside."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

import engine.jobs as jobs
import engine.jobs.store as job_store
from engine.cli import main
from engine.errors import JobStoreError
from engine.jobs.store import JobStore
from helpers import ROOT, single_error_line


def _store_with_a_job(home) -> JobStore:
    store = JobStore(home)
    with store.connect(write=True) as con:
        store.insert(con, id="j1", kind="search", key="k", label="x", params={}, target="t", status="done",
                     created_at=1.0)
    with store.connect() as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself
    return store


def _damage(path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))
    else:
        os.truncate(path, 4096 * 2)  # the jobs table's pages are gone


@pytest.mark.parametrize("how, what", [("garbage", "not an SQLite database"), ("truncated", "damaged")])
def test_a_damaged_job_store_is_one_line_and_repair_starts_a_new_one(how, what, valuescope_home, capsys):
    store = _store_with_a_job(valuescope_home)
    _damage(store.path, how)
    job_store._MIGRATED.clear()  # as a new process would
    with pytest.raises(JobStoreError) as raised:
        jobs.list_jobs(home=valuescope_home)
    message = str(raised.value)
    assert str(store.path) in message and what in message and "valuescope cache repair" in message, message
    capsys.readouterr()
    assert main(["search", "--model", "nosuch-org/nosuch", "--prompt", "Hi?"]) == 2  # before any model loads
    assert str(store.path) in single_error_line(capsys.readouterr().err)

    assert main(["cache", "check"]) == 1
    assert f"job store: {store.path} is" in capsys.readouterr().out
    assert main(["cache", "repair"]) == 0
    assert "started a new, empty job store" in capsys.readouterr().out
    assert jobs.list_jobs(home=valuescope_home) == []  # a new, working store ...
    kept = [p for p in valuescope_home.glob("jobs.sqlite.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1  # ... and the damaged one kept (with its -wal and -shm files)
    assert main(["cache", "check"]) == 0


def test_a_read_only_data_folder_says_so(valuescope_home, tmp_path):
    from engine.store.db import Cache

    Cache(valuescope_home)  # a data folder with a cache in it, and no job store yet
    os.chmod(valuescope_home, 0o555)
    script = ("import sys; import engine.jobs as jobs; from engine.errors import UserError\n"
              "try:\n    jobs.list_jobs(home=sys.argv[1])\nexcept UserError as exc:\n    print('error:', exc)\n")
    cmd = [sys.executable, "-c", script, str(valuescope_home)]
    if os.geteuid() == 0:  # as root, without the capabilities that ignore file modes
        cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", *cmd]
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv")
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.chmod(valuescope_home, 0o755)
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert "read-only" in result.stdout and str(valuescope_home / "jobs.sqlite") in result.stdout, result.stdout


def _fill(folder) -> None:
    with open(folder / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass


class _FullDiskConnection:
    """An sqlite3 connection whose writes fail as on a full disk (where no tmpfs can be mounted)."""

    def __init__(self, con):
        self._con = con

    def execute(self, sql, *args):
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("database or disk is full")
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_a_full_disk_is_one_line(small_disk, monkeypatch, valuescope_home):
    full_disk = small_disk
    home = full_disk or valuescope_home
    store = JobStore(home)
    if full_disk is None:
        real_connect = sqlite3.connect
        monkeypatch.setattr(job_store.sqlite3, "connect", lambda *a, **k: _FullDiskConnection(real_connect(*a, **k)))
    else:
        _fill(full_disk)
    with pytest.raises(JobStoreError, match="disk is full") as raised:
        with store.connect(write=True) as con:
            store.insert(con, id="j" * 16, kind="search", key="k" * 4000, label="x" * 4000, params={"p": "x" * 100_000},
                         target="t", status="queued", created_at=1.0)
    assert str(store.path) in str(raised.value)
