"""A cache that cannot be used as it is gets its own message (damaged, read-only, permission denied,
locked by a PID), never a traceback; `valuescope cache check` and `cache repair` keep every readable run."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.errors import CacheDamagedError, CacheLockedError
from engine.store.db import Cache
from helpers import ROOT, single_error_line

ROW_GROUP = 122_880  # DuckDB's rows per row group: one run per group, so a damaged block hits one run only
HEADER_BYTES = 3 * 4096  # a DuckDB file's headers; block b starts at HEADER_BYTES + b * block_size


def scores(seed: int, n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"token_id": np.arange(n), "text": [f" t{i}" for i in range(n)],
                         "score": np.random.default_rng(seed).normal(size=n)})


def cached_runs(home: Path, n_runs: int = 3, rows: int = 3) -> list[str]:
    cache = Cache(home)
    ids = [cache.save_run({"request_key": f"k{i}", "model_id": f"m{i}", "candidates": "vocab", "score_kind": "reward"},
                          scores(i, rows)) for i in range(n_runs)]
    with cache.connect() as con:
        con.execute("CHECKPOINT")  # everything in the file itself, not in its write-ahead log
    return ids


def damaged_error(args, capsys) -> str:
    capsys.readouterr()
    assert main(args) == 2
    line = single_error_line(capsys.readouterr().err)
    assert "damaged" in line and "valuescope cache repair" in line, line
    return line


@pytest.mark.parametrize("how, reason", [("empty", "not a DuckDB database"), ("garbage", "not a DuckDB database"),
                                         ("truncated", "truncated")])
def test_unreadable_file_gets_its_message_and_repair_starts_afresh(how, reason, valuescope_home, capsys):
    run_id = cached_runs(valuescope_home)[0]
    path = valuescope_home / "valuescope.duckdb"
    size = path.stat().st_size
    if how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(size))
    else:
        os.truncate(path, size // 2)
    damaged_bytes = path.read_bytes()
    assert reason in damaged_error(["runs"], capsys)
    damaged_error(["export", run_id, "--out", str(valuescope_home.parent / "x.csv")], capsys)
    assert main(["cache", "check"]) == 1
    assert "no run can be read" in capsys.readouterr().out
    assert main(["cache", "repair"]) == 0
    assert "nothing could be read" in capsys.readouterr().out
    assert Cache().list_runs().empty  # a working, empty cache ...
    kept = list(valuescope_home.glob("valuescope.duckdb.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged_bytes  # ... and the damaged file set aside, unchanged


def test_damaged_blocks_lose_one_run_and_repair_keeps_the_others(valuescope_home, capsys):
    ids = cached_runs(valuescope_home, rows=ROW_GROUP)
    cache = Cache()
    originals = {run_id: cache.scores(run_id) for run_id in ids}
    with cache.connect() as con:
        blocks = con.execute("SELECT row_group_id, block_id FROM pragma_storage_info('scores') WHERE block_id >= 0").df()
        runs_blocks = set(con.execute("SELECT block_id FROM pragma_storage_info('runs')").df()["block_id"])
        block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
    only_second = set(blocks[blocks.row_group_id == 1].block_id) - set(blocks[blocks.row_group_id != 1].block_id) - runs_blocks
    assert only_second
    with open(cache.path, "r+b") as fh:  # overwrite part of each block that holds only the second run's scores
        for block in only_second:
            fh.seek(HEADER_BYTES + block * block_size + 64)
            fh.write(b"\xa5" * 512)

    assert len(Cache().list_runs()) == 3  # the file opens and lists its runs ...
    with pytest.raises(CacheDamagedError, match=f"Run {ids[1]} cannot be read.*valuescope cache repair"):
        Cache().scores(ids[1])  # ... and the lost run says so when it is read
    pd.testing.assert_frame_equal(Cache().scores(ids[0]), originals[ids[0]])
    damaged_error(["export", ids[1], "--out", str(valuescope_home.parent / "lost.csv")], capsys)

    assert main(["cache", "check"]) == 1
    report = capsys.readouterr().out
    assert "3 runs: 2 read cleanly" in report and ids[1] in report and ids[0] not in report
    assert main(["cache", "repair"]) == 0
    report = capsys.readouterr().out
    assert "kept 2 run(s)" in report and f"lost 1: {ids[1]}" in report
    repaired = Cache()
    assert sorted(repaired.list_runs()["run_id"]) == sorted([ids[0], ids[2]])
    for run_id in (ids[0], ids[2]):
        pd.testing.assert_frame_equal(repaired.scores(run_id), originals[run_id])
    assert main(["cache", "check"]) == 0
    assert len(list(valuescope_home.glob("valuescope.duckdb.damaged-*"))) == 1


def test_repair_leaves_a_healthy_cache_alone(valuescope_home, capsys):
    cached_runs(valuescope_home)
    before = (valuescope_home / "valuescope.duckdb").read_bytes()
    assert main(["cache", "repair"]) == 0
    assert "every run reads cleanly" in capsys.readouterr().out
    assert (valuescope_home / "valuescope.duckdb").read_bytes() == before
    assert not list(valuescope_home.glob("*.damaged-*"))


def test_a_lock_names_the_pid_that_holds_it(valuescope_home):
    cached_runs(valuescope_home)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                               "print('holding', flush=True); time.sleep(60)", str(valuescope_home / "valuescope.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(CacheLockedError, match=f"locked by PID {holder.pid} on this host"):
            Cache(lock_timeout_s=0.3)
    finally:
        holder.kill()
        holder.wait()


def test_a_reused_pid_does_not_keep_a_run_running(valuescope_home):
    from engine.processes import process_started_at

    cache = Cache()
    mine = process_started_at(os.getpid())
    rows = {"alive": (os.getpid(), mine, None), "pid reused": (os.getpid(), mine - 3600, None),
            "gone": (999_999_999, None, None), "older row, pid reused": (os.getpid(), None, "2000-01-01"),
            "older row, alive": (os.getpid(), None, None)}
    for name, (pid, started, created) in rows.items():
        run_id = cache.start_run({"request_key": name, "model_id": name})
        with cache.connect() as con:
            con.execute("UPDATE runs SET pid = ?, pid_started_at = ?, created_at = coalesce(?::TIMESTAMP, created_at) "
                        "WHERE run_id = ?", [pid, started, created, run_id])
    status = Cache().list_runs().set_index("model_id")["status"].to_dict()
    assert status == {"alive": "running", "pid reused": "interrupted", "gone": "interrupted",
                      "older row, pid reused": "interrupted", "older row, alive": "running"}


# ---- file modes: read-only and unreadable caches ------------------------------------------------------
def run_cli(args, home: Path) -> subprocess.CompletedProcess:
    """`python -m engine` as a user whom file modes bind: as root, without the capabilities that override them."""
    cmd = [sys.executable, "-m", "engine", "--home", str(home), *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        drop = [setpriv or "setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
        if not setpriv or subprocess.run([*drop, "true"], capture_output=True).returncode != 0:
            pytest.skip("running as root, and setpriv cannot drop the capabilities that ignore file modes")
        cmd = [*drop, *cmd]
    env = {**os.environ, "VALUESCOPE_HOME": str(home)}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


@pytest.fixture
def locked_down(valuescope_home):
    """Restores the modes the tests below change, so the temporary folder can be removed."""
    yield valuescope_home
    os.chmod(valuescope_home, 0o755)
    for path in valuescope_home.iterdir():
        os.chmod(path, 0o644)


def test_a_read_only_cache_can_still_be_listed_and_exported(locked_down, tmp_path):
    home = locked_down
    run_id = cached_runs(home)[0]
    os.chmod(home / "valuescope.duckdb", 0o444)
    os.chmod(home, 0o555)
    listed = run_cli(["runs"], home)
    assert listed.returncode == 0 and run_id in listed.stdout, listed.stderr
    out = tmp_path / "exported.csv"
    exported = run_cli(["export", run_id, "--out", str(out)], home)
    assert exported.returncode == 0, exported.stderr
    assert len(pd.read_csv(out)) == 3
    table = tmp_path / "scores.csv"
    table.write_text("response,greatest_ever_one\nlove,1.0\n")
    refused = run_cli(["import", str(table), "--family", "llama"], home)
    assert refused.returncode == 2
    line = single_error_line(refused.stderr)
    assert "read-only" in line and "locked" not in line


def test_an_unreadable_cache_says_permission_denied(locked_down):
    home = locked_down
    cached_runs(home)
    os.chmod(home / "valuescope.duckdb", 0o000)
    result = run_cli(["runs"], home)
    assert result.returncode == 2
    line = single_error_line(result.stderr)
    assert "permission denied" in line and "locked" not in line and "damaged" not in line
