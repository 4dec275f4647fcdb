"""What a Token search load costs when it only shows cached results: no session, new or rerun, reads a whole
ranking again (bench/page_load_bench.py measures the server's CPU per load in a browser)."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from helpers import app, cached_tiny_search, make_tiny_model_dir

pytest.importorskip("streamlit")

PROMPT = "What, in one word, is the greatest thing ever?"


@pytest.fixture
def score_reads(monkeypatch) -> list[str]:
    """The run ids whose whole ranking is read from the DuckDB cache, in order."""
    from engine.store.db import Cache

    reads, scores = [], Cache.scores

    def counted(self, run_id, *args, **kwargs):
        reads.append(run_id)
        return scores(self, run_id, *args, **kwargs)

    monkeypatch.setattr(Cache, "scores", counted)
    return reads


def test_new_sessions_and_reruns_of_cached_results_read_no_ranking(tmp_path, score_reads):
    model = make_tiny_model_dir(tmp_path / "tiny-llama", "llama")
    run_id = cached_tiny_search(model, PROMPT).run["run_id"]
    view = {"models": [str(model)], "prompt": PROMPT, "mode": "logprob", "words": "the, a"}
    first = app(**view)
    assert len(first.dataframe) >= 2 and run_id[:12] in " ".join(c.value for c in first.caption)
    assert score_reads, "the first session reads the ranking once, to summarise it"
    score_reads.clear()
    first.run()
    second = app(**view)  # a new browser session on the same server process
    assert len(second.dataframe) >= 2 and not second.exception
    assert score_reads == []


def test_served_app_skips_per_run_framework_work():
    """Measured with bench/page_load_bench.py: the source watcher and a full garbage collection after every
    script run were most of a warm page load's server CPU."""
    config = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["runner"]["postScriptGC"] is False
