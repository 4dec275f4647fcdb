"""The tables the value analysis exports, what one row of each is, and their provenance."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine import __version__
from engine.reports.export import table_path, write_table
from engine.analysis.intervals import group_differences
from engine.analysis.lexicons import Lexicon
from engine.analysis.stats import MIXED_DOC, TAU_DOC, family_test_doc
from engine.analysis.values import RANK_DOC
from engine.analysis.words import NORMALIZATION, VARIANT_POLICY_DOC

# Output file stem -> what one row is (written into each file's header).
OUTPUT_FILES = {
    "median_ranks": "one (model, prompt, category): median rank of the category's words (1 = best)",
    "family_summary": "one (framing, category) panel: family comparison",
    "family_differences": "one (framing, category) panel: family A minus family B of the (model, prompt) median "
                          "ranks, with its bootstrap interval and a one-line reading",
    "mixed_model": "one fixed or random effect of the mixed model",
    "word_ranks": "one matched word (or token under all_variants) per (model, prompt), with its rank",
    "top_bottom_words": "the k best and worst words per (model, framing), by mean rank over the framing's prompts",
    "kendall_tau": "one (model pair, prompt): Kendall's tau-b over the words both scored",
    "kendall_tau_summary": "one (model pair, framing or 'all'): tau averaged over prompts",
}


def analysis_metadata(runs: pd.DataFrame, lexicon: Lexicon, policy: str, **extra) -> dict:
    """Header for exported tables: models, revisions, prompts, lexicon, normalisation, variant policy.

    `runs` is a runs table (or any table with model_id and optionally family/revision/source/prompt_key).
    """
    per_model = runs.drop_duplicates("model_id")

    def pairs(column):
        if column not in runs:
            return None
        return ", ".join(f"{m}={'(unknown)' if pd.isna(v) else v}" for m, v in zip(per_model["model_id"], per_model[column]))

    meta = {
        "models": list(per_model["model_id"]),
        "families": pairs("family"),
        "revisions": pairs("revision"),
        "sources": pairs("source"),
        "prompts": list(pd.unique(runs["prompt_key"])) if "prompt_key" in runs else None,
        "lexicon": lexicon.describe(),
        "lexicon_categories": lexicon.categories,
        "normalization": NORMALIZATION,
        "variant_policy": f"{policy} ({VARIANT_POLICY_DOC.get(policy, policy)})",
        "ranks": RANK_DOC, "valuescope_version": __version__,
    }
    if "run_id" in runs:
        meta["runs"] = list(pd.unique(runs["run_id"]))
    meta.update(extra)
    return {k: v for k, v in meta.items() if v is not None}


def analysis_tables(result, seed: int, resamples: int, top_k: int,
                    with_differences: bool = True) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Stem -> (table, extra provenance) for every table of a ValueAnalysis (`with_differences=False`: without
    the bootstrap of `family_differences`, for a caller that computes its own)."""
    tables = {
        "median_ranks": (result.medians, {}),
        "word_ranks": (result.word_ranks, {}),
        "top_bottom_words": (result.top_bottom, {"k": top_k}),
        "kendall_tau": (result.tau, {"method": TAU_DOC}),
        "kendall_tau_summary": (result.tau_summary, {"method": TAU_DOC}),
    }
    if result.family_summary is not None:
        summary = result.family_summary
        doc = family_test_doc(summary)
        tables["family_summary"] = (summary, {"compared_families": " vs ".join(result.families), "seed": seed,
                                              "resamples": resamples, "method": doc})
        tables["mixed_model"] = (result.mixed, {"method": MIXED_DOC})
    if result.family_summary is not None and with_differences:
        differences = family_differences(result, seed, resamples)
        tables["family_differences"] = (differences, {"seed": seed, "resamples": resamples,
                                                      "method": differences.attrs["method"]})
    return tables


def family_differences(result, seed: int, resamples: int, confidence: float = 0.95) -> pd.DataFrame:
    """Family A minus family B per (framing, category) panel, with bootstrap intervals (engine.analysis.intervals);
    the same table as the Values page's differences between families."""
    medians = result.medians.assign(framing=result.medians["framing"].fillna("no framing"))
    return group_differences(medians, "family", tuple(result.families), "median_rank", ["framing", "category"],
                             confidence=confidence, resamples=resamples, seed=seed, unit="places",
                             what="{category} words ({framing} prompts)")


def write_analysis_tables(result, out: str | Path, meta: dict, seed: int, resamples: int, top_k: int,
                          fmt: str = "csv", tables: dict | None = None) -> list[Path]:
    """Every table of `analysis_tables` (or the `tables` it already gave) into folder `out`."""
    tables = tables if tables is not None else analysis_tables(result, seed, resamples, top_k)
    return [write_table(table, table_path(out, stem, fmt), {"table": f"{stem}: {OUTPUT_FILES[stem]}", **meta, **extra})
            for stem, (table, extra) in tables.items()]
