"""`valuescope implicit`: the implicit reward model between two causal LMs (log-ratio and MWLR per reply)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from engine.cli import progress_bar
from engine.configs import SearchConfig, add_dataclass_arguments, from_namespace
from engine.reports.export import write_table
from engine.prompts import BATTERY
from engine.options import TEMPLATES

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


def register(sub) -> None:
    p = sub.add_parser(
        "implicit",
        help="Implicit reward model between two causal LMs: r = log pi_B - log pi_A and MWLR per reply.",
        description="Compare two causal LMs reply by reply: r(y|x) = log pi_B(y|x) - log pi_A(y|x) and "
                    "MWLR = 0.5 (p + q)(log q - log p), p under model A, q under model B. Positive: B favours the reply. "
                    "Repeat --model-a/--model-b for several pairs.",
    )
    p.add_argument("--model-a", action="append", required=True, metavar="A",
                   help="Model A (pi_1): registry alias, hub id, local folder or .gguf file. Repeat for more pairs.")
    p.add_argument("--model-b", action="append", required=True, metavar="B", help="Model B (pi_2), paired with --model-a in order.")
    for side in ("a", "b"):
        p.add_argument(f"--template-{side}", action="append", choices=("auto", *TEMPLATES),
                       help=f"Template of model {side.upper()} (one for all pairs, or one per pair). Default auto: plain "
                            "(the raw prompt) for pretrained models, chat (chat template, assistant turn opened) for instruct ones.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--prompt", help="Prompt text, or a battery key such as greatest_ever_one.")
    which.add_argument("--battery", action="store_true", help="All 54 prompts of the battery (results are battery means).")
    p.add_argument("--lexicon", help="Also score this lexicon's words as whole replies and summarise its categories "
                                     "(built-in name or .dic/.dicx/.csv file).")
    p.add_argument("--words", help="Comma-separated words for the named-word comparison, e.g. 'freedom,love'.")
    p.add_argument("--no-vocab", action="store_true", help="Skip the whole-vocabulary join (lexicon and named words only).")
    p.add_argument("--top", type=int, default=10, help="How many top and bottom words to list (default 10).")
    p.add_argument("--seed", type=int, default=0, help="Seed of the permutation tests (default 0).")
    p.add_argument("--resamples", type=int, default=9999, help="Permutation resamples per test (default 9999).")
    p.add_argument("--out", required=True, help="Folder for the tables.")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="Table format (default csv).")
    add_dataclass_arguments(p, SearchConfig, skip=("model", "mode", "template", "revision", "family", "head_seed"))
    p.set_defaults(func=cmd_implicit)


def _per_pair(values: list[str] | None, n: int, flag: str) -> list[str]:
    if not values:
        return ["auto"] * n
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ValueError(f"Give {flag} once (for every pair) or once per pair ({n}); got {len(values)}.")
    return values


def cmd_implicit(args) -> int:
    from engine.analysis.implicit import run_implicit
    from engine.workflows.runner import Runner  # no torch until a model must be loaded

    started = time.perf_counter()
    if len(args.model_a) != len(args.model_b):
        raise ValueError(f"--model-a and --model-b pair up in order: got {len(args.model_a)} A and {len(args.model_b)} B models.")
    if args.top < 1 or args.resamples < 1:
        raise ValueError("--top and --resamples must be at least 1.")
    pairs = list(zip(args.model_a, args.model_b))
    templates = list(zip(_per_pair(args.template_a, len(pairs), "--template-a"),
                         _per_pair(args.template_b, len(pairs), "--template-b")))
    words = [w.strip() for w in args.words.split(",") if w.strip()] if args.words else None
    if args.words is not None and not words:
        raise ValueError("--words holds no words.")
    lexicon = None
    if args.lexicon:
        from engine.analysis.lexicons import load_lexicon

        lexicon = load_lexicon(args.lexicon, home=args.home)
    prompts = list(BATTERY) if args.battery else [args.prompt]
    base = from_namespace(SearchConfig, args)
    result = run_implicit(
        Runner(home=args.home), pairs, prompts, lexicon=lexicon, words=words, vocab=not args.no_vocab,
        templates=templates, base=base, seed=args.seed, resamples=args.resamples,
        log=lambda message: print(message, file=sys.stderr, flush=True),
        progress_for=lambda label: progress_bar(label, leave=False),
    )
    tables = output_tables(result, args.top)
    _print_report(result, tables, args.top)
    meta = result.metadata(tool="valuescope implicit", top=args.top)
    out = Path(args.out)
    suffix = ".parquet" if args.format == "parquet" else ".csv"
    written = []
    for stem, (table, extra) in tables.items():
        header = {"table": f"{stem}: {OUTPUT_FILES[stem]}", **meta, **extra}
        written.append(write_table(table, out / f"{stem}{suffix}", header))
    if result.vocab is not None and "vocab_words" not in tables:
        print(f"note: per-prompt vocabulary rows ({len(result.vocab)}) are not written for more than "
              f"{MAX_PROMPTS_FOR_VOCAB_ROWS} prompts; they stay in the cache (vocab_top_bottom.csv lists each prompt's extremes)")
    computed = int((~result.runs["from_cache"]).sum())
    print(f"\n{len(result.runs)} runs ({computed} computed, {len(result.runs) - computed} from the cache); "
          f"wall time {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(f"wrote {len(written)} tables to {out}: {', '.join(p.name for p in written)}")
    return 0


def output_tables(result, top: int) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Stem -> (table, extra header entries) for every table the result holds."""
    from engine.analysis.implicit import CATEGORY_TEST_DOC, PAIR_COLUMNS, top_bottom

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
