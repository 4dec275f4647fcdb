"""The tables an implicit-RM comparison exports, what one row of each is, and their provenance."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from engine import __version__
from engine.reports.export import table_path, write_table
from engine.analysis.implicit import (BATTERY_MEAN_DOC, CATEGORY_TEST_DOC, IMPLICIT_DOC, JOIN_RULE, PAIR_COLUMNS,
                                      REPLY_RULE, SIGN_DOC, top_bottom)
from engine.analysis.words import NORMALIZATION

# Output file stem -> what one row is (written into each file's header).
OUTPUT_FILES = {
    "pairs": "one model pair: models, families, revisions, tokenizer hashes and the template each side used",
    "runs": "one cached log-prob run used (side a or b, prompt, candidates)",
    "vocab_words": "one (pair, prompt, word) of the vocabulary join: log-probs, log_ratio, mwlr, kept tokens",
    "vocab_mean": "one (pair, word) of the vocabulary join: mean over prompts",
    "vocab_top_bottom": "the N highest (top: B over A) and lowest (bottom: A over B) words by MWLR, per pair and scope",
    "lexicon_words": "one (pair, prompt, lexicon word), whole-word log-probs",
    "lexicon_mean": "one (pair, lexicon word): mean over prompts",
    "lexicon_top_bottom": "the N highest and lowest lexicon words by MWLR, per pair and scope",
    "named_words": "one (pair, prompt, named word)",
    "named_comparison": "one (pair, named word): battery-mean MWLR (lollipop chart values)",
    "category_summary": "one (pair, framing, lexicon category): MWLR and MWLR-rank statistics",
    "category_medians": "one (pair, prompt, lexicon category): median MWLR rank of the category's words",
    "category_tests": "one (pair, framing, category pair): permutation Welch t-test on per-prompt median ranks",
}
# Above this many prompts, per-prompt vocabulary rows are not written (millions of rows); they stay in the cache.
MAX_PROMPTS_FOR_VOCAB_ROWS = 3


def output_tables(result, top: int) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Stem -> (table, extra header entries) for every table the result holds."""
    tables: dict[str, tuple[pd.DataFrame, dict]] = {"pairs": (result.pairs, {}), "runs": (result.runs, {})}
    several = len(result.prompts) > 1
    for name, per_prompt, mean in (("vocab", result.vocab, result.vocab_mean),
                                   ("lexicon", result.lexicon_words, result.lexicon_mean)):
        if per_prompt is None:
            continue
        if name == "lexicon" or len(result.prompts) <= MAX_PROMPTS_FOR_VOCAB_ROWS:
            tables[f"{name}_words"] = (per_prompt, {})
        if several:
            tables[f"{name}_mean"] = (mean, {})
        scopes = [top_bottom(mean, top).assign(scope="battery mean" if several else "prompt")]
        if several:
            scopes.append(top_bottom(per_prompt, top, by=(*PAIR_COLUMNS, "prompt_key")).rename(columns={"prompt_key": "scope"}))
        tb = pd.concat(scopes, ignore_index=True)
        tables[f"{name}_top_bottom"] = (tb[["scope", *[c for c in tb.columns if c != "scope"]]], {"top": top})
    if result.named is not None:
        tables["named_words"] = (result.named, {})
        tables["named_comparison"] = (result.named_summary, {})
    if result.category_summary is not None:
        tables["category_summary"] = (result.category_summary, {})
        tables["category_medians"] = (result.category_medians, {})
        doc = CATEGORY_TEST_DOC.format(resamples=result.resamples, seed=result.seed,
                                       n_tested=result.category_tests.attrs.get("n_tested", 0))
        tables["category_tests"] = (result.category_tests, {"method": doc, "seed": result.seed, "resamples": result.resamples})
    return tables


def write_implicit_tables(result, out, top_n: int, fmt: str = "csv", **extra_meta) -> list:
    """Write every table of `result` under folder `out`; returns the paths."""
    meta = implicit_metadata(result, **extra_meta)
    written = []
    for stem, (table, extra) in output_tables(result, top_n).items():
        header = {"table": f"{stem}: {OUTPUT_FILES[stem]}", **meta, **extra}
        written.append(write_table(table, table_path(out, stem, fmt), header))
    return written


def implicit_metadata(result, **extra) -> dict:
    """Header for exported tables: models, revisions, templates, prompts, lexicon, rules."""
    p = result.pairs
    keys = [k for k, _ in result.prompts]
    meta = {
        "pairs": list(p["pair"]),
        "models_a": list(p["model_a"]), "models_b": list(p["model_b"]),
        "families": _side_pairs(p, "family"), "revisions": _side_pairs(p, "revision"),
        "tokenizer_hashes": _side_pairs(p, "tokenizer_hash"), "templates": _side_pairs(p, "template"),
        "implicit_rm": IMPLICIT_DOC, "sign": SIGN_DOC,
        "prompts": f"battery ({len(keys)}): " + ", ".join(keys) if len(keys) > 1 else result.prompts[0][1],
        "lexicon": result.lexicon.describe() if result.lexicon is not None else None,
        "named_words": result.words,
        "normalization": NORMALIZATION, "join_rule": JOIN_RULE, "reply_rule": REPLY_RULE,
        "vocab_filter": result.vocab_filter, "battery_mean": BATTERY_MEAN_DOC if len(keys) > 1 else None,
        "dtype": ", ".join(sorted(set(result.runs["dtype"].dropna()))) if "dtype" in result.runs else None,
        "device": ", ".join(sorted(set(result.runs["device"].dropna()))) if "device" in result.runs else None,
        "scorer_version": ", ".join(sorted(set(result.runs["scorer_version"].dropna()))) if "scorer_version" in result.runs else None,
        "runs": list(result.runs["run_id"]),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "valuescope_version": __version__,
        "notes": "; ".join(result.notes) or None,
    }
    meta.update(extra)
    return {k: v for k, v in meta.items() if v is not None}




def _side_pairs(pairs: pd.DataFrame, column: str) -> str:
    return "; ".join(f"A {a}={va}, B {b}={vb}" for a, b, va, vb in
                     zip(pairs["model_a"], pairs["model_b"], pairs[f"{column}_a"], pairs[f"{column}_b"]))
