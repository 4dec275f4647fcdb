"""Statistics of the value analysis: family comparison (Welch's t with a permutation p by default, or
the parametric Welch p the paper reports; Bonferroni, Hedges' g), the mixed model and Kendall's tau.
The method and its conventions are stated in engine.analysis.values."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.meta_analysis import effectsize_smd
from statsmodels.stats.multitest import multipletests

from engine.errors import InputError
from engine.options import FRAMINGS
from engine.prompts import BATTERY

# The p column of each family test and how it is computed. "welch" is what the paper reports: its
# MKinfer::perm.t.test(...)$p.value is the parametric Welch p (the permutation p is $perm.p.value).
FAMILY_TESTS = {
    "permutation": ("p_perm", "p_perm = two-sided permutation test of Welch's t ({resamples} resamples, seed {seed})"),
    "welch": ("p_welch", "p_welch = two-sided Welch's t-test, parametric p (t distribution, Welch-Satterthwaite df), "
                         "as the paper reports it"),
}
FAMILY_TEST_DOC = (
    "unit = one (model, prompt) median rank of a category within a framing; family columns = mean of those; "
    "diff = first family minus second (negative: first family ranks the category higher); "
    + FAMILY_TESTS["permutation"][1] + "; "
    "p_bonferroni = Bonferroni over the {n_tested} tested panels; effect_size = Hedges' g (same sign as diff)"
)


def family_test_doc(summary: pd.DataFrame) -> str:
    """The method text of a `compare_families` table, for whichever test produced it."""
    attrs = summary.attrs
    test = attrs.get("test", "permutation")
    doc = FAMILY_TEST_DOC.replace(FAMILY_TESTS["permutation"][1], FAMILY_TESTS[test][1])
    return doc.format(resamples=attrs.get("resamples"), seed=attrs.get("seed"), n_tested=attrs.get("n_tested"))


MIXED_DOC = ("statsmodels mixedlm, REML, random intercept per model; treatment coding (reference: first family, first "
             "category, positive framing); tests are Wald z-tests (normal reference), not the t-tests with "
             "denominator degrees of freedom of R's nlme::lme, so small-sample p-values are somewhat smaller")
TAU_DOC = "Kendall's tau-b per prompt between two models' scores over the words both scored; summary = mean over prompts"
_PROMPT_ORDER = {key: i for i, key in enumerate(BATTERY)}
_RESERVED = {"framing", "category", "diff", "p_perm", "p_welch", "p_bonferroni", "effect_size", "t_welch", "note"}


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
    test: str = "permutation",
) -> pd.DataFrame:
    """Per (framing, category) panel: family means, diff, p of the chosen test, Bonferroni p, Hedges' g.

    Columns: framing, category, <family A>, <family B>, diff, p_perm (or p_welch with test="welch"),
    p_bonferroni, effect_size, n_<A>, n_<B>, t_welch, note. See the module docstring for the unit of
    observation and signs, FAMILY_TESTS for the tests.
    """
    if resamples < 1:
        raise InputError("--resamples must be at least 1.")
    if test not in FAMILY_TESTS:
        raise InputError(f"Unknown test {test!r}: use {' or '.join(FAMILY_TESTS)}.")
    p_col = FAMILY_TESTS[test][0]
    fam_a, fam_b = pick_families(medians, families)
    data = medians[medians["family"].isin([fam_a, fam_b]) & medians["framing"].notna() & medians[value].notna()]
    rows = []
    for (framing, category), panel in plain_values(data).groupby(["framing", "category"], sort=False):
        # Sorted: the resampled p-value then depends on the seed only, not on the row order.
        a = np.sort(panel.loc[panel["family"] == fam_a, value].to_numpy(float))
        b = np.sort(panel.loc[panel["family"] == fam_b, value].to_numpy(float))
        row = {"framing": framing, "category": category, fam_a: _mean(a), fam_b: _mean(b),
               "diff": _mean(a) - _mean(b), p_col: np.nan, "effect_size": np.nan,
               f"n_{fam_a}": len(a), f"n_{fam_b}": len(b), "t_welch": np.nan, "note": ""}
        if len(a) < 2 or len(b) < 2:
            row["note"] = "not tested: needs at least 2 observations per family"
        elif np.ptp(np.concatenate([a, b])) == 0:
            row["note"] = "not tested: all observations are equal"
        elif np.ptp(a) == 0 and np.ptp(b) == 0:  # Welch's t would be infinite and its p-value 0
            row["note"] = "not tested: no variance within either family"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # zero variance in one group: t is inf/nan
                method = stats.PermutationMethod(n_resamples=resamples, rng=seed) if test == "permutation" else None
                res = stats.ttest_ind(a, b, equal_var=False, method=method)
            row["t_welch"], row[p_col] = float(res.statistic), float(res.pvalue)
            row["effect_size"] = hedges_g(a, b)
            if not (np.isfinite(row[p_col]) and np.isfinite(row["t_welch"])):
                row["note"] = "not tested: the t statistic is undefined (no variance)"
                row[p_col], row["t_welch"] = np.nan, np.nan
        rows.append(row)
    out = pd.DataFrame(rows, columns=["framing", "category", fam_a, fam_b, "diff", p_col, "effect_size",
                                      f"n_{fam_a}", f"n_{fam_b}", "t_welch", "note"])
    out.insert(out.columns.get_loc(p_col) + 1, "p_bonferroni", bonferroni(out[p_col]))
    out = out.sort_values("framing", key=lambda s: s.map(framing_rank), kind="mergesort").reset_index(drop=True)
    out.attrs.update(families=(fam_a, fam_b), value=value, seed=seed, resamples=resamples, test=test, p_column=p_col,
                     n_tested=int(out[p_col].notna().sum()))
    return out


def hedges_g(a, b) -> float:
    """Hedges' g of a - b (pooled SD, small-sample corrected), via statsmodels `effectsize_smd`."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    g, _ = effectsize_smd(a.mean(), a.std(ddof=1), len(a), b.mean(), b.std(ddof=1), len(b))
    return float(g)


def adjusted(p_values, method: str) -> np.ndarray:
    """p-values adjusted by statsmodels' `multipletests(method=...)` over the finite entries (NaN stays
    NaN: those panels were not tested)."""
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    tested = np.isfinite(p)
    if tested.any():
        out[tested] = multipletests(p[tested], method=method)[1]
    return out


def bonferroni(p_values) -> np.ndarray:
    """Bonferroni-adjusted p-values over the finite entries (NaN stays NaN: those panels were not tested)."""
    return adjusted(p_values, "bonferroni")


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

    data = plain_values(medians[medians["framing"].notna() & medians[value].notna()])
    if families:
        data = data[data["family"].isin(list(families))]
    fam_order = list(families) if families else sorted(pd.unique(data["family"].dropna()))
    levels = {
        "family": fam_order,
        "category": list(pd.unique(data["category"])),
        "framing": sorted(pd.unique(data["framing"]), key=framing_rank),
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
    firsts = plain_values(words.drop_duplicates("prompt_key"))
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


def framing_rank(framing) -> int:
    return FRAMINGS.index(framing) if framing in FRAMINGS else len(FRAMINGS)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else np.nan


def plain_values(df: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns (from `load_words`) as plain values: summary tables are small, and plain
    values sort and map without surprises."""
    cats = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return df.copy()
    return df.assign(**{c: df[c].astype(object) for c in cats})
