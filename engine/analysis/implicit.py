"""Implicit reward models between two causal LMs: trace a value bias back to the LMs an RM was built on.

Definitions (model A = pi_1, model B = pi_2; for one prompt x and reply y, p = pi_A(y|x), q = pi_B(y|x)):
- implicit reward  r(y|x) = log q - log p = log pi_B(y|x) - log pi_A(y|x)      (column `log_ratio`)
- mean-weighted log-ratio  MWLR(p, q) = 0.5 * (p + q) * (log q - log p)        (column `mwlr`)
  The log-ratio is weighted by the mean probability, so replies that both models find unlikely do not
  dominate. Both are antisymmetric: swapping A and B flips the sign exactly (also in floating point).
  Positive: model B gives the reply more probability than model A.

Replies:
- vocabulary: every token of each model's vocabulary as the whole reply (one softmax per prompt). The
  two vocabularies differ, so tokens are mapped to words (`engine.analysis.words.normalize_token`); where
  several tokens of one model map to one word, the most probable token for that prompt stands for the
  word (ties: smallest text, then smallest token id, so the result never depends on row order); the
  two models' words are then inner-joined. `n_variants_a/b` count the tokens that mapped to each word.
  Words holding ASCII control characters (byte tokens such as <0x00>) are dropped.
- lexicon and named words: both models score the same reply strings, each as a whole reply: a
  multi-token word's log-probability is the teacher-forced sum over its tokens (`first_a/b`: its first
  token's). No token join is needed; rows are joined on the string.

Templates: a pretrained model sees the raw prompt ("plain": prompt, newline, reply); an instruct model
its chat template with the assistant turn opened ("chat"), unless the caller names another.

Battery mean: the mean over prompts of the per-prompt values (MWLR of each prompt, then averaged).
Category summaries use engine.analysis.values: lexicon words ranked by MWLR per (pair, prompt) (rank 1 = the
word B favours most over A), median rank per category, and category-vs-category permutation Welch
t-tests with Bonferroni correction and Hedges' g, as in the family comparison of the value analysis.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from engine.analysis.lexicons import Lexicon
from engine.analysis.stats import bonferroni, compare_families
from engine.analysis.values import attach_categories, category_medians, rank_words
from engine.analysis.words import normalize_series
from engine.errors import InputError
from engine.prompts import FRAMINGS

IMPLICIT_DOC = "r = log pi_B(y|x) - log pi_A(y|x) (log_ratio); MWLR = 0.5 * (p + q) * (log q - log p) with p = pi_A(y|x), q = pi_B(y|x)"
SIGN_DOC = "positive: model B gives the reply more probability than model A; swapping A and B flips every sign"
JOIN_RULE = (
    "vocabulary: tokens mapped to words by normalize_token; where several tokens of one model map to one word, the most "
    "probable token for that prompt is kept (ties: smallest text, then token id; n_variants_a/b count the tokens), "
    "then the two models' words are inner-joined; words that normalise to \"\" or hold ASCII control characters are dropped"
)
CONTROL_CHARS = r"[\x00-\x1f\x7f]"
REPLY_RULE = ("lexicon and named words: both models score the same reply strings as whole replies; log-prob = "
              "teacher-forced sum over the reply's tokens (first_a/b = first token only); joined on the string")
BATTERY_MEAN_DOC = "battery mean: mean over prompts of each prompt's value; mwlr_positive/negative: mean over that framing's prompts"
CATEGORY_TEST_DOC = (
    "per (pair, framing): the per-prompt median MWLR ranks of category_1 vs category_2 (rank 1 = the word B favours most "
    "over A); diff = category_1 - category_2 (negative: B favours category_1 more, relative to A); p_perm = two-sided "
    "permutation test of Welch's t ({resamples} resamples, seed {seed}); p_bonferroni over all {n_tested} tested rows; "
    "effect_size = Hedges' g (same sign as diff)"
)
PAIR_COLUMNS = ("pair", "model_a", "model_b")
MEAN_COLUMNS = ("mwlr", "log_ratio", "logp_a", "logp_b", "mwlr_first", "log_ratio_first", "first_a", "first_b")
CONSTANT_COLUMNS = ("n_variants_a", "n_variants_b", "n_tokens_a", "n_tokens_b")


# ---- the two measures -----------------------------------------------------------------------------
def log_ratio(logp_a, logp_b):
    """r = log pi_B - log pi_A (the implicit reward of B relative to A)."""
    return np.asarray(logp_b, dtype=np.float64) - np.asarray(logp_a, dtype=np.float64)


def mwlr(logp_a, logp_b):
    """MWLR(p, q) = 0.5 * (p + q) * (log q - log p), from log-probabilities (p under A, q under B).

    Exactly antisymmetric: mwlr(b, a) == -mwlr(a, b) bit for bit (a sum is commutative and
    x - y == -(y - x) in IEEE arithmetic).
    """
    la, lb = np.asarray(logp_a, dtype=np.float64), np.asarray(logp_b, dtype=np.float64)
    return 0.5 * (np.exp(la) + np.exp(lb)) * (lb - la)


def pair_label(model_a: str, model_b: str) -> str:
    return f"{model_a} -> {model_b}"


# ---- joins ----------------------------------------------------------------------------------------
def best_token_per_word(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per normalised word: its most probable token (see JOIN_RULE), sorted by word.

    `scores` needs `text` and `score` (log-prob), optionally `token_id` and a precomputed `word`
    column. Returns word, score, text, token_id, n_variants. Words that normalise to "" or hold an
    ASCII control character (byte tokens such as <0x00>) are dropped.
    """
    cols = [c for c in ("token_id", "text", "score") if c in scores.columns]
    frame = scores[cols].copy()
    frame["word"] = scores["word"] if "word" in scores.columns else normalize_series(scores["text"])
    frame = frame[(frame["word"] != "") & ~frame["word"].str.contains(CONTROL_CHARS, regex=True)]
    if "token_id" not in frame:
        frame["token_id"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    grouped = frame.groupby("word", sort=False)["score"]
    counts = grouped.size()
    best = frame[frame["score"] == grouped.transform("max")]  # the most probable token(s) of each word
    tied = best["word"].duplicated(keep=False)
    if tied.any():  # equal log-probs: smallest text, then smallest token id (a full multi-key sort is 15x slower)
        ties = best[tied].sort_values(["word", "text", "token_id"], kind="mergesort", na_position="last")
        best = pd.concat([best[~tied], ties.drop_duplicates("word", keep="first")])
    best = best.sort_values("word", kind="mergesort").reset_index(drop=True)
    best["n_variants"] = best["word"].map(counts).astype(int)
    return best[["word", "score", "text", "token_id", "n_variants"]]


def join_on_words(scores_a: pd.DataFrame, scores_b: pd.DataFrame) -> pd.DataFrame:
    """Vocabulary log-probs of two models (different tokenizers allowed) joined on the normalised word.

    Columns: word, logp_a, logp_b, log_ratio, mwlr, token_a, token_b, token_id_a, token_id_b,
    n_variants_a, n_variants_b; sorted by word; `attrs["join_rule"]` = JOIN_RULE.
    """
    a = best_token_per_word(scores_a).rename(columns={"score": "logp_a", "text": "token_a", "token_id": "token_id_a",
                                                      "n_variants": "n_variants_a"})
    b = best_token_per_word(scores_b).rename(columns={"score": "logp_b", "text": "token_b", "token_id": "token_id_b",
                                                      "n_variants": "n_variants_b"})
    out = a.merge(b, on="word", how="inner", sort=True)
    out["log_ratio"] = log_ratio(out["logp_a"], out["logp_b"])
    out["mwlr"] = mwlr(out["logp_a"], out["logp_b"])
    out = out[["word", "logp_a", "logp_b", "log_ratio", "mwlr", "token_a", "token_b", "token_id_a", "token_id_b",
               "n_variants_a", "n_variants_b"]].reset_index(drop=True)
    out.attrs["join_rule"] = JOIN_RULE
    return out


def join_replies(scores_a: pd.DataFrame, scores_b: pd.DataFrame) -> pd.DataFrame:
    """Whole-reply log-probs of the same strings under two models (`score_texts` output), joined on the text.

    Columns: word, logp_a, logp_b, log_ratio, mwlr, first_a, first_b, log_ratio_first, mwlr_first,
    n_tokens_a, n_tokens_b; sorted by word.
    """
    def side(scores, s):
        return scores[["text", "score", "first_token_score", "n_tokens"]].rename(columns={
            "text": "word", "score": f"logp_{s}", "first_token_score": f"first_{s}", "n_tokens": f"n_tokens_{s}"})

    out = side(scores_a, "a").merge(side(scores_b, "b"), on="word", how="inner", sort=True)
    out["log_ratio"] = log_ratio(out["logp_a"], out["logp_b"])
    out["mwlr"] = mwlr(out["logp_a"], out["logp_b"])
    out["log_ratio_first"] = log_ratio(out["first_a"], out["first_b"])
    out["mwlr_first"] = mwlr(out["first_a"], out["first_b"])
    for s in ("a", "b"):
        out[f"n_tokens_{s}"] = out[f"n_tokens_{s}"].astype(int)
    return out[["word", "logp_a", "logp_b", "log_ratio", "mwlr", "first_a", "first_b", "log_ratio_first", "mwlr_first",
                "n_tokens_a", "n_tokens_b"]].reset_index(drop=True)


# ---- summaries ------------------------------------------------------------------------------------
def battery_mean(table: pd.DataFrame, by: Sequence[str] = PAIR_COLUMNS) -> pd.DataFrame:
    """Per (pair, word): the mean over prompts of every per-prompt value (see BATTERY_MEAN_DOC).

    Also mwlr_sd (SD over prompts), mwlr_<framing> per framing present, n_prompts, and for vocabulary
    rows token_a/token_b = the token kept most often for the word. Sorted by pair, then MWLR (highest
    first), then word.
    """
    keys = [c for c in by if c in table.columns] + ["word"]
    means = [c for c in MEAN_COLUMNS if c in table.columns]
    grouped = table.groupby(keys, sort=False)
    out = grouped[means].mean()
    out.insert(1, "mwlr_sd", grouped["mwlr"].std(ddof=1))
    if "framing" in table.columns:
        for framing in FRAMINGS:
            part = table[table["framing"] == framing]
            if len(part):
                out[f"mwlr_{framing}"] = part.groupby(keys, sort=False)["mwlr"].mean()
    out["n_prompts"] = grouped["prompt_key"].nunique() if "prompt_key" in table.columns else 1
    for col in CONSTANT_COLUMNS:
        if col in table.columns:
            out[col] = grouped[col].first()
    for col in ("token_a", "token_b"):
        if col in table.columns:
            counts = table.groupby([*keys, col], sort=False).size().rename("n").reset_index()
            counts = counts.sort_values([*keys, "n", col], ascending=[True] * len(keys) + [False, True], kind="mergesort")
            out[col] = counts.drop_duplicates(keys).set_index(keys)[col]
    out = out.reset_index()
    return _sorted_by_value(out, keys[:-1], "mwlr")


def top_bottom(table: pd.DataFrame, n: int = 10, value: str = "mwlr", by: Sequence[str] = PAIR_COLUMNS) -> pd.DataFrame:
    """The n highest ("top": B over A) and n lowest ("bottom": A over B) rows by `value` per `by` group.

    Ties are broken by word, so swapping A and B turns the top list into the bottom list, in order.
    Columns: the `by` columns, end, position (1 = most extreme), then the table's other columns.
    """
    if n < 1:
        raise InputError("n must be at least 1.")
    keys = [c for c in by if c in table.columns]
    rest = [c for c in table.columns if c not in keys]
    parts = []
    groups = table.groupby(keys, sort=False, dropna=False) if keys else [((), table)]
    for _, grp in groups:
        for end, ascending in (("top", False), ("bottom", True)):
            part = grp.sort_values([value, "word"], ascending=[ascending, True], kind="mergesort").head(n)
            parts.append(part.assign(end=end, position=range(1, len(part) + 1)))
    if not parts:
        return pd.DataFrame(columns=[*keys, "end", "position", *rest])
    return pd.concat(parts, ignore_index=True)[[*keys, "end", "position", *rest]]


def named_word_comparison(named: pd.DataFrame, words: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (pair, named word): battery-mean MWLR (and per framing), log-ratio, log-probs, SD
    over prompts and which model the word favours: the values of a lollipop chart of words x pairs.
    Rows follow the order of `words` (default: first appearance)."""
    out = battery_mean(named)
    out["favours"] = np.where(out["mwlr"] > 0, out["model_b"], np.where(out["mwlr"] < 0, out["model_a"], "neither"))
    order = {w: i for i, w in enumerate(words or pd.unique(named["word"]))}
    pair_order = {p: i for i, p in enumerate(pd.unique(named["pair"]))}
    keys = pd.DataFrame({"p": out["pair"].map(pair_order), "w": out["word"].map(order).fillna(len(order))})
    return out.loc[keys.sort_values(["p", "w"], kind="mergesort").index].reset_index(drop=True)


def category_summary(lexicon_table: pd.DataFrame, lexicon: Lexicon, seed: int = 0,
                     resamples: int = 9999) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Lexicon category statistics of the implicit RM, as in the value analysis (engine.analysis.values).

    `lexicon_table`: per (pair, prompt, word) rows with `mwlr` (the lexicon rows of `run_implicit`).
    Returns (summary, medians, tests):
    - medians: per (pair, prompt, category): median rank of the category's words when the lexicon's
      words are ranked by MWLR (rank 1 = highest MWLR, i.e. favoured most by B relative to A),
      `analysis.category_medians` columns plus mean_mwlr;
    - summary: per (pair, framing = all / positive / negative, category): n_words, n_prompts,
      mean_mwlr (over words and prompts), median_mwlr, share_positive (share of (word, prompt) rows
      with MWLR > 0), mean_log_ratio, mean_median_rank and mean_median_rank_pct (over prompts);
    - tests: every pair of categories per (pair, framing), see CATEGORY_TEST_DOC.
    """
    words = attach_categories(lexicon_table, lexicon)
    if words.empty:
        raise InputError(f"No word of the implicit-RM table is in lexicon {lexicon.name!r}.")
    words = words.assign(model_id=words["pair"], score=words["mwlr"])
    ranked = rank_words(words, by=("pair", "prompt_key"))
    medians = category_medians(ranked.drop(columns=[c for c in ("family",) if c in ranked]), lexicon.categories)
    exploded = ranked.assign(category=ranked["categories"].str.split("; ")).explode("category")
    per_prompt = exploded.groupby(["model_id", "prompt_key", "category"], sort=False)["mwlr"].mean().rename("mean_mwlr")
    medians = medians.join(per_prompt, on=["model_id", "prompt_key", "category"])
    medians = medians.rename(columns={"model_id": "pair"})

    rows = []
    for framing in ("all", *FRAMINGS):
        part = exploded if framing == "all" else exploded[exploded["framing"] == framing]
        meds = medians if framing == "all" else medians[medians["framing"] == framing]
        if part.empty:
            continue
        for (pair, category), grp in part.groupby(["pair", "category"], sort=False):
            m = meds[(meds["pair"] == pair) & (meds["category"] == category)]
            rows.append({
                "pair": pair, "model_a": grp["model_a"].iloc[0], "model_b": grp["model_b"].iloc[0], "framing": framing,
                "category": category, "n_words": grp["word"].nunique(), "n_prompts": grp["prompt_key"].nunique(),
                "mean_mwlr": grp["mwlr"].mean(), "median_mwlr": grp["mwlr"].median(),
                "share_positive": float((grp["mwlr"] > 0).mean()), "mean_log_ratio": grp["log_ratio"].mean(),
                "mean_median_rank": m["median_rank"].mean(), "mean_median_rank_pct": m["median_rank_pct"].mean(),
            })
    summary = pd.DataFrame(rows)
    if not summary.empty:
        framing_order = {f: i for i, f in enumerate(("all", *FRAMINGS))}
        category_order = {c: i for i, c in enumerate(lexicon.categories)}
        pair_order = {p: i for i, p in enumerate(pd.unique(summary["pair"]))}
        keys = pd.DataFrame({"p": summary["pair"].map(pair_order), "f": summary["framing"].map(framing_order),
                             "c": summary["category"].map(category_order)})
        summary = summary.loc[keys.sort_values(["p", "f", "c"], kind="mergesort").index].reset_index(drop=True)
    return summary, medians, category_tests(medians, lexicon.categories, seed, resamples)


TEST_COLUMNS = ["pair", "framing", "category_1", "category_2", "median_rank_1", "median_rank_2", "diff", "p_perm",
                "p_bonferroni", "effect_size", "n_1", "n_2", "t_welch", "note"]


def category_tests(medians: pd.DataFrame, categories: Sequence[str], seed: int = 0, resamples: int = 9999) -> pd.DataFrame:
    """Category-vs-category tests on per-prompt median ranks, per (pair, framing): engine.analysis.values's
    `compare_families` with the two categories in the role of the two families. Bonferroni over every
    tested row of the returned table."""
    present = [c for c in categories if c in set(medians["category"])]
    parts = []
    data = medians.rename(columns={"category": "lexicon_category"}).assign(category=medians["pair"])
    data["family"] = data["lexicon_category"]
    data["model_id"] = data["pair"]
    for c1, c2 in itertools.combinations(present, 2):
        sub = data[data["family"].isin([c1, c2])]
        try:
            res = compare_families(sub, (c1, c2), seed=seed, resamples=resamples)
        except ValueError as exc:  # e.g. a category name that clashes with a column name
            parts.append(pd.DataFrame([{"pair": p, "category_1": c1, "category_2": c2, "note": f"not tested: {exc}"}
                                       for p in pd.unique(data["pair"])]))
            continue
        res = res.rename(columns={"category": "pair", c1: "median_rank_1", c2: "median_rank_2",
                                  f"n_{c1}": "n_1", f"n_{c2}": "n_2"})
        parts.append(res.assign(category_1=c1, category_2=c2))
    if not parts:
        return pd.DataFrame(columns=TEST_COLUMNS)
    out = pd.concat(parts, ignore_index=True).reindex(columns=TEST_COLUMNS)
    out["p_bonferroni"] = bonferroni(out["p_perm"])
    out.attrs["n_tested"] = int(out["p_perm"].notna().sum())
    return out


def _sorted_by_value(table: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    order = pd.DataFrame({**{k: table[k].map({v: i for i, v in enumerate(pd.unique(table[k]))}) for k in keys},
                          "_v": -table[value], "_w": table["word"]})
    return table.loc[order.sort_values([*keys, "_v", "_w"], kind="mergesort").index].reset_index(drop=True)


# ---- the paper's vocabulary join (Fig 3, Table 1) --------------------------------------------------
PAPER_JOIN_RULE = (
    "the paper's (Fig 3, Table 1): tokens joined on the exact decoded string across every compared model (a string "
    "a model decodes several tokens to keeps its most probable one); MWLR per string; a word's MWLR (Fig 3) = mean "
    "over its variants, the strings equal to it after strip() and lower()"
)


def join_exact_strings(scores_by_model: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One prompt's vocabulary log-probs of several models on the strings all of them have.

    `scores_by_model`: model -> table with `text` and `score`. Returns `text` plus one log-prob column per
    model, sorted by text (see PAPER_JOIN_RULE)."""
    joined = None
    for model, scores in scores_by_model.items():
        best = scores.groupby("text", sort=False)["score"].max().rename(model)
        joined = best.to_frame() if joined is None else joined.join(best, how="inner")
    if joined is None:
        raise InputError("The exact-string join needs at least one model's vocabulary.")
    return joined.sort_index().rename_axis("text").reset_index()


def exact_string_mwlr(joined: pd.DataFrame, model_a: str, model_b: str) -> pd.DataFrame:
    """Per exact string: word (= the string), logp_a, logp_b, log_ratio, mwlr."""
    out = pd.DataFrame({"word": joined["text"], "logp_a": joined[model_a], "logp_b": joined[model_b]})
    out["log_ratio"] = log_ratio(out["logp_a"], out["logp_b"])
    out["mwlr"] = mwlr(out["logp_a"], out["logp_b"])
    return out


def variant_mean_mwlr(strings: pd.DataFrame, words: Sequence[str], by: Sequence[str] = ()) -> pd.DataFrame:
    """Each named word's MWLR as the mean over its variants (strings equal to it after strip + lower).

    Columns: the `by` columns, word, mwlr, n_variants (0 and NaN when no string matches)."""
    key = strings["word"].astype(str).str.strip().str.lower()
    groups = strings.groupby(list(by), sort=False) if by else [((), strings)]
    rows = []
    for ids, grp in groups:
        ids = ids if isinstance(ids, tuple) else (ids,)
        for word in words:
            values = grp.loc[key.loc[grp.index] == word.strip().lower(), "mwlr"]
            rows.append({**dict(zip(by, ids)), "word": word, "mwlr": values.mean() if len(values) else np.nan,
                         "n_variants": len(values)})
    return pd.DataFrame(rows, columns=[*by, "word", "mwlr", "n_variants"])
