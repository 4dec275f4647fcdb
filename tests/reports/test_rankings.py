"""engine.reports.rankings: what a page shows of a ranking, computed once per run from the whole ranking."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.reports import rankings
from engine.reports.spreadsheet import unfit_reason
from engine.store.db import Cache


def _cached_run(n: int = 1000) -> tuple[Cache, str, pd.DataFrame]:
    rng = np.random.default_rng(1)
    texts = [f" w{i % 300}" if i % 2 else f"W{i % 300}" for i in range(n)]
    scores = pd.DataFrame({"token_id": np.arange(n), "text": texts, "score": rng.normal(size=n)})
    cache = Cache()
    run_id = cache.save_run({"request_key": "k", "model_id": "m", "candidates": "vocab", "score_kind": "logprob"}, scores)
    return cache, run_id, cache.scores(run_id)


def test_the_summary_holds_the_ends_and_the_histogram_of_the_whole_ranking():
    cache, run_id, ranked = _cached_run()
    summary = rankings.ranking_summary(cache, run_id)
    assert summary.n == len(ranked) and summary.unfit is None
    assert summary.top["text"].tolist() == ranked["text"].head(rankings.TOP_MAX).tolist()
    assert summary.bottom["rank"].tolist() == ranked["rank"].iloc[::-1].head(rankings.TOP_MAX).tolist()
    assert summary.bins["count"].sum() == len(ranked) and len(summary.bins) == rankings.BINS
    assert rankings.ranking_summary(cache, run_id) is summary  # kept, not recomputed


def test_word_positions_are_the_best_ranked_variant_of_each_word():
    cache, run_id, ranked = _cached_run()
    marks = rankings.word_positions(cache, run_id, ["w7", "absent"])
    hits = ranked[ranked["text"].str.strip().str.lower() == "w7"]
    w7 = marks.iloc[0]
    assert (w7["rank"], w7["variants"]) == (hits["rank"].min(), len(hits))
    assert pd.isna(marks.iloc[1]["rank"]) and marks.iloc[1]["variants"] == 0
    table, meta = rankings.ranking_export(cache, run_id)
    assert len(table) == len(ranked) and meta["run_id"] == run_id


def test_the_quick_spreadsheet_check_agrees_with_the_exact_one():
    fits = pd.DataFrame({"word": ["a" * 4000, "b"]})  # 7 x 4,000 < 32,767: no cell needs escaping to know
    escaped_over = pd.DataFrame({"word": ["\x01" * 4700]})  # escaped: 7 x 4,700 = 32,900 characters
    plain_under = pd.DataFrame({"word": ["c" * 4700]})  # the bound is not met, but the cell fits
    assert unfit_reason(fits) is None and unfit_reason(plain_under) is None
    assert "32,900" in unfit_reason(escaped_over)
