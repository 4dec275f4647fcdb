"""The statistics of "Reward Models Inherit Value Biases from Pretraining" (Christian et al., ICLR 2026),
where they differ from valuescope's defaults.

- Stars (Fig 1, Fig 2): *** p < 0.001, ** p < 0.01, * p < 0.05, n.s. otherwise, on the corrected p
  (the authors' `p_to_stars`). Fig 1 corrects with Bonferroni over the panels shown
  (`compare_families(..., test="welch")` + `bonferroni`), Fig 2 with Benjamini-Hochberg.
- Fig 2 (base-model log-probability ranks of the Big Two nouns): a three-way Type-II ANOVA of the
  (prompt, category, model) median ranks, `rank ~ C(category) * C(valence) * C(model)` (statsmodels
  `ols` + `anova_lm(typ=2)`); then, per (category, valence) cell, a parametric Welch t-test between
  the two models, Benjamini-Hochberg over the cells (statsmodels `multipletests(method="fdr_bh")`).
  Valence is the prompt framing (positive / negative).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from engine.analysis.stats import adjusted, framing_rank, plain_values
from engine.errors import InputError

STARS_DOC = "stars from the corrected p: *** < 0.001, ** < 0.01, * < 0.05, n.s. otherwise (the paper's p_to_stars)"
ANOVA_DOC = ("three-way Type-II ANOVA of the (prompt, category, model) median ranks, "
             "rank ~ C(category) * C(valence) * C(model), statsmodels ols + anova_lm(typ=2); valence = framing")
POSTHOC_DOC = ("per (category, valence) cell: two-sided Welch t-test (parametric p) between the two models; "
               "p_fdr = Benjamini-Hochberg over the cells (statsmodels multipletests fdr_bh)")


def stars(p: float) -> str:
    """The paper's significance label of a (corrected) p-value; "" when untested."""
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "n.s."


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p over the finite entries (NaN stays NaN), via statsmodels."""
    return adjusted(p_values, "fdr_bh")


def type2_anova(medians: pd.DataFrame, value: str = "median_rank", between: str = "model_id") -> pd.DataFrame:
    """`value ~ C(category) * C(framing) * C(between)`, Type-II sums of squares (see the module docstring).

    Columns: term, sum_sq, df, F, p_value (the residual row has no F or p)."""
    data = plain_values(medians[medians[value].notna() & medians["framing"].notna()])
    for factor in ("category", "framing", between):
        if data[factor].nunique() < 2:
            raise InputError(f"The ANOVA needs at least two levels of {factor}; found {data[factor].nunique()}.")
    data = data.rename(columns={value: "rank_value", between: "group"})
    fit = ols("rank_value ~ C(category) * C(framing) * C(group)", data=data).fit()
    table = anova_lm(fit, typ=2)
    names = {"C(category)": "category", "C(framing)": "valence", "C(group)": between}
    terms = [":".join(names.get(part, part) for part in term.split(":")) for term in table.index]
    return pd.DataFrame({"term": terms, "sum_sq": table["sum_sq"].to_numpy(), "df": table["df"].to_numpy(),
                         "F": table["F"].to_numpy(), "p_value": table["PR(>F)"].to_numpy()})


def welch_posthoc(medians: pd.DataFrame, groups: tuple[str, str], value: str = "median_rank",
                  between: str = "model_id") -> pd.DataFrame:
    """Welch t-test of group A vs group B in each (category, framing) cell, BH over the cells.

    Columns: category, framing, <A>, <B> (cell means), diff, t_welch, p_welch, p_fdr, stars."""
    a_name, b_name = groups
    data = plain_values(medians[medians[value].notna() & medians["framing"].notna()])
    rows = []
    for (category, framing), cell in data.groupby(["category", "framing"], sort=False):
        a = cell.loc[cell[between] == a_name, value].to_numpy(float)
        b = cell.loc[cell[between] == b_name, value].to_numpy(float)
        t = p = np.nan
        if len(a) >= 2 and len(b) >= 2 and np.ptp(np.concatenate([a, b])) > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = stats.ttest_ind(a, b, equal_var=False)
            t, p = float(res.statistic), float(res.pvalue)
        rows.append({"category": category, "framing": framing, a_name: a.mean() if len(a) else np.nan,
                     b_name: b.mean() if len(b) else np.nan, "t_welch": t, "p_welch": p})
    out = pd.DataFrame(rows)
    out.insert(4, "diff", out[a_name] - out[b_name])
    out["p_fdr"] = benjamini_hochberg(out["p_welch"])
    out["stars"] = [stars(p) for p in out["p_fdr"]]
    return out.sort_values("framing", key=lambda s: s.map(framing_rank), kind="mergesort").reset_index(drop=True)
