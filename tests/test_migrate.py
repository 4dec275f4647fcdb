"""engine.migrate: one runner over named migration sets, for DuckDB and SQLite alike."""
from __future__ import annotations

import sqlite3

import duckdb
import pytest

from engine.migrate import applied_migrations, apply_migrations
from engine.store.db import transaction

STEPS = [("001 table", "CREATE TABLE t (a INTEGER); CREATE TABLE u (b INTEGER)"),
         ("002 row", lambda con: con.execute("INSERT INTO t VALUES (7)"))]


@pytest.mark.parametrize("connect", [duckdb.connect, lambda: sqlite3.connect(":memory:", isolation_level=None)])
def test_each_step_of_a_set_is_applied_once_and_sets_are_independent(connect):
    con = connect()
    assert apply_migrations(con, "one", STEPS) == ["001 table", "002 row"]
    assert apply_migrations(con, "one", STEPS) == []
    assert con.execute("SELECT a FROM t").fetchall() == [(7,)]
    assert apply_migrations(con, "other", [("001 v", "CREATE TABLE v (c INTEGER)")]) == ["001 v"]
    assert applied_migrations(con, "one") == ["001 table", "002 row"]


@pytest.mark.parametrize("connect", [duckdb.connect, lambda: sqlite3.connect(":memory:", isolation_level=None)])
def test_numbered_steps_of_the_older_bookkeeping_table_are_adopted(connect):
    con = connect()
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at DOUBLE)")
    con.execute("CREATE TABLE t (a INTEGER)")
    con.execute("CREATE TABLE u (b INTEGER)")
    con.execute("INSERT INTO schema_migrations VALUES (1, 'table', 0)")
    assert apply_migrations(con, "one", STEPS) == ["002 row"]


def test_a_failing_step_leaves_the_duckdb_database_as_it_was():
    con = duckdb.connect()
    broken = [*STEPS, ("003 broken", "INSERT INTO missing VALUES (1)")]
    with pytest.raises(duckdb.Error), transaction(con):
        apply_migrations(con, "one", broken)
    assert applied_migrations(con, "one") == []
    assert not con.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()[0]
