"""`valuescope import` (score tables computed elsewhere) and `valuescope analyze` (the value analysis)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from engine import __version__
from engine.store.db import Cache
from engine.reports.export import write_table
from engine.options import IMPORT_LAYOUTS as LAYOUTS, SCORE_KINDS
from engine.workflows.importer import import_scores
from engine.analysis.lexicons import BUILTIN_LEXICONS, load_lexicon
from engine.analysis.words import DEFAULT_VARIANT_POLICY, VARIANT_POLICIES, VARIANT_POLICY_DOC

# Output file stem -> what one row is (written into each file's header).
OUTPUT_FILES = {
    "median_ranks": "one (model, prompt, category): median rank of the category's words (1 = best)",
    "family_summary": "one (framing, category) panel: family comparison",
    "mixed_model": "one fixed or random effect of the mixed model",
    "word_ranks": "one matched word (or token under all_variants) per (model, prompt), with its rank",
    "top_bottom_words": "the k best and worst words per (model, framing), by mean rank over the framing's prompts",
    "kendall_tau": "one (model pair, prompt): Kendall's tau-b over the words both scored",
    "kendall_tau_summary": "one (model pair, framing or 'all'): tau averaged over prompts",
}


def register(sub) -> None:
    p = sub.add_parser("import", help="Import score tables computed elsewhere (CSV/Parquet, wide or long) into the cache.")
    p.add_argument("path", help="A .csv/.parquet file, or a directory of them (one file per model).")
    p.add_argument("--model", help="Model name (default: the file's stem; must be left out for a directory of several files).")
    p.add_argument("--family", required=True, help="Model family, e.g. llama or gemma (the analysis compares families).")
    p.add_argument("--framing", action="append", metavar="FRAMING|KEY=FRAMING",
                   help="Framing (positive|negative) of prompt keys outside the 54-prompt battery: one for all, "
                        "or KEY=FRAMING per key; repeatable. Battery keys take their framing from the key.")
    p.add_argument("--layout", choices=LAYOUTS, default="auto",
                   help="wide: `response` then one column per prompt key; long: response, prompt, score. Default: detect.")
    p.add_argument("--score-kind", choices=SCORE_KINDS, default="reward", help="What the scores are (default: reward).")
    p.add_argument("--model-kind", choices=("reward_model", "causal_lm"), help="Default: from --score-kind.")
    p.add_argument("--revision", help="Model revision to record, if known.")
    p.add_argument("--replace", action="store_true", help="Overwrite this model's earlier imported scores for the same prompts.")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("analyze", help="Rank lexicon words per (model, prompt), median rank per category, compare families.")
    p.add_argument("--lexicon", default="big_two_nouns",
                   help=f"Built-in name ({', '.join(BUILTIN_LEXICONS)}) or a .dic/.dicx/.csv file. Default: big_two_nouns.")
    p.add_argument("--by", choices=("family",), default="family", help="Grouping for the comparison (default: family).")
    p.add_argument("--models", nargs="+", help="Only these model ids.")
    p.add_argument("--families", nargs="+", help="Only these families; with two, the first is family A of the comparison.")
    p.add_argument("--prompts", nargs="+", help="Only these prompt keys (default: every prompt with completed runs).")
    p.add_argument("--candidates", nargs="+", help="Only runs with these candidate sets (vocab, words, lexicon:<name>).")
    p.add_argument("--variants", choices=VARIANT_POLICIES, default=DEFAULT_VARIANT_POLICY,
                   help="Tokens that normalise to the same word: rank all variants, or one score per word "
                        f"(mean or max). Default: {DEFAULT_VARIANT_POLICY} (does not favour words with many variants).")
    p.add_argument("--word-scope", choices=("lexicon", "all"), default="lexicon",
                   help="Words for Kendall's tau and top/bottom words: lexicon words only (default) or every word.")
    p.add_argument("--seed", type=int, default=0, help="Seed of the permutation tests (default 0).")
    p.add_argument("--resamples", type=int, default=9999, help="Permutation resamples per panel (default 9999).")
    p.add_argument("--top-k", type=int, default=10, help="Best and worst words listed per (model, framing) (default 10).")
    p.add_argument("--out", help="Folder for the tables (median_ranks, family_summary, mixed_model, ...).")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="Table format for --out (default csv).")
    p.set_defaults(func=cmd_analyze)


def cmd_import(args) -> int:
    cache = Cache(args.home)
    results = import_scores(
        cache, args.path, family=args.family, model=args.model, framing=args.framing, layout=args.layout,
        score_kind=args.score_kind, model_kind=args.model_kind, revision=args.revision, replace=args.replace,
    )
    for r in results:
        if r.unchanged:
            print(f"{r.path.name}: already imported as model {r.model_id!r} ({r.family}); nothing changed.")
            continue
        replaced = f", replacing {r.replaced} earlier run(s)" if r.replaced else ""
        print(f"{r.path.name}: imported model {r.model_id!r} ({r.family}, {r.layout} table): "
              f"{len(r.prompts)} prompt(s) x {r.n_responses} responses{replaced}.")
    return 0


def cmd_analyze(args) -> int:
    from engine.analysis.values import analysis_metadata, analyze_words, load_words, select_runs  # scipy/statsmodels: slow import

    if args.resamples < 1 or args.top_k < 1:
        raise ValueError("--resamples and --top-k must be at least 1.")
    cache = Cache(args.home)
    lexicon = load_lexicon(args.lexicon, home=args.home)
    runs = select_runs(cache, models=args.models, families=args.families, prompts=args.prompts,
                       candidates=args.candidates)
    words = load_words(cache, runs, args.variants, lexicon=lexicon if args.word_scope == "lexicon" else None)
    families = args.families if args.families and len(args.families) == 2 else None
    result = analyze_words(words, lexicon, families=families, seed=args.seed, resamples=args.resamples,
                           top_k=args.top_k, word_scope=args.word_scope)

    notes = list(result.notes)
    if runs.attrs.get("skipped"):
        notes.append(f"{runs.attrs['skipped']} older or alternative run(s) of the same (model, prompt) were left out "
                     "(the newest is used; choose with --candidates)")
    meta = analysis_metadata(
        runs, lexicon, args.variants,
        tool=f"valuescope {__version__} analyze",
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        candidates=sorted(set(runs["candidates"].dropna())),
        word_scope=args.word_scope,
        notes="; ".join(notes) or None,
    )
    meta = {k: v for k, v in meta.items() if v is not None}
    _print_summary(result, runs, lexicon, args, notes)
    if args.out:
        written = _write_outputs(result, Path(args.out), meta, args)
        print(f"\nwrote {len(written)} tables to {Path(args.out)}: {', '.join(p.name for p in written)}")
    return 0


def _write_outputs(result, out: Path, meta: dict, args) -> list[Path]:
    from engine.analysis.values import FAMILY_TEST_DOC, MIXED_DOC, TAU_DOC

    tables = {
        "median_ranks": (result.medians, {}),
        "word_ranks": (result.word_ranks, {}),
        "top_bottom_words": (result.top_bottom, {"k": args.top_k}),
        "kendall_tau": (result.tau, {"method": TAU_DOC}),
        "kendall_tau_summary": (result.tau_summary, {"method": TAU_DOC}),
    }
    if result.family_summary is not None:
        summary = result.family_summary
        doc = FAMILY_TEST_DOC.format(resamples=args.resamples, seed=args.seed, n_tested=summary.attrs.get("n_tested"))
        tables["family_summary"] = (summary, {"compared_families": " vs ".join(result.families), "seed": args.seed,
                                              "resamples": args.resamples, "method": doc})
        tables["mixed_model"] = (result.mixed, {"method": MIXED_DOC})
    suffix = ".parquet" if args.format == "parquet" else ".csv"
    written = []
    for stem, (table, extra) in tables.items():
        header = {"table": f"{stem}: {OUTPUT_FILES[stem]}", **meta, **extra}
        written.append(write_table(table, out / f"{stem}{suffix}", header))
    return written


def _print_summary(result, runs: pd.DataFrame, lexicon, args, notes: list[str]) -> None:
    models = ", ".join(f"{m} ({f})" for m, f in runs.drop_duplicates("model_id")[["model_id", "family"]].itertuples(index=False))
    print(f"lexicon: {lexicon.describe()} | variants: {args.variants} ({VARIANT_POLICY_DOC[args.variants]})")
    print(f"models: {models} | prompts: {runs['prompt_key'].nunique()} | runs: {len(runs)}")
    print("ranks: 1 = best; values are (model, prompt) median ranks of each category, averaged per family")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_rows", 200):
        if result.family_summary is not None:
            a, b = result.families
            shown = result.family_summary.drop(columns=["t_welch"])
            if not shown["note"].astype(bool).any():
                shown = shown.drop(columns=["note"])
            print(f"\nfamily summary: {a} vs {b} (diff = {a} - {b}; negative: {a} ranks the category higher; "
                  f"p_perm: permutation Welch t-test, {args.resamples} resamples, seed {args.seed}; effect_size: Hedges' g)")
            print(shown.to_string(index=False, float_format=_fmt))
            mixed = result.mixed
            if mixed is not None and mixed["note"].astype(str).str.len().gt(0).any():
                print(f"\nmixed model note: {mixed['note'].iloc[0]}")
        else:
            per_model = (result.medians.groupby(["model_id", "framing", "category"], sort=False, dropna=False)["median_rank"]
                         .mean().unstack("category"))
            print("\nmean of per-prompt median ranks per model and framing:")
            print(per_model.to_string(float_format=_fmt))
    for note in notes:
        print(f"note: {note}")


def _fmt(x: float) -> str:
    if pd.isna(x):
        return "nan"
    return f"{x:.3g}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}".rstrip("0").rstrip(".") if abs(x) < 1000 else f"{x:.1f}"
