"""A cached run's ranking as a page shows it, computed once per run and kept: a finished run never changes.

- `ranking_summary`: the best and worst TOP_MAX replies, a BINS-bar histogram of all scores, and
  whether the ranking fits one spreadsheet. A page showing a 262,144-token ranking then handles a few
  hundred rows per rerun, not the whole ranking.
- `word_positions`: where chosen words land: the best-ranked reply of each word after normalisation
  (engine.analysis.words), with its rank, score and top percentage.
- `ranking_export`: the whole ranking and its provenance, built when a download or the CLI asks.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.analysis.words import normalize_series, normalize_token
from engine.reports.spreadsheet import unfit_reason
from engine.reports.tables import ranking_table, run_metadata

TOP_MAX = 200  # the most best / worst replies a page lists
BINS = 50
KEPT = 32  # runs whose summaries a process keeps
WORD_POSITION_COLUMNS = ["model", "word", "rank", "token", "score", "top_pct", "variants"]


@dataclass(frozen=True)
class RankingSummary:
    run: dict
    n: int  # replies ranked
    top: pd.DataFrame  # rank, text, score: the best TOP_MAX, best first
    bottom: pd.DataFrame  # the worst TOP_MAX, worst first
    bins: pd.DataFrame  # from, to, count: the histogram of every score
    unfit: str | None  # why the whole ranking cannot be one spreadsheet; None when it can


class _Memo:
    """A small most-recently-used memo per (cache file, run id), safe across a server's session threads."""

    def __init__(self, size: int = KEPT):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, build):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = build()  # outside the lock: another run's summary need not wait for this one
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


_summaries, _words = _Memo(), _Memo()


def _summarise(cache, run_id: str) -> RankingSummary:
    run = cache.get_run(run_id)
    scores = cache.scores(run_id)
    counts, edges = np.histogram(scores["score"].to_numpy(), bins=BINS)
    def own(part: pd.DataFrame) -> pd.DataFrame:
        """A small copy that holds on to nothing of the whole ranking (a slice of Arrow text would)."""
        return pd.DataFrame({"rank": part["rank"].to_numpy(), "text": part["text"].to_numpy(dtype=object),
                             "score": part["score"].to_numpy()})

    return RankingSummary(
        run=run, n=len(scores), top=own(scores.head(TOP_MAX)), bottom=own(scores.tail(TOP_MAX).iloc[::-1]),
        bins=pd.DataFrame({"from": edges[:-1], "to": edges[1:], "count": counts}),
        unfit=unfit_reason(ranking_table(run, scores)))


def ranking_summary(cache, run_id: str) -> RankingSummary:
    """The summary of one finished run of `cache` (engine.store.db.Cache), computed on first use."""
    return _summaries.get((str(cache.path), run_id), lambda: _summarise(cache, run_id))


def _best_by_word(cache, run_id: str) -> pd.DataFrame:
    """rank, text, score of each normalised word's best-ranked reply, and how many replies normalise to it."""
    scores = cache.scores(run_id)
    words = normalize_series(scores["text"])
    best = scores.assign(word=words.to_numpy()).drop_duplicates("word")[["word", "rank", "text", "score"]]
    return best.set_index("word").assign(variants=words.value_counts())


def word_positions(cache, run_id: str, words: list[str], shown_token=str) -> pd.DataFrame:
    """Where each of `words` lands in one run's ranking (rank 1 = best); `shown_token` formats the token."""
    summary = ranking_summary(cache, run_id)
    if not words:
        return pd.DataFrame(columns=WORD_POSITION_COLUMNS)
    best = _words.get((str(cache.path), run_id), lambda: _best_by_word(cache, run_id))
    rows = []
    for word in words:
        row = {"model": summary.run["model_id"], "word": word, "variants": 0}
        key = normalize_token(word)
        if key in best.index:
            hit = best.loc[key]
            row.update(rank=int(hit["rank"]), token=shown_token(hit["text"]), score=float(hit["score"]),
                       top_pct=100 * hit["rank"] / summary.n, variants=int(hit["variants"]))
        rows.append(row)
    return pd.DataFrame(rows, columns=WORD_POSITION_COLUMNS)


def ranking_export(cache, run_id: str) -> tuple[pd.DataFrame, dict]:
    """The whole ranking of one run (engine.reports.tables.ranking_table) and its provenance."""
    run = cache.get_run(run_id)
    return ranking_table(run, cache.scores(run_id)), run_metadata(run)
