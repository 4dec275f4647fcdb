"""The paper's value analysis: which lexicon categories does each model rank high?

Conventions
- Input: a long score table, one row per scored reply per (model, prompt), with columns
  `model_id, family, prompt_key, framing, text, score` (optionally run_id, revision, source).
  `engine.analysis.words.to_words` turns it into words under a variant policy. From the cache,
  `select_runs` + `load_words` give the same words table (string columns as pandas categoricals).
- Ranks: within one (model, prompt), over the words that match the lexicon; rank 1 = best (highest
  score); ties get the average of their ranks (pandas rank(method="average")). Under the
  "all_variants" policy each token is ranked on its own.
- A word in several categories counts in each (MFD 2.0 has 57 such words); it is ranked once.
- Models with different vocabularies rank different numbers of words; `median_rank_pct` (rank / number
  ranked) is the comparable scale then (`compare_families(..., value="median_rank_pct")`).
- Median rank per category: the median of the ranks of its words in one (model, prompt).
- Family comparison, unit of observation: one (model, prompt) median rank of a category. Within a
  panel (category x framing) the observations of family A (every model of A x every prompt of that
  framing) are compared with those of family B, as in the paper. Observations of one model are not
  independent (same model, several prompts); the mixed model accounts for that with a random
  intercept per model, the t-test does not.
  - test: Welch's t statistic, two-sided, p-value from a permutation test
    (`scipy.stats.ttest_ind(..., equal_var=False, method=PermutationMethod(n_resamples, rng=seed))`;
    exact when the groups are small enough to enumerate; each group's values are sorted first, so
    the p-value depends on the seed, not on row order); or, with test="welch", the parametric Welch
    p (`p_welch`), which is what the paper's `MKinfer::perm.t.test(...)$p.value` reports;
  - `p_bonferroni`: Bonferroni over the panels that were tested (statsmodels `multipletests`);
  - `diff` = mean(A) - mean(B); `effect_size` = Hedges' g (bias-corrected standardised mean
    difference with pooled SD, statsmodels `effectsize_smd`), same sign as `diff`. Lower ranks are
    better, so a negative diff / g means family A ranks the category higher than family B does.
- Mixed model: `median_rank ~ family * category * framing` (factors with one level are left out),
  random intercept per model (statsmodels `mixedlm`, REML). Treatment coding: the reference levels are
  the first family, the lexicon's first category and the positive framing.
- Kendall's tau (tau-b, scipy `kendalltau`): per prompt, between two models' scores over the words
  both scored for that prompt; the summary averages tau over prompts (overall and per framing).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.analysis.lexicons import Lexicon
from engine.analysis.stats import (compare_families, framing_rank, kendall_tau, mixed_model, pick_families, plain_values,
                                   summarise_tau)
from engine.analysis.words import DEFAULT_VARIANT_POLICY
from engine.errors import InputError
from engine.prompts import BATTERY

RANK_DOC = "rank 1 = best (highest score) among the matched words of one (model, prompt); ties get their average rank"
RANK_KEYS = ("model_id", "prompt_key")
_ID_COLUMNS = ("run_id", "model_id", "family", "revision", "source", "prompt_key", "framing")
_PROMPT_ORDER = {key: i for i, key in enumerate(BATTERY)}


# ---- words, categories and ranks ------------------------------------------------------------------
def attach_categories(words: pd.DataFrame, lexicon: Lexicon, keep_unmatched: bool = False) -> pd.DataFrame:
    """Add `categories`: the word's lexicon categories joined by "; " in lexicon order ("" if none).

    Unmatched words are dropped unless keep_unmatched.
    """
    codes, uniques = pd.factorize(words["word"])
    looked_up = np.array(["; ".join(lexicon.categories_in_order(w)) for w in uniques], dtype=object)
    out = words.copy()
    out["categories"] = looked_up[codes] if len(codes) else pd.Series(dtype=object)
    if not keep_unmatched:
        out = out[out["categories"] != ""].reset_index(drop=True)
    return out


def rank_words(words: pd.DataFrame, by: tuple[str, ...] = RANK_KEYS) -> pd.DataFrame:
    """Add `rank` (1 = best = highest score, ties averaged) and `n_ranked` within each `by` group."""
    _check_one_run_per_ranking(words, by)
    out = words.copy()
    grouped = out.groupby(list(by), sort=False, dropna=False, observed=True)["score"]
    out["rank"] = grouped.rank(method="average", ascending=False)
    out["n_ranked"] = grouped.transform("size")
    return out


def category_medians(ranked: pd.DataFrame, categories: list[str] | None = None) -> pd.DataFrame:
    """Median rank per (model, prompt, category).

    Columns: the id columns present, `category`, `median_rank`, `n_words` (ranked rows in the
    category: words, or tokens under all_variants), `n_ranked` (rows ranked in that (model, prompt)),
    `median_rank_pct` (median of rank / n_ranked: comparable across vocabularies of different size).
    """
    exploded = ranked.assign(category=ranked["categories"].str.split("; ")).explode("category")
    exploded = exploded[exploded["category"].notna() & (exploded["category"] != "")]
    keys = [c for c in _ID_COLUMNS if c in exploded.columns] + ["category"]
    exploded = exploded.assign(rank_pct=exploded["rank"] / exploded["n_ranked"])
    out = (
        exploded.groupby(keys, sort=False, dropna=False, observed=True)
        .agg(median_rank=("rank", "median"), n_words=("rank", "size"), n_ranked=("n_ranked", "first"),
             median_rank_pct=("rank_pct", "median"))
        .reset_index()
    )
    out = plain_values(out)
    order = {c: i for i, c in enumerate(categories or pd.unique(out["category"]))}
    sort_keys = pd.DataFrame({
        "m": out["model_id"].map({m: i for i, m in enumerate(pd.unique(out["model_id"]))}),
        "f": out["framing"].map(framing_rank) if "framing" in out else 0,
        "p": out["prompt_key"].map(lambda k: _PROMPT_ORDER.get(k, len(_PROMPT_ORDER))),
        "k": out["prompt_key"].astype(str),
        "c": out["category"].map(order),
    })
    return out.loc[sort_keys.sort_values(["m", "f", "p", "k", "c"], kind="mergesort").index].reset_index(drop=True)


# ---- top and bottom words -------------------------------------------------------------------------
def top_bottom_words(ranked: pd.DataFrame, k: int = 10, by: tuple[str, ...] = ("model_id", "framing")) -> pd.DataFrame:
    """The k best and k worst words per `by` group, by mean rank over the group's prompts.

    Columns: *by, end ("top" | "bottom"), position (1 = best for top, 1 = worst for bottom), word,
    mean_rank, n_prompts, categories. With by=("model_id", "prompt_key") it lists one ranking as is.
    """
    if k < 1:
        raise InputError("k must be at least 1.")
    keys = [c for c in by if c in ranked.columns]
    agg = {"mean_rank": ("rank", "mean"), "n_prompts": ("prompt_key", "nunique")}
    if "categories" in ranked.columns:
        agg["categories"] = ("categories", "first")
    per_word = plain_values(ranked.groupby([*keys, "word"], sort=False, dropna=False, observed=True).agg(**agg).reset_index())
    parts = []
    for _, grp in per_word.groupby(keys, sort=False, dropna=False):
        ordered = grp.sort_values(["mean_rank", "word"], kind="mergesort")
        top = ordered.head(k).assign(end="top")
        bottom = ordered.iloc[::-1].head(k).assign(end="bottom")
        for part in (top, bottom):
            parts.append(part.assign(position=range(1, len(part) + 1)))
    columns = [*keys, "end", "position", "word", "mean_rank", "n_prompts"] + (["categories"] if "categories" in agg else [])
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


# ---- everything at once ---------------------------------------------------------------------------
@dataclass
class ValueAnalysis:
    """All tables of one analysis. `family_summary`/`mixed` are None when fewer than two families."""

    word_ranks: pd.DataFrame  # lexicon-matched words with rank, per (model, prompt)
    medians: pd.DataFrame  # per (model, prompt, category)
    family_summary: pd.DataFrame | None
    mixed: pd.DataFrame | None
    tau: pd.DataFrame  # per (model pair, prompt)
    tau_summary: pd.DataFrame
    top_bottom: pd.DataFrame
    families: tuple[str, str] | None
    variant_policy: str
    word_scope: str
    notes: list[str] = field(default_factory=list)


def analyze_words(
    words: pd.DataFrame,
    lexicon: Lexicon,
    families: list[str] | tuple[str, ...] | None = None,
    seed: int = 0,
    resamples: int = 9999,
    top_k: int = 10,
    word_scope: str = "lexicon",
    test: str = "permutation",
) -> ValueAnalysis:
    """Run the whole analysis on a words table (`engine.analysis.words.to_words` output, with `family`).

    word_scope: "lexicon" computes Kendall's tau and top/bottom words over lexicon words only;
    "all" over every word (medians always use lexicon words, ranked among themselves).
    """
    if word_scope not in ("lexicon", "all"):
        raise InputError("word_scope must be 'lexicon' or 'all'.")
    if words.empty:
        raise InputError(f"No scored reply matches a word of lexicon {lexicon.name!r} (or no run has scores).")
    policy = str(words["variant_policy"].iloc[0]) if "variant_policy" in words else DEFAULT_VARIANT_POLICY
    notes: list[str] = []
    labelled = attach_categories(words, lexicon, keep_unmatched=(word_scope == "all"))
    matched = labelled[labelled["categories"] != ""]
    if matched.empty:
        raise InputError(f"No scored reply matches a word of lexicon {lexicon.name!r}.")
    word_ranks = _in_reading_order(rank_words(matched))
    medians = category_medians(word_ranks, lexicon.categories)

    summary = mixed = None
    chosen = None
    present = list(pd.unique(medians["family"].dropna())) if "family" in medians else []
    if families or len(present) == 2:
        chosen = pick_families(medians, families)
        summary = compare_families(medians, chosen, seed=seed, resamples=resamples, test=test)
        mixed = mixed_model(medians, chosen)
    else:
        notes.append(f"family comparison skipped: it needs two families, found {len(present)} "
                     f"({', '.join(map(str, present))}); pick two with --families A B")
    if medians["framing"].isna().any():
        notes.append("prompts without a framing are left out of the family comparison and the mixed model")

    scope_ranked = word_ranks if word_scope == "lexicon" else rank_words(labelled)
    tau_words = matched if word_scope == "lexicon" else labelled
    if policy == "all_variants":
        tau_words = _collapse_variants(tau_words, "mean")
        notes.append("Kendall's tau uses one score per word (mean over variants), since all_variants keeps duplicates")
    tau = kendall_tau(tau_words)
    return ValueAnalysis(
        word_ranks=word_ranks, medians=medians, family_summary=summary, mixed=mixed, tau=tau,
        tau_summary=summarise_tau(tau), top_bottom=top_bottom_words(scope_ranked, top_k),
        families=chosen, variant_policy=policy, word_scope=word_scope, notes=notes,
    )


def _check_one_run_per_ranking(words: pd.DataFrame, by) -> None:
    if "run_id" in words.columns:
        runs_per_group = words.groupby(list(by), sort=False, dropna=False, observed=True)["run_id"].nunique()
        if (runs_per_group > 1).any():
            bad = runs_per_group[runs_per_group > 1].index[0]
            raise InputError(f"Several runs for {dict(zip(by, bad if isinstance(bad, tuple) else (bad,)))}: "
                             "pick one run per (model, prompt) before ranking.")


def _in_reading_order(ranked: pd.DataFrame) -> pd.DataFrame:
    """Models in input order, prompts in battery order, best rank first."""
    ranked = plain_values(ranked)
    model_order = {m: i for i, m in enumerate(pd.unique(ranked["model_id"]))}
    keys = pd.DataFrame({
        "m": ranked["model_id"].map(model_order),
        "p": ranked["prompt_key"].map(lambda k: _PROMPT_ORDER.get(k, len(_PROMPT_ORDER))),
        "k": ranked["prompt_key"].astype(str),
        "r": ranked["rank"],
    }, index=ranked.index)
    return ranked.loc[keys.sort_values(["m", "p", "k", "r"], kind="mergesort").index].reset_index(drop=True)


def _collapse_variants(words: pd.DataFrame, policy: str) -> pd.DataFrame:
    keys = [c for c in _ID_COLUMNS if c in words.columns] + ["word"]
    return words.groupby(keys, sort=False, dropna=False, observed=True).agg(score=("score", policy)).reset_index()
