"""DuckDB cache: migrations, crash safety, and requests answered from the cache."""
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from engine.store.db import Cache
from engine.configs import SearchConfig
from engine.store.migrations import MIGRATIONS
from engine.workflows.runner import Runner
from helpers import ROOT

SCORES = pd.DataFrame({"token_id": [5, 6, 7], "text": [" a", " b", " c"], "score": [0.1, 0.9, 0.5]})


def test_migrations_are_numbered_in_order_and_applied_once(valuescope_home):
    names = [name for name, _ in MIGRATIONS]
    assert [int(n.split()[0]) for n in names] == list(range(1, len(names) + 1))
    cache = Cache()
    Cache()  # a second open must not re-apply anything
    assert cache.schema_version() == len(names)
    with cache.connect() as con:
        assert con.execute("SELECT count(*) FROM migrations WHERE set_name = 'runs'").fetchone()[0] == len(names)


def test_scores_are_ranked_best_first():
    cache = Cache()
    run_id = cache.save_run({"request_key": "k", "model_id": "m"}, SCORES)
    ranked = cache.scores(run_id)
    assert list(ranked["text"]) == [" b", " c", " a"]
    assert list(ranked["rank"]) == [1, 2, 3]


def test_failure_during_write_leaves_no_served_run(monkeypatch):
    cache = Cache()
    bad = SCORES.assign(score=["0.1", None, "x"])  # not numbers: refused inside the transaction
    with pytest.raises(ValueError):
        cache.save_run({"request_key": "k", "model_id": "m"}, bad)
    assert cache.find_done("k") is None
    runs = cache.list_runs()
    assert list(runs["status"]) == ["failed"]
    with cache.connect() as con:
        assert con.execute("SELECT count(*) FROM scores").fetchone()[0] == 0


def test_process_killed_mid_write_leaves_no_served_run(valuescope_home):
    """A process dies (os._exit, no cleanup) after inserting scores but before committing."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import duckdb
        import pandas as pd
        from engine.store.db import Cache
        c = Cache({str(valuescope_home)!r})
        run_id = c.start_run({{"request_key": "k", "model_id": "m"}})
        real_connect = duckdb.connect
        class DiesBeforeMarkingDone:
            def __init__(self, con): self.con = con
            def execute(self, sql, *args):
                if sql.startswith("UPDATE runs SET"):  # scores are inserted; the commit never comes
                    os._exit(9)
                return self.con.execute(sql, *args)
            def __getattr__(self, name): return getattr(self.con, name)
        duckdb.connect = lambda *a, **k: DiesBeforeMarkingDone(real_connect(*a, **k))
        c.finish_run(run_id, pd.DataFrame({{"token_id": [1, 2], "text": ["a", "b"], "score": [1.0, 2.0]}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    cache = Cache(valuescope_home)
    assert cache.find_done("k") is None
    runs = cache.list_runs()
    assert list(runs["status"]) == ["interrupted"]  # `running`, but its process is gone
    with cache.connect() as con:
        assert con.execute("SELECT count(*) FROM scores").fetchone()[0] == 0
    with pytest.raises(KeyError, match="not done"):
        cache.scores(runs["run_id"][0])


def test_repeated_request_is_served_from_cache_without_loading_the_model(tiny_llama_dir):
    loads = []

    def loader(request):
        from engine.models.loading import load_model

        loads.append(request.spec.alias)
        return load_model(request.spec, mode=request.mode, device="cpu", head_seed=request.config.head_seed)

    config = SearchConfig(model=str(tiny_llama_dir), mode="reward")
    first = Runner(model_loader=loader).run(config, "What is the best thing ever?")
    second = Runner(model_loader=loader).run(config, "What is the best thing ever?")
    assert not first.from_cache and second.from_cache
    assert len(loads) == 1
    assert first.run["run_id"] == second.run["run_id"]
    pd.testing.assert_frame_equal(first.scores, second.scores)
    assert first.run["head_status"].startswith("untrained") and first.run["template"] == "chat"
    # a different prompt is a different request
    third = Runner(model_loader=loader).run(config, "What is the worst thing ever?")
    assert not third.from_cache and third.run["run_id"] != first.run["run_id"]


def test_threads_of_one_process_share_the_cache_safely():
    from concurrent.futures import ThreadPoolExecutor

    cache = Cache()

    def write_and_read(i: int) -> int:
        run_id = cache.save_run({"request_key": f"k{i}", "model_id": "m"}, SCORES)
        return len(cache.scores(run_id)) + len(cache.list_runs())

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(n >= 4 for n in pool.map(write_and_read, range(16)))
    assert len(cache.list_runs(status="done")) == 16


def test_a_model_resaved_into_the_same_folder_is_a_new_request(tmp_path):
    """A local folder has no revision: its weights' fingerprint keeps a re-saved checkpoint from being
    served the old scores (what training checkpoints do)."""
    from helpers import make_tiny_model_dir

    folder = tmp_path / "checkpoint"
    make_tiny_model_dir(folder, "llama", seed=0)
    config = SearchConfig(model=str(folder), mode="reward", device="cpu")
    first = Runner().run(config, "What is the best thing ever?")
    assert Runner().run(config, "What is the best thing ever?").from_cache

    make_tiny_model_dir(folder, "llama", seed=1)  # different weights, same folder and file names
    second = Runner().run(config, "What is the best thing ever?")
    assert not second.from_cache
    assert second.run["request_key"] != first.run["request_key"]
    assert not np.allclose(second.scores.sort_values("token_id")["score"], first.scores.sort_values("token_id")["score"])
