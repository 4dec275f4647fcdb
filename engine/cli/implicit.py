"""`valuescope implicit`: the implicit reward model between two causal LMs (log-ratio and MWLR per reply)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

import engine.jobs as jobs
from engine.analysis.lexicons import load_lexicon
from engine.cli.outputs import check_out_folder, table_files
from engine.cli.progress import progress_bar
from engine.configs import ImplicitConfig, SearchConfig, add_dataclass_arguments, from_namespace
from engine.errors import InputError
from engine.prompts import BATTERY, resolve_prompt
from engine.reports.export import table_path, write_table
from engine.store.db import Cache
from engine.workflows.requests import ImplicitRequest, parse_words

def register(sub) -> None:
    p = sub.add_parser(
        "implicit",
        help="Implicit reward model between two causal LMs: r = log pi_B - log pi_A and MWLR per reply.",
        description="Compare two causal LMs reply by reply: r(y|x) = log pi_B(y|x) - log pi_A(y|x) and "
                    "MWLR = 0.5 (p + q)(log q - log p), p under model A, q under model B. Positive: B favours the reply. "
                    "Repeat --model-a/--model-b for several pairs.",
    )
    add_dataclass_arguments(p, ImplicitConfig)
    add_dataclass_arguments(p, SearchConfig, skip=("model", "mode", "template", "revision", "family", "head_seed"))
    p.add_argument("--force", action="store_true", help="Overwrite tables already in the --out folder.")
    p.set_defaults(func=cmd_implicit)


def _per_pair(values: list[str] | None, n: int, flag: str) -> list[str]:
    if not values:
        return ["auto"] * n
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise InputError(f"Give {flag} once (for every pair) or once per pair ({n}); got {len(values)}.")
    return values


def cmd_implicit(args) -> int:
    # scipy.stats and statsmodels load with these (about 1 s): only this command needs them, not `valuescope --help`
    from engine.workflows.implicit import load_result
    from engine.reports.implicit import (MAX_PROMPTS_FOR_VOCAB_ROWS, OUTPUT_FILES, output_tables,
                                         write_implicit_tables)

    started = time.perf_counter()
    if bool(args.prompt) == bool(args.battery):
        raise InputError("Give --prompt TEXT or --battery (one of them).")
    if len(args.model_a) != len(args.model_b):
        raise InputError(f"--model-a and --model-b pair up in order: got {len(args.model_a)} A and {len(args.model_b)} B models.")
    if args.top < 1 or args.resamples < 1:
        raise InputError("--top and --resamples must be at least 1.")
    base = from_namespace(SearchConfig, args)  # checks --batch-size
    if args.prompt:
        resolve_prompt(args.prompt)
    paper_files = ["paper_top_bottom", "paper_named_words"] if args.vocab_join == "paper" else []
    check_out_folder(args.out, table_files([*OUTPUT_FILES, *paper_files], args.format), args.force)
    if base.device:
        from engine.models.loading import check_device  # torch, only when a device is named

        check_device(base.device)
    pairs = tuple(zip(args.model_a, args.model_b))
    templates = tuple(zip(_per_pair(args.template_a, len(pairs), "--template-a"),
                          _per_pair(args.template_b, len(pairs), "--template-b")))
    words = parse_words(args.words)
    if words is not None and not words:
        raise InputError("--words holds no words.")
    if args.lexicon:
        load_lexicon(args.lexicon, home=args.home)  # a bad lexicon fails here, before any model loads
    request = ImplicitRequest(pairs, tuple(BATTERY) if args.battery else (args.prompt,), templates, args.lexicon,
                              words, not args.no_vocab, base, args.seed, args.resamples)
    bar = progress_bar("runs", unit="run")
    try:
        job = jobs.run_foreground("implicit", request.to_params(), progress=bar, key=request.job_key(),
                                  label=request.label(), home=args.home)
    finally:
        bar.close()
    result = load_result(job.result["artifact"])
    tables = output_tables(result, args.top)
    _print_report(result, tables, args.top)
    out = Path(args.out)
    written = write_implicit_tables(result, out, args.top, args.format, tool="valuescope implicit", top=args.top)
    if result.vocab is not None and "vocab_words" not in tables:
        print(f"note: per-prompt vocabulary rows ({len(result.vocab)}) are not written for more than "
              f"{MAX_PROMPTS_FOR_VOCAB_ROWS} prompts; they stay in the cache (vocab_top_bottom.csv lists each prompt's extremes)")
    if args.vocab_join == "paper":
        written += _paper_tables(result, args, words, out)
    computed = int((~result.runs["from_cache"]).sum())
    print(f"\n{len(result.runs)} runs ({computed} computed, {len(result.runs) - computed} from the cache); "
          f"wall time {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(f"wrote {len(written)} tables to {out}: {', '.join(p.name for p in written)}")
    return 0


def _paper_tables(result, args, words, out: Path) -> list[Path]:
    """The paper's Fig 3 / Table 1 tables (engine.workflows.implicit.paper_vocabulary), printed and written."""
    from engine.analysis.implicit import PAPER_JOIN_RULE  # scipy.stats: only --vocab-join paper needs these
    from engine.workflows.implicit import paper_vocabulary

    tables = paper_vocabulary(Cache(args.home), result, words or ("freedom", "love"), top=args.top)
    print(f"\nthe paper's vocabulary join: {PAPER_JOIN_RULE}")
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(tables["paper_named_words"].drop(columns=["model_a", "model_b"]).to_string(index=False))
        for (pair, key), grp in tables["paper_top_bottom"].groupby(["pair", "prompt_key"], sort=False):
            for end in ("top", "bottom"):
                rows = grp[grp["end"] == end]
                print(f"{pair} | {key} | {end}: " + ", ".join(f"{w!r} {v:+.3g}" for w, v in zip(rows["word"], rows["mwlr"])))
    return [write_table(table, table_path(out, stem, args.format), {"table": stem, "method": PAPER_JOIN_RULE})
            for stem, table in tables.items()]


def _print_report(result, tables, top: int) -> None:
    n_prompts = len(result.prompts)
    scope = f"battery mean over {n_prompts} prompts" if n_prompts > 1 else f"prompt {result.prompts[0][1]!r}"
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_rows", 500,
                           "display.max_colwidth", 40):
        for pair in result.pairs.itertuples():
            print(f"\n=== implicit RM {pair.pair} ({scope})")
            print(f"A = {pair.model_a} ({pair.family_a}, template {pair.template_a}); "
                  f"B = {pair.model_b} ({pair.family_b}, template {pair.template_b})")
            print("r = log pi_B - log pi_A; MWLR = 0.5 (p + q) (log q - log p); top = B favours the word, bottom = A does")
            for name, label in (("vocab", "vocabulary words (most probable token per word)"),
                                ("lexicon", f"lexicon words ({result.lexicon.name if result.lexicon else ''}, whole words)")):
                mean = getattr(result, f"{name}_mean")
                if mean is None:
                    continue
                grp = mean[mean["pair"] == pair.pair]
                print(f"\n{label}: {len(grp)} words")
                for end, rows in (("top", grp.head(top)), ("bottom", grp.iloc[::-1].head(top))):
                    print(f"  {end:6s} " + ", ".join(f"{w!r} {v:+.3g}" for w, v in zip(rows["word"], rows["mwlr"])))
            if result.named_summary is not None:
                cols = ["word", "mwlr", "mwlr_sd", *[c for c in ("mwlr_positive", "mwlr_negative") if c in result.named_summary],
                        "log_ratio", "logp_a", "logp_b", "n_tokens_a", "n_tokens_b", "favours"]
                shown = result.named_summary[result.named_summary["pair"] == pair.pair][cols]
                print("\nnamed words:")
                print(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
            if result.category_summary is not None:
                cs = result.category_summary[result.category_summary["pair"] == pair.pair]
                print("\ncategory summary (ranks: words ranked by MWLR per prompt, 1 = favoured most by B relative to A):")
                print(cs.drop(columns=["pair", "model_a", "model_b"]).to_string(index=False, float_format=lambda x: f"{x:.4g}"))
                ct = result.category_tests[result.category_tests["pair"] == pair.pair]
                if len(ct):
                    shown = ct.drop(columns=["pair", "t_welch"])
                    if not shown["note"].fillna("").astype(bool).any():
                        shown = shown.drop(columns=["note"])
                    print(f"\ncategory tests (diff = category_1 - category_2 median MWLR rank; permutation Welch t, "
                          f"{result.resamples} resamples, seed {result.seed}; Bonferroni; Hedges' g):")
                    print(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    for note in result.notes:
        print(f"note: {note}")
