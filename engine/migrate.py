"""One migration runner for both stores: the DuckDB runs cache and the SQLite job store.

A migration set is a name and a list of `(step name, step)`, applied in order, each step once: the
step is SQL (statements separated by ";") or a function of the open connection (for changes SQL
cannot express, such as re-keying rows in Python). Applied steps are recorded in the table
`migrations(set_name, name, applied_at)`. Stores that recorded their steps by number in the older
`schema_migrations(version, name, applied_at)` table have them adopted: version i is the set's i-th step.
The caller holds the transaction, so a set is applied whole or not at all. Both DB-API connections
(duckdb, sqlite3) take the same SQL here.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

Step = str | Callable[[object], None]


def _table_exists(con, table: str) -> bool:
    # sqlite_master: SQLite's catalogue, which DuckDB offers too (a failed query would abort DuckDB's transaction)
    return con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0] > 0


def applied_migrations(con, set_name: str) -> list[str]:
    """Names of the steps of `set_name` applied to this database, in the order they were applied."""
    if not _table_exists(con, "migrations"):
        return []
    rows = con.execute("SELECT name FROM migrations WHERE set_name = ? ORDER BY applied_at, name", [set_name])
    return [row[0] for row in rows.fetchall()]


def apply_migrations(con, set_name: str, migrations: Sequence[tuple[str, Step]]) -> list[str]:
    """Apply the steps of `set_name` not yet applied; returns their names."""
    names = [name for name, _ in migrations]
    if len(set(names)) != len(names):
        raise ValueError(f"Migration set {set_name!r} names a step twice.")
    fresh = not _table_exists(con, "migrations")
    con.execute("CREATE TABLE IF NOT EXISTS migrations (set_name VARCHAR NOT NULL, name VARCHAR NOT NULL, "
                "applied_at DOUBLE NOT NULL, PRIMARY KEY (set_name, name))")
    done = set(applied_migrations(con, set_name))
    if fresh and not done and _table_exists(con, "schema_migrations"):
        versions = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
        for i, name in enumerate(names, start=1):
            if i in versions:
                con.execute("INSERT INTO migrations VALUES (?, ?, ?)", [set_name, name, time.time()])
                done.add(name)
    applied = []
    for name, step in migrations:
        if name in done:
            continue
        if callable(step):
            step(con)
        else:
            sql = re.sub(r"--[^\n]*", "", step)  # comments may hold ";"
            for statement in (s.strip() for s in sql.split(";")):
                if statement:
                    con.execute(statement)
        con.execute("INSERT INTO migrations VALUES (?, ?, ?)", [set_name, name, time.time()])
        applied.append(name)
    return applied
