"""`cache check` reads what the commands read (schema record, every index) and `cache repair` keeps every
run that can be read when only an index or the schema record is damaged; a cache that cannot be opened for
another reason (permission denied) is refused, never set aside as damaged."""
from __future__ import annotations

import os
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.store.db import Cache
from helpers import single_error_line
from test_cache_damage import HEADER_BYTES, cached_runs, damaged_error, locked_down, run_cli  # noqa: F401

SUB_BLOCK = 4096  # DuckDB splits a metadata block into 64 sub-blocks of 4 KiB, each with its own checksum


def _fails(con, sql: str, args=()) -> bool:
    try:
        con.execute(sql, list(args)).fetchall()
        return False
    except duckdb.Error:
        return True


def damage_where(path, ids, broken: str) -> None:
    """Overwrite the first 4 KiB block of `path` whose loss makes the query `broken` fail while plain scans of
    every table still read (found by trying each block on a copy: where DuckDB puts an index or the schema
    record is its business)."""
    with duckdb.connect(str(path), read_only=True) as con:
        block_size, blocks = con.execute("SELECT block_size, total_blocks FROM pragma_database_size()").fetchone()
    trial = path.with_name("trial.duckdb")
    for offset in (HEADER_BYTES + b * block_size + s * SUB_BLOCK for b in range(1, blocks) for s in range(4)):
        shutil.copy(path, trial)
        with open(trial, "r+b") as fh:
            fh.seek(offset)
            fh.write(np.random.default_rng(offset).bytes(SUB_BLOCK))
        with duckdb.connect(str(trial), read_only=True) as con:
            if not _fails(con, broken, [ids[0]] if "?" in broken else []):
                continue
        with duckdb.connect(str(trial), read_only=True) as con:  # a fresh connection: the failure above is cached
            scans_read = not any(_fails(con, f"SELECT * FROM {t}") for t in ("runs", "scores"))
        if scans_read:
            os.replace(trial, path)
            return
    raise AssertionError(f"no block breaks {broken!r} alone")


@pytest.mark.parametrize("broken", ["SELECT * FROM runs WHERE run_id = ?",
                                    "SELECT * FROM scores WHERE run_id = ?",
                                    "SELECT * FROM migrations"])
def test_repair_keeps_every_run_when_only_an_index_or_the_schema_record_is_damaged(broken, valuescope_home, capsys):
    ids = cached_runs(valuescope_home, n_runs=5)
    cache = Cache()
    originals = {run_id: cache.scores(run_id) for run_id in ids}
    damage_where(cache.path, ids, broken)

    assert main(["cache", "check"]) == 1  # the file needs repair ...
    report = capsys.readouterr().out
    assert "5 runs: 5 read cleanly" in report and "damaged, rebuilt by repair" in report, report
    if "migrations" in broken:  # ... which every command says, since each opens the schema record
        damaged_error(["runs"], capsys)
    assert main(["cache", "repair"]) == 0
    report = capsys.readouterr().out
    assert "kept 5 run(s)" in report and "lost 0" in report, report
    repaired = Cache()
    assert sorted(repaired.list_runs()["run_id"]) == sorted(ids)
    for run_id in ids:
        pd.testing.assert_frame_equal(repaired.scores(run_id), originals[run_id])
    assert repaired.find_done("k3")["run_id"] == ids[3]  # through the rebuilt request index
    assert main(["cache", "check"]) == 0
    assert "Nothing to repair" in capsys.readouterr().out


def test_repair_refuses_an_unreadable_healthy_cache_and_changes_nothing(locked_down):
    home = locked_down
    cached_runs(home)
    path = home / "valuescope.duckdb"
    before = path.read_bytes()
    os.chmod(path, 0o000)
    for command in (["cache", "check"], ["cache", "repair"]):
        result = run_cli(command, home)
        assert result.returncode == 2, result.stdout
        line = single_error_line(result.stderr)
        assert "permission denied" in line and "damaged" not in line, line
    os.chmod(path, 0o644)
    assert path.read_bytes() == before
    assert not list(home.glob("*.damaged-*")) and not list(home.glob("*.repair-*"))


class _FailingCommit:
    """A DuckDB connection whose COMMIT fails as on a full disk, which also ends the transaction (so the
    ROLLBACK after it fails too), where no tmpfs can be mounted."""

    def __init__(self, con):
        self._con = con

    def execute(self, sql, *args):
        if sql == "COMMIT":
            self._con.execute("ROLLBACK")
            raise duckdb.TransactionException('Failed to commit: Could not write file "x.wal": No space left on device')
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_a_full_disk_during_import_reports_the_first_error_and_keeps_the_cache(small_disk, monkeypatch, tmp_path,
                                                                                 capsys):
    home = small_disk or tmp_path / "home"
    Cache(home)
    table = tmp_path / "scores.parquet"  # bigger than what is left of the disk
    n = 40_000
    pd.DataFrame({"response": [f"w{i}-{i * 7919}" for i in range(n)], "greatest_ever_one": np.linspace(0, 1, n),
                  "worst_ever_one": np.linspace(1, 0, n)}).to_parquet(table)
    if small_disk is None:
        import engine.store.db as db

        real_connect = duckdb.connect
        monkeypatch.setattr(db.duckdb, "connect", lambda *a, **k: _FailingCommit(real_connect(*a, **k)))
    capsys.readouterr()
    assert main(["--home", str(home), "import", str(table), "--family", "llama"]) == 2
    line = single_error_line(capsys.readouterr().err)
    assert "disk holding the cache" in line and "full" in line and "rollback" not in line.lower(), line
    monkeypatch.undo()
    assert Cache(home).list_runs().empty  # nothing half-imported
