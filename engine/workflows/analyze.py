"""The value analysis over cached runs: select the runs, read their words, rank, compare (CLI and app)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from engine import __version__
from engine.analysis.lexicons import Lexicon, load_lexicon
from engine.analysis.values import ValueAnalysis, analyze_words
from engine.configs import AnalyzeConfig
from engine.errors import InputError
from engine.reports.analysis import analysis_metadata
from engine.store.queries import load_words, select_runs


@dataclass
class AnalysisRun:
    result: ValueAnalysis
    runs: pd.DataFrame  # the runs analysed (newest per model and prompt)
    lexicon: Lexicon
    metadata: dict  # provenance for every exported table
    notes: list[str] = field(default_factory=list)


def run_analysis(cache, config: AnalyzeConfig, home=None, lexicon: Lexicon | None = None,
                 tool: str = "valuescope analyze") -> AnalysisRun:
    if config.resamples < 1 or config.top_k < 1:
        raise InputError("resamples and top-k must be at least 1.")
    lexicon = lexicon or load_lexicon(config.lexicon, home=home)
    runs = select_runs(cache, models=config.models, families=config.families, prompts=config.prompts,
                       candidates=config.candidates)
    words = load_words(cache, runs, config.variants, lexicon=lexicon if config.word_scope == "lexicon" else None)
    families = config.families if config.families and len(config.families) == 2 else None
    result = analyze_words(words, lexicon, families=families, seed=config.seed, resamples=config.resamples,
                           top_k=config.top_k, word_scope=config.word_scope)
    notes = list(result.notes)
    if runs.attrs.get("skipped"):
        notes.append(f"{runs.attrs['skipped']} older or alternative run(s) of the same (model, prompt) were left out "
                     "(the newest is used; choose with the candidate sets)")
    meta = analysis_metadata(runs, lexicon, config.variants, tool=f"{tool} ({__version__})",
                             created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             candidates=sorted(set(runs["candidates"].dropna())), word_scope=config.word_scope,
                             notes="; ".join(notes) or None)
    return AnalysisRun(result, runs, lexicon, {k: v for k, v in meta.items() if v is not None}, notes)


def plan_units(runs_done: pd.DataFrame, models: list[str], prompts: list[str], candidates: str) -> tuple[list, list]:
    """(cached, missing) (model, prompt key) units of a comparison: cached means a completed run of that
    model and prompt with exactly these candidates (any scoring settings; the newest is analysed)."""
    keys = runs_done["prompt_key"].fillna(runs_done["prompt_text"])
    have = set(zip(runs_done["model_id"], keys, runs_done["candidates"]))
    units = [(m, p) for m in models for p in prompts]
    cached = [u for u in units if (*u, candidates) in have]
    return cached, [u for u in units if (*u, candidates) not in have]
