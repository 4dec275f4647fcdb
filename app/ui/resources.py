"""Process-wide resources of the app: the cache of the data folder and memoised scores."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.paths import home_dir
from engine.reports import rankings
from engine.reports.rankings import RankingSummary
from engine.store.db import Cache
from engine.workflows.rekey import open_cache
from engine.workflows.runner import RunRequest


def home() -> str:
    """The data folder ($VALUESCOPE_HOME, else the repository's cache/), as a cache key."""
    return str(home_dir())


@st.cache_resource(show_spinner=False)
def _cache_for(home_path: str) -> Cache:
    # Cache serialises its connections within a process: sessions and search workers are threads.
    return open_cache(home_path)


def cache() -> Cache:
    """The DuckDB cache of this data folder (one object per process and folder)."""
    return _cache_for(home())


@st.cache_data(show_spinner=False, max_entries=64)
def _run_scores(home_path: str, run_id: str) -> pd.DataFrame:
    return _cache_for(home_path).scores(run_id)


def run_scores(run_id: str) -> pd.DataFrame:
    """Scores of one completed run, ranked (a done run never changes, so they are memoised by id)."""
    return _run_scores(home(), run_id)


def forget_run(run_id: str) -> None:
    _run_scores.clear(home(), run_id)


def cached_run(request: RunRequest) -> dict | None:
    """The runs row of this resolved request's newest finished run, if the cache has one."""
    return cache().find_done(request.key)


def ranking_summary(run_id: str) -> RankingSummary:
    """What a page shows of one run's ranking (engine.reports.rankings, kept per run in this process)."""
    return rankings.ranking_summary(cache(), run_id)


def word_positions(run_id: str, words: list[str], shown_token=str) -> pd.DataFrame:
    return rankings.word_positions(cache(), run_id, words, shown_token)


def ranking_export(run_id: str) -> tuple[pd.DataFrame, dict]:
    return rankings.ranking_export(cache(), run_id)
