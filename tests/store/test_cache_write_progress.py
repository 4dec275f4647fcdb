"""A run's scores are written in chunks with progress, inside one transaction: a fault or a kill part-way
leaves no row of that run, and earlier runs as they were."""
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import engine.store.db as db
from engine.store.db import Cache
from helpers import ROOT


def _scores(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"token_id": np.arange(n), "text": [f" w{i}" for i in range(n)], "score": rng.normal(size=n)})


def _rows(cache: Cache, run_id: str) -> int:
    with cache.connect() as con:
        return con.execute("SELECT count(*) FROM scores WHERE run_id = ?", [run_id]).fetchone()[0]


def test_rows_are_written_in_chunks_with_a_rising_fraction(monkeypatch):
    monkeypatch.setattr(db, "WRITE_CHUNK", 7)
    cache = Cache()
    run_id = cache.start_run({"request_key": "k", "model_id": "m"})
    seen = []
    cache.finish_run(run_id, _scores(50), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 50), *((d, 50) for d in range(7, 50, 7)), (50, 50)]
    assert cache.get_run(run_id)["status"] == "done" and len(cache.scores(run_id)) == _rows(cache, run_id) == 50


def test_a_fault_mid_write_leaves_no_partial_run_and_earlier_runs_intact(monkeypatch):
    monkeypatch.setattr(db, "WRITE_CHUNK", 7)
    cache = Cache()
    earlier = cache.save_run({"request_key": "earlier", "model_id": "m"}, _scores(30, seed=1))
    before = cache.scores(earlier)
    run_id = cache.start_run({"request_key": "k", "model_id": "m"})
    written = []

    def fail_after_two_chunks(done, total):
        written.append(done)
        if done >= 14:
            raise OSError("disk full (injected)")

    with pytest.raises(OSError, match="injected"):
        cache.finish_run(run_id, _scores(50), progress=fail_after_two_chunks)
    assert written == [0, 7, 14]  # two chunks were inserted before the fault
    assert _rows(cache, run_id) == 0 and cache.get_run(run_id)["status"] == "running"
    assert cache.find_done("k") is None
    pd.testing.assert_frame_equal(cache.scores(earlier), before)


def test_a_process_killed_mid_write_leaves_no_partial_run(valuescope_home):
    cache = Cache()
    earlier = cache.save_run({"request_key": "earlier", "model_id": "m"}, _scores(30, seed=1))
    before = cache.scores(earlier)
    script = textwrap.dedent("""
        import os, numpy as np, pandas as pd
        import engine.store.db as db
        db.WRITE_CHUNK = 7
        cache = db.Cache()
        run_id = cache.start_run({"request_key": "k", "model_id": "m"})
        print(run_id, flush=True)
        scores = pd.DataFrame({"token_id": np.arange(50), "text": [f" w{i}" for i in range(50)], "score": 1.0})
        cache.finish_run(run_id, scores, progress=lambda done, total: done >= 21 and os._exit(9))
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert killed.returncode == 9, killed.stderr
    run_id = killed.stdout.split()[0]
    cache = Cache()
    assert _rows(cache, run_id) == 0 and cache.find_done("k") is None
    assert cache.list_runs().set_index("run_id").at[run_id, "status"] == "interrupted"
    pd.testing.assert_frame_equal(cache.scores(earlier), before)
