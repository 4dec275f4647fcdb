"""The value analysis over cached runs: select the runs, read their words, rank, compare (CLI and app)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from engine import __version__
from engine.analysis.paper_stats import type2_anova, welch_posthoc
from engine.analysis.lexicons import Lexicon, load_lexicon, merge_categories, select_categories
from engine.analysis.shared_vocabulary import SHARED_VOCABULARY_DOC, read_token_list, shared_strings
from engine.analysis.values import ValueAnalysis, analyze_words
from engine.configs import AnalyzeConfig
from engine.errors import InputError
from engine.reports.analysis import analysis_metadata
from engine.store.queries import load_words, select_runs, texts_per_model


@dataclass
class AnalysisRun:
    result: ValueAnalysis
    runs: pd.DataFrame  # the runs analysed (newest per model and prompt)
    lexicon: Lexicon
    metadata: dict  # provenance for every exported table
    notes: list[str] = field(default_factory=list)
    paper_tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # --anova: "anova", "posthoc"


def run_analysis(cache, config: AnalyzeConfig, home=None, lexicon: Lexicon | None = None,
                 tool: str = "valuescope analyze") -> AnalysisRun:
    if config.resamples < 1 or config.top_k < 1:
        raise InputError("resamples and top-k must be at least 1.")
    lexicon = paper_lexicon(lexicon or load_lexicon(config.lexicon, home=home), config)
    runs = select_runs(cache, models=config.models, families=config.families, prompts=config.prompts,
                       candidates=config.candidates)
    keep_texts, shared_note = _shared_vocabulary(cache, runs, config.shared_vocabulary)
    if config.exact_words:  # the lexicon's entries as written: no case or whitespace variants
        spelled = frozenset(term for term, _, _ in lexicon.rows if not term.endswith("*"))
        keep_texts = spelled if keep_texts is None else keep_texts & spelled
    words = load_words(cache, runs, config.variants, lexicon=lexicon if config.word_scope == "lexicon" else None,
                       keep_texts=keep_texts)
    families = config.families if config.families and len(config.families) == 2 else None
    result = analyze_words(words, lexicon, families=families, seed=config.seed, resamples=config.resamples,
                           top_k=config.top_k, word_scope=config.word_scope, test=config.test)
    notes = list(result.notes) + ([shared_note] if shared_note else [])
    if config.exact_words:
        notes.append("only replies spelled exactly as a lexicon entry were ranked")
    paper_tables = two_model_anova(result.medians) if config.anova else {}
    if runs.attrs.get("skipped"):
        notes.append(f"{runs.attrs['skipped']} older or alternative run(s) of the same (model, prompt) were left out "
                     "(the newest is used; choose with the candidate sets)")
    meta = analysis_metadata(runs, lexicon, config.variants, tool=f"{tool} ({__version__})",
                             created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             candidates=sorted(set(runs["candidates"].dropna())), word_scope=config.word_scope,
                             notes="; ".join(notes) or None)
    return AnalysisRun(result, runs, lexicon, {k: v for k, v in meta.items() if v is not None}, notes, paper_tables)


def two_model_anova(medians: pd.DataFrame, value: str = "median_rank") -> dict[str, pd.DataFrame]:
    """The paper's Fig 2 statistics between exactly two models (engine.analysis.paper_stats)."""
    models = list(pd.unique(medians["model_id"]))
    if len(models) != 2:
        raise InputError(f"--anova compares exactly two models; the analysis has {len(models)} "
                         f"({', '.join(map(str, models))}): pick two with --models A B.")
    return {"anova": type2_anova(medians, value=value, between="model_id"),
            "posthoc": welch_posthoc(medians, (models[0], models[1]), value=value, between="model_id")}


def paper_lexicon(lexicon: Lexicon, config: AnalyzeConfig) -> Lexicon:
    """The lexicon with the chosen categories (--categories), then merged (--merge-categories)."""
    if config.categories:
        lexicon = select_categories(lexicon, config.categories)
    if config.merge_categories:
        lexicon = merge_categories(lexicon, config.merge_categories)
    return lexicon


def _shared_vocabulary(cache, runs: pd.DataFrame, choice: str | None) -> tuple[frozenset[str] | None, str | None]:
    if not choice:
        return None, None
    if choice == "models":
        strings = shared_strings(texts_per_model(cache, runs).values())
        source = f"every analysed model's scored texts ({runs['model_id'].nunique()} models)"
    else:
        strings, source = read_token_list(choice), choice
    if not strings:
        raise InputError(f"The shared-vocabulary filter ({source}) keeps no text: the vocabularies share no string.")
    return strings, SHARED_VOCABULARY_DOC.format(source=source, n=len(strings))


def plan_units(runs_done: pd.DataFrame, models: list[str], prompts: list[str], candidates: str) -> tuple[list, list]:
    """(cached, missing) (model, prompt key) units of a comparison: cached means a completed run of that
    model and prompt with exactly these candidates (any scoring settings; the newest is analysed)."""
    keys = runs_done["prompt_key"].fillna(runs_done["prompt_text"])
    have = set(zip(runs_done["model_id"], keys, runs_done["candidates"]))
    units = [(m, p) for m in models for p in prompts]
    cached = [u for u in units if (*u, candidates) in have]
    return cached, [u for u in units if (*u, candidates) not in have]
