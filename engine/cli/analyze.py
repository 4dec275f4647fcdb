"""`valuescope analyze`: rank lexicon words per (model, prompt), median rank per category, compare families."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.analysis.words import VARIANT_POLICY_DOC
from engine.cli.outputs import check_out_folder, table_files
from engine.configs import AnalyzeConfig, add_dataclass_arguments, from_namespace
from engine.store.db import Cache


def register(sub) -> None:
    p = sub.add_parser("analyze", help="Rank lexicon words per (model, prompt), median rank per category, compare families.")
    add_dataclass_arguments(p, AnalyzeConfig)
    p.add_argument("--force", action="store_true", help="Overwrite tables already in the --out folder.")
    p.set_defaults(func=cmd_analyze)


def cmd_analyze(args) -> int:
    from engine.reports.analysis import OUTPUT_FILES, write_analysis_tables  # scipy/statsmodels: slow import
    from engine.workflows.analyze import run_analysis

    config = from_namespace(AnalyzeConfig, args)
    if config.out:
        check_out_folder(config.out, table_files(OUTPUT_FILES, config.format), args.force)
    analysis = run_analysis(Cache(args.home), config, home=args.home)
    _print_summary(analysis.result, analysis.runs, analysis.lexicon, args, analysis.notes)
    if config.out:
        written = write_analysis_tables(analysis.result, config.out, analysis.metadata, config.seed, config.resamples,
                                        config.top_k, config.format)
        print(f"\nwrote {len(written)} tables to {Path(config.out)}: {', '.join(p.name for p in written)}")
    return 0


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
