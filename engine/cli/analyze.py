"""`valuescope analyze`: rank lexicon words per (model, prompt), median rank per category, compare families."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.analysis.words import VARIANT_POLICY_DOC
from engine.analysis.paper_training import FIG4B_DOC
from engine.cli.outputs import check_out_folder, table_files
from engine.configs import AnalyzeConfig, add_dataclass_arguments, from_namespace
from engine.reports.export import table_path, write_table
from engine.store.db import Cache


def register(sub) -> None:
    p = sub.add_parser("analyze", help="Rank lexicon words per (model, prompt), median rank per category, compare families.")
    add_dataclass_arguments(p, AnalyzeConfig)
    p.add_argument("--force", action="store_true", help="Overwrite tables already in the --out folder.")
    p.set_defaults(func=cmd_analyze)


def cmd_analyze(args) -> int:
    from engine.analysis.intervals import verdict
    from engine.reports.analysis import OUTPUT_FILES, analysis_tables, write_analysis_tables  # scipy: slow import
    from engine.workflows.analyze import run_analysis

    config = from_namespace(AnalyzeConfig, args)
    if config.preset:
        return _run_preset(args, config)
    if config.out:
        stems = [*OUTPUT_FILES, *(("anova", "posthoc") if config.anova else ())]
        check_out_folder(config.out, table_files(stems, config.format), args.force)
    analysis = run_analysis(Cache(args.home), config, home=args.home)
    _print_summary(analysis.result, analysis.runs, analysis.lexicon, args, analysis.notes)
    tables = analysis_tables(analysis.result, config.seed, config.resamples, config.top_k)
    if "family_differences" in tables:
        differences, extra = tables["family_differences"]
        print(f"\ndifferences with intervals ({extra['method']}):")
        print("\n".join(f"  {line}" for line in differences["reading"]))
        print(f"verdict: {verdict(differences)}")
    _print_anova(analysis.paper_tables)
    if config.out:
        written = write_analysis_tables(analysis.result, config.out, analysis.metadata, config.seed, config.resamples,
                                        config.top_k, config.format, tables)
        written += _write_anova(analysis, config)
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
                  f"{_test_doc(args)}; effect_size: Hedges' g)")
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


def _print_anova(tables: dict) -> None:
    from engine.analysis.paper_stats import ANOVA_DOC, POSTHOC_DOC, STARS_DOC  # statsmodels: only --anova needs it

    if not tables:
        return
    print(f"\nANOVA ({ANOVA_DOC}):")
    print(tables["anova"].to_string(index=False, float_format=_fmt))
    print(f"\npost-hoc ({POSTHOC_DOC}; {STARS_DOC}):")
    print(tables["posthoc"].to_string(index=False, float_format=_fmt))


def _write_anova(analysis, config) -> list:
    from engine.analysis.paper_stats import ANOVA_DOC, POSTHOC_DOC  # statsmodels: only --anova needs it

    docs = {"anova": ANOVA_DOC, "posthoc": POSTHOC_DOC}
    return [write_table(table, table_path(config.out, stem, config.format),
                        {"table": stem, **analysis.metadata, "method": docs[stem]})
            for stem, table in analysis.paper_tables.items()]


def _test_doc(args) -> str:
    from engine.analysis.stats import FAMILY_TESTS  # scipy.stats: not for `valuescope --help`

    return FAMILY_TESTS[args.test][1].format(resamples=args.resamples, seed=args.seed)


def _run_preset(args, config) -> int:
    """The paper's figures (engine/workflows/paper_preset.py): each figure's panels with the paper's stars."""
    from engine.analysis.stats import family_test_doc  # scipy.stats and statsmodels: only the preset needs these
    from engine.reports.analysis import OUTPUT_FILES, write_analysis_tables
    from engine.workflows.paper_preset import run_preset

    stems = [*OUTPUT_FILES, "panels"]
    if config.out:
        for sub in ("fig1a", "fig1b"):
            check_out_folder(Path(config.out) / sub, table_files(stems, config.format), args.force)
        check_out_folder(Path(config.out) / "fig4b", table_files(["points"], config.format), args.force)
    results = run_preset(Cache(args.home), config.preset, home=args.home, seed=config.seed)
    for item in results:
        panels, run = item.panels, item.analysis
        print(f"\n{item.figure.name}: {item.figure.title}")
        print(f"lexicon: {run.lexicon.describe()} | {run.runs['model_id'].nunique()} models, "
              f"{run.runs['prompt_key'].nunique()} prompts | {run.result.word_ranks.groupby(['model_id', 'prompt_key'], observed=True).size().max()} words ranked per (model, prompt)")
        print("values: mean over (model, prompt) of each category's median rank (1 = best); diff = gemma - llama")
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(panels.to_string(index=False, float_format=_fmt))
        method = f"{family_test_doc(panels)}; {panels.attrs.get('stars')}; ci_low/ci_high: {panels.attrs.get('intervals')}"
        print(f"method: {method}")
        for note in run.notes:
            print(f"note: {note}")
        if config.out:
            folder = Path(config.out) / item.figure.name.lower().replace(" ", "")
            meta = {**run.metadata, "preset": f"{config.preset} {item.figure.name}"}
            written = write_analysis_tables(run.result, folder, meta, config.seed, config.resamples, config.top_k,
                                            config.format)
            written.append(write_table(panels, table_path(folder, "panels", config.format),
                                       {"table": f"panels: {item.figure.name} as the paper shows it", **meta,
                                        "method": method}))
            print(f"wrote {len(written)} tables to {folder}")
    _print_fig4b(config, args)
    return 0


def _print_fig4b(config, args) -> None:
    from engine.workflows.paper_preset import preset_fig4b  # scipy.stats: only --preset needs it

    points = preset_fig4b(config.preset, home=args.home)
    if points is None:
        return
    wide = points.pivot_table(index=["base_model", "data_size", "data_source", "method"], columns="category",
                              values="median_rank", sort=False).reset_index()
    wide.columns.name = None
    print(f"\nFig 4b: {FIG4B_DOC}")
    print(wide.to_string(index=False, float_format=_fmt))
    print("note: the paper's 13K point is left out: rank_results_uf_13.csv is the same file as the 27K one")
    if config.out:
        path = write_table(points, table_path(Path(config.out) / "fig4b", "points", config.format),
                           {"table": "fig4b points", "method": FIG4B_DOC, "preset": config.preset})
        print(f"wrote {path}")


def _fmt(x: float) -> str:
    if pd.isna(x):
        return "nan"
    return f"{x:.3g}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}".rstrip("0").rstrip(".") if abs(x) < 1000 else f"{x:.1f}"
