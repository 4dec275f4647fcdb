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
    the p-value depends on the seed, not on row order);
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

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.meta_analysis import effectsize_smd
from statsmodels.stats.multitest import multipletests

from engine.analysis.lexicons import Lexicon
from engine.analysis.words import DEFAULT_VARIANT_POLICY, NORMALIZATION, VARIANT_POLICY_DOC, normalize_token, to_words
from engine.prompts import BATTERY, FRAMINGS
from engine.errors import InputError

RANK_DOC = "rank 1 = best (highest score) among the matched words of one (model, prompt); ties get their average rank"
FAMILY_TEST_DOC = (
    "unit = one (model, prompt) median rank of a category within a framing; family columns = mean of those; "
    "diff = first family minus second (negative: first family ranks the category higher); "
    "p_perm = two-sided permutation test of Welch's t ({resamples} resamples, seed {seed}); "
    "p_bonferroni = Bonferroni over the {n_tested} tested panels; effect_size = Hedges' g (same sign as diff)"
)
MIXED_DOC = "statsmodels mixedlm, REML, random intercept per model; treatment coding (reference: first family, first category, positive framing)"
TAU_DOC = "Kendall's tau-b per prompt between two models' scores over the words both scored; summary = mean over prompts"
RANK_KEYS = ("model_id", "prompt_key")
_ID_COLUMNS = ("run_id", "model_id", "family", "revision", "source", "prompt_key", "framing")
_RESERVED = {"framing", "category", "diff", "p_perm", "p_bonferroni", "effect_size", "t_welch", "note"}
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
    out = _plain(out)
    order = {c: i for i, c in enumerate(categories or pd.unique(out["category"]))}
    sort_keys = pd.DataFrame({
        "m": out["model_id"].map({m: i for i, m in enumerate(pd.unique(out["model_id"]))}),
        "f": out["framing"].map(_framing_rank) if "framing" in out else 0,
        "p": out["prompt_key"].map(lambda k: _PROMPT_ORDER.get(k, len(_PROMPT_ORDER))),
        "k": out["prompt_key"].astype(str),
        "c": out["category"].map(order),
    })
    return out.loc[sort_keys.sort_values(["m", "f", "p", "k", "c"], kind="mergesort").index].reset_index(drop=True)


# ---- family comparison ----------------------------------------------------------------------------
def pick_families(data: pd.DataFrame, families: list[str] | tuple[str, ...] | None = None) -> tuple[str, str]:
    """The two families to compare: those given (in that order), or the only two present (sorted)."""
    present = [f for f in pd.unique(data["family"].dropna())]
    if families:
        families = list(families)
        if len(families) != 2:
            raise InputError(f"Compare exactly two families; got {len(families)}: {', '.join(families)}.")
        missing = [f for f in families if f not in present]
        if missing:
            raise InputError(f"No scores for family {', '.join(missing)}; present: {', '.join(map(str, present)) or 'none'}.")
        chosen = tuple(families)
    elif len(present) == 2:
        chosen = tuple(sorted(present))
    else:
        raise InputError(
            f"A family comparison needs exactly two families; found {len(present)} "
            f"({', '.join(map(str, present)) or 'none'}). Pick two with --families A B."
        )
    clash = _RESERVED.intersection(chosen) | {f for f in chosen if f.startswith("n_")}
    if clash:
        raise InputError(f"Family name(s) {', '.join(sorted(clash))} clash with summary column names; rename the family.")
    if chosen[0] == chosen[1]:
        raise InputError("Pick two different families.")
    return chosen  # type: ignore[return-value]


def compare_families(
    medians: pd.DataFrame,
    families: list[str] | tuple[str, ...] | None = None,
    value: str = "median_rank",
    seed: int = 0,
    resamples: int = 9999,
) -> pd.DataFrame:
    """Per (framing, category) panel: family means, diff, permutation p, Bonferroni p, Hedges' g.

    Columns: framing, category, <family A>, <family B>, diff, p_perm, p_bonferroni, effect_size,
    n_<A>, n_<B>, t_welch, note. See the module docstring for the unit of observation and signs.
    """
    if resamples < 1:
        raise InputError("--resamples must be at least 1.")
    fam_a, fam_b = pick_families(medians, families)
    data = medians[medians["family"].isin([fam_a, fam_b]) & medians["framing"].notna() & medians[value].notna()]
    rows = []
    for (framing, category), panel in _plain(data).groupby(["framing", "category"], sort=False):
        # Sorted: the resampled p-value then depends on the seed only, not on the row order.
        a = np.sort(panel.loc[panel["family"] == fam_a, value].to_numpy(float))
        b = np.sort(panel.loc[panel["family"] == fam_b, value].to_numpy(float))
        row = {"framing": framing, "category": category, fam_a: _mean(a), fam_b: _mean(b),
               "diff": _mean(a) - _mean(b), "p_perm": np.nan, "effect_size": np.nan,
               f"n_{fam_a}": len(a), f"n_{fam_b}": len(b), "t_welch": np.nan, "note": ""}
        if len(a) < 2 or len(b) < 2:
            row["note"] = "not tested: needs at least 2 observations per family"
        elif np.ptp(np.concatenate([a, b])) == 0:
            row["note"] = "not tested: all observations are equal"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # zero variance in one group: t is inf/nan
                res = stats.ttest_ind(a, b, equal_var=False,
                                      method=stats.PermutationMethod(n_resamples=resamples, rng=seed))
            row["t_welch"], row["p_perm"] = float(res.statistic), float(res.pvalue)
            row["effect_size"] = hedges_g(a, b)
            if not np.isfinite(row["p_perm"]):
                row["note"] = "not tested: the t statistic is undefined (no variance)"
                row["p_perm"] = np.nan
        rows.append(row)
    out = pd.DataFrame(rows, columns=["framing", "category", fam_a, fam_b, "diff", "p_perm", "effect_size",
                                      f"n_{fam_a}", f"n_{fam_b}", "t_welch", "note"])
    out.insert(out.columns.get_loc("p_perm") + 1, "p_bonferroni", bonferroni(out["p_perm"]))
    out = out.sort_values("framing", key=lambda s: s.map(_framing_rank), kind="mergesort").reset_index(drop=True)
    out.attrs.update(families=(fam_a, fam_b), value=value, seed=seed, resamples=resamples,
                     n_tested=int(out["p_perm"].notna().sum()))
    return out


def hedges_g(a, b) -> float:
    """Hedges' g of a - b (pooled SD, small-sample corrected), via statsmodels `effectsize_smd`."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    g, _ = effectsize_smd(a.mean(), a.std(ddof=1), len(a), b.mean(), b.std(ddof=1), len(b))
    return float(g)


def bonferroni(p_values) -> np.ndarray:
    """Bonferroni-adjusted p-values over the finite entries (NaN stays NaN: those panels were not tested)."""
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    tested = np.isfinite(p)
    if tested.any():
        out[tested] = multipletests(p[tested], method="bonferroni")[1]
    return out


# ---- mixed model ----------------------------------------------------------------------------------
MIXED_COLUMNS = ["term", "coef", "std_err", "z", "p_value", "ci_low", "ci_high", "converged", "n_obs", "n_groups", "formula", "note"]


def mixed_model(
    medians: pd.DataFrame,
    families: list[str] | tuple[str, ...] | None = None,
    value: str = "median_rank",
) -> pd.DataFrame:
    """`value ~ family * category * framing`, random intercept per model. Never raises on a bad fit:
    warnings (singular covariance, no convergence) go into `note`; a failed fit returns one row whose
    `note` says why."""
    import statsmodels.formula.api as smf  # slow import; only needed here

    data = _plain(medians[medians["framing"].notna() & medians[value].notna()])
    if families:
        data = data[data["family"].isin(list(families))]
    fam_order = list(families) if families else sorted(pd.unique(data["family"].dropna()))
    levels = {
        "family": fam_order,
        "category": list(pd.unique(data["category"])),
        "framing": sorted(pd.unique(data["framing"]), key=_framing_rank),
    }
    factors = [f for f in ("family", "category", "framing") if len(levels[f]) >= 2]
    formula = f"{value} ~ " + (" * ".join(factors) if factors else "1")
    for name in factors:
        data[name] = pd.Categorical(data[name], categories=levels[name])
    n_groups = data["model_id"].nunique()

    def failed(note: str) -> pd.DataFrame:
        row = {c: np.nan for c in MIXED_COLUMNS}
        row.update(term="(not fitted)", converged=False, n_obs=len(data), n_groups=n_groups, formula=formula, note=note)
        return pd.DataFrame([row], columns=MIXED_COLUMNS)

    if n_groups < 2:
        return failed(f"needs at least 2 models for a random intercept per model; found {n_groups}")
    n_fixed = int(np.prod([len(levels[f]) for f in factors])) if factors else 1  # full factorial
    if len(data) <= 2 * n_fixed:
        return failed(f"too few observations ({len(data)}) for {n_fixed} fixed effects")
    model = smf.mixedlm(formula, data, groups=data["model_id"])
    result, caught, notes = _fit_mixed(model)
    if result is None:
        return failed("; ".join(notes))
    with warnings.catch_warnings(record=True) as more:
        warnings.simplefilter("always")
        try:
            terms = result.params.index
            conf = result.conf_int()
            table = pd.DataFrame({
                "term": terms,
                "coef": result.params.to_numpy(),
                "std_err": result.bse.reindex(terms).to_numpy(),
                "z": result.tvalues.reindex(terms).to_numpy(),
                "p_value": result.pvalues.reindex(terms).to_numpy(),
                "ci_low": conf[0].reindex(terms).to_numpy(),
                "ci_high": conf[1].reindex(terms).to_numpy(),
            })
        except Exception as exc:
            return failed("; ".join([*notes, f"standard errors unavailable: {type(exc).__name__}: {exc}"]))
    notes += list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in [*caught, *more]))
    if n_groups < 5:
        notes.append(f"only {n_groups} models: the random-intercept variance is poorly estimated")
    table["converged"] = bool(result.converged)
    table["n_obs"] = int(result.nobs)
    table["n_groups"] = n_groups
    table["formula"] = formula
    table["note"] = "; ".join(notes)
    return table[MIXED_COLUMNS]


# Optimisers tried in turn. statsmodels' default (bfgs, then lbfgs) can stop at a random-intercept
# variance of exactly 0, where its fixed effects and standard errors are garbage (an intercept of 0,
# SEs of 1e7); the derivative-free ones handle that boundary and then agree with OLS, as they should.
_MIXED_OPTIMIZERS = (("default", {}), ("powell", {"method": "powell"}), ("nelder-mead", {"method": "nm", "maxiter": 20000}))


def _fit_mixed(model):
    """(result or None, warnings of the accepted fit, notes). Accepts the first healthy fit."""
    notes, fallback = [], None
    for label, kwargs in _MIXED_OPTIMIZERS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = model.fit(reml=True, **kwargs)
                finite = bool(np.all(np.isfinite(result.fe_params))
                              and np.all(np.isfinite(np.asarray(result.bse)[:model.k_fe])))
                group_var = float(np.asarray(result.cov_re)[0, 0])
            except Exception as exc:  # singular design, failed optimisation: report, never crash
                notes.append(f"{label} optimiser failed: {type(exc).__name__}: {exc}")
                continue
        if result.converged and finite and group_var > 0:
            if label != "default":
                notes.append(f"fitted with the {label} optimiser (the default one did not give a usable fit)")
            return result, caught, notes
        problem = "did not converge" if not result.converged else ("singular random-effects covariance" if group_var <= 0 else "non-finite estimates")
        notes.append(f"{label} optimiser: {problem}")
        fallback = fallback or (result, caught)
    if fallback is None:
        return None, [], notes
    notes.append("no optimiser gave a usable fit: treat these estimates as unreliable")
    return fallback[0], fallback[1], notes


# ---- agreement between models ---------------------------------------------------------------------
def kendall_tau(words: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau-b per prompt for every pair of models, over the words both scored for it.

    `words` needs one row per (model, prompt, word) (a mean or max variant policy). Columns:
    model_a, model_b, prompt_key, framing, tau, p_value, n_shared.
    """
    if words.duplicated(["model_id", "prompt_key", "word"]).any():
        raise InputError("Kendall's tau needs one score per word: use the 'mean' or 'max' variant policy.")
    series = {
        key: pd.Series(grp["score"].to_numpy(), index=pd.Index(grp["word"].astype(object).to_numpy()))
        for key, grp in words.groupby(["model_id", "prompt_key"], sort=False, observed=True)
    }
    firsts = _plain(words.drop_duplicates("prompt_key"))
    framing = dict(zip(firsts["prompt_key"], firsts["framing"])) if "framing" in words else {}
    models = list(pd.unique(words["model_id"].astype(object)))
    rows = []
    for a, b in itertools.combinations(models, 2):
        prompts = sorted((p for (m, p) in series if m == a and (b, p) in series),
                         key=lambda k: (_PROMPT_ORDER.get(k, len(_PROMPT_ORDER)), str(k)))
        for prompt in prompts:
            x, y = series[(a, prompt)].align(series[(b, prompt)], join="inner")
            tau = p_value = np.nan
            if len(x) >= 2:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # constant input: tau is nan
                    res = stats.kendalltau(x.to_numpy(), y.to_numpy())
                tau, p_value = float(res.statistic), float(res.pvalue)
            rows.append({"model_a": a, "model_b": b, "prompt_key": prompt,
                         "framing": framing.get(prompt),
                         "tau": tau, "p_value": p_value, "n_shared": len(x)})
    return pd.DataFrame(rows, columns=["model_a", "model_b", "prompt_key", "framing", "tau", "p_value", "n_shared"])


def summarise_tau(per_prompt: pd.DataFrame) -> pd.DataFrame:
    """Mean (and median, min, max) tau over prompts per model pair: overall (framing "all") and per framing."""
    parts = [per_prompt.assign(framing="all")]
    if per_prompt["framing"].notna().any():
        parts.append(per_prompt[per_prompt["framing"].notna()])
    data = pd.concat(parts, ignore_index=True)
    out = (
        data.groupby(["model_a", "model_b", "framing"], sort=False)
        .agg(mean_tau=("tau", "mean"), median_tau=("tau", "median"), min_tau=("tau", "min"), max_tau=("tau", "max"),
             n_prompts=("tau", "count"), mean_n_shared=("n_shared", "mean"))
        .reset_index()
    )
    return out


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
    per_word = _plain(ranked.groupby([*keys, "word"], sort=False, dropna=False, observed=True).agg(**agg).reset_index())
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
        summary = compare_families(medians, chosen, seed=seed, resamples=resamples)
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


def analyze_scores(scores: pd.DataFrame, lexicon: Lexicon, policy: str = DEFAULT_VARIANT_POLICY, **kwargs) -> ValueAnalysis:
    """`analyze_words(to_words(scores, policy), lexicon, **kwargs)` for a long score table."""
    return analyze_words(to_words(scores, policy), lexicon, **kwargs)


# ---- reading runs from the cache ------------------------------------------------------------------
def select_runs(cache, models=None, families=None, prompts=None, candidates=None) -> pd.DataFrame:
    """Completed runs matching the filters, the newest one per (model, prompt).

    `attrs["skipped"]` counts older or alternative runs of the same (model, prompt) that were left out.
    A run without a battery key uses its prompt text as its prompt key.
    """
    runs = cache.list_runs(status="done", model_id=_listify(models), family=_listify(families),
                           candidates=_listify(candidates))
    if runs.empty:
        raise InputError(f"No completed runs in {cache.path} match the filters. `valuescope runs` lists them.")
    runs = runs.copy()
    runs["prompt_key"] = runs["prompt_key"].fillna(runs["prompt_text"])
    if prompts:
        unknown = sorted(set(prompts) - set(runs["prompt_key"]))
        if unknown:
            raise InputError(f"No completed runs for prompt(s) {', '.join(unknown)}.")
        runs = runs[runs["prompt_key"].isin(list(prompts))]
    if models:
        missing = sorted(set(models) - set(runs["model_id"]))
        if missing:
            raise InputError(f"No completed runs for model(s) {', '.join(missing)} with these filters; "
                             f"found: {', '.join(sorted(set(runs['model_id'])))}.")
    runs["family"] = runs["family"].fillna("unknown")
    runs = runs.sort_values(["finished_at", "created_at"], kind="mergesort")
    newest = runs.drop_duplicates(["model_id", "prompt_key"], keep="last").reset_index(drop=True)
    newest.attrs["skipped"] = len(runs) - len(newest)
    return newest


def load_words(cache, runs: pd.DataFrame, policy: str = DEFAULT_VARIANT_POLICY,
               lexicon: Lexicon | None = None) -> pd.DataFrame:
    """Scores of `runs` as words: the same table as `to_words` (plus run columns), built inside DuckDB.

    Why not `to_words(cache.scores_for_runs(...))`: a vocabulary run has ~50k-260k tokens x 54 prompts,
    and turning millions of strings into pandas dominates the time. Here the distinct texts are
    normalised once in Python (`normalize_token`), DuckDB merges variants and returns only integer
    codes and numbers, and the strings come back as pandas categoricals. With a lexicon only texts
    whose word matches it are kept. Same rules as `to_words`: mean/max/all_variants, `n_variants`,
    `text` = best variant (ties: the smallest text). Rows are in run order, then word order.
    """
    if policy not in VARIANT_POLICY_DOC:
        raise InputError(f"Unknown variant policy {policy!r}: use one of {', '.join(VARIANT_POLICY_DOC)}.")
    run_ids = list(dict.fromkeys(runs["run_id"]))
    if not run_ids:
        raise InputError("No runs to read.")
    with cache.connect() as con:
        con.register("wanted_runs", pd.DataFrame({"run_id": run_ids, "run_idx": np.arange(len(run_ids), dtype=np.int32)}))
        texts = con.execute(
            "SELECT DISTINCT s.text FROM scores s JOIN wanted_runs r ON s.run_id = r.run_id"
        ).df()["text"].astype(object)
        texts = np.array(sorted(texts), dtype=object)  # text id order = string order, for the tie-break
        words = np.array([normalize_token(t) for t in texts], dtype=object)
        keep = words != ""
        if lexicon is not None:
            keep &= np.array([bool(lexicon.categories_of(w)) if w else False for w in words], dtype=bool)
        word_codes, word_names = pd.factorize(words[keep])
        text_map = pd.DataFrame({"text": texts[keep], "text_id": np.flatnonzero(keep).astype(np.int32),
                                 "word_id": word_codes.astype(np.int32)})
        con.register("text_map", text_map)
        joined = ("SELECT r.run_idx, m.word_id, m.text_id, s.score FROM scores s "
                  "JOIN wanted_runs r ON s.run_id = r.run_id JOIN text_map m ON s.text = m.text")
        if policy == "all_variants":
            sql = (f"SELECT run_idx, word_id, score, count(*) OVER (PARTITION BY run_idx, word_id) AS n_variants, "
                   f"text_id FROM ({joined}) ORDER BY run_idx, word_id, score DESC, text_id")
        else:
            agg = "avg" if policy == "mean" else "max"
            sql = (f"SELECT run_idx, word_id, {agg}(score) AS score, count(*) AS n_variants, "
                   f"first(text_id ORDER BY score DESC, text_id) AS text_id FROM ({joined}) "
                   f"GROUP BY run_idx, word_id ORDER BY run_idx, word_id")
        codes = con.execute(sql).df()
        for name in ("wanted_runs", "text_map"):
            con.unregister(name)
    info = runs.drop_duplicates("run_id").set_index("run_id").reindex(run_ids)
    out = pd.DataFrame({"run_id": pd.Categorical.from_codes(codes["run_idx"].to_numpy(), categories=run_ids)})
    for column in ("model_id", "family", "revision", "source", "prompt_key", "framing"):
        values = info[column].astype(object).to_numpy() if column in info else np.full(len(run_ids), None, dtype=object)
        out[column] = pd.Categorical(values[codes["run_idx"].to_numpy()])
    out["word"] = pd.Categorical.from_codes(codes["word_id"].to_numpy(), categories=pd.Index(word_names, dtype=object))
    out["score"] = codes["score"].to_numpy(dtype=float)
    out["n_variants"] = codes["n_variants"].to_numpy(dtype=np.int64)
    out["text"] = pd.Categorical.from_codes(
        np.searchsorted(text_map["text_id"].to_numpy(), codes["text_id"].to_numpy()),
        categories=pd.Index(text_map["text"].to_numpy(), dtype=object))
    out["variant_policy"] = policy
    out.attrs["variant_policy"] = policy
    return out


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
        "ranks": RANK_DOC,
    }
    if "run_id" in runs:
        meta["runs"] = list(pd.unique(runs["run_id"]))
    meta.update(extra)
    return {k: v for k, v in meta.items() if v is not None}


# ---- helpers --------------------------------------------------------------------------------------
def _framing_rank(framing) -> int:
    return FRAMINGS.index(framing) if framing in FRAMINGS else len(FRAMINGS)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else np.nan


def _listify(value):
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return None
    return list(value) if isinstance(value, (list, tuple, set)) else value


def _check_one_run_per_ranking(words: pd.DataFrame, by) -> None:
    if "run_id" in words.columns:
        runs_per_group = words.groupby(list(by), sort=False, dropna=False, observed=True)["run_id"].nunique()
        if (runs_per_group > 1).any():
            bad = runs_per_group[runs_per_group > 1].index[0]
            raise InputError(f"Several runs for {dict(zip(by, bad if isinstance(bad, tuple) else (bad,)))}: "
                             "pick one run per (model, prompt) before ranking.")


def _in_reading_order(ranked: pd.DataFrame) -> pd.DataFrame:
    """Models in input order, prompts in battery order, best rank first."""
    ranked = _plain(ranked)
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


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns (from `load_words`) as plain values: summary tables are small, and plain
    values sort and map without surprises."""
    cats = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return df.copy()
    return df.assign(**{c: df[c].astype(object) for c in cats})
