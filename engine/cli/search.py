"""`valuescope search`, `runs`, `export` and `prepare`."""
from __future__ import annotations

import sys
import time

import pandas as pd

from engine.store.db import Cache
from engine.cli import progress_bar
from engine.configs import SearchConfig, add_dataclass_arguments, from_namespace
from engine.reports.export import write_table
from engine.prompts import BATTERY


def register(sub) -> None:
    p = sub.add_parser("search", help="Score every vocabulary token (or lexicon words) as the whole reply.")
    add_dataclass_arguments(p, SearchConfig)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--prompt", help="Prompt text, or a battery key such as greatest_ever_one.")
    which.add_argument("--battery", action="store_true", help="All 54 prompts of the battery.")
    p.add_argument("--lexicon", help="Score this lexicon's words (built-in name or .dic/.dicx/.csv file) instead of tokens.")
    p.add_argument("--words", help="Comma-separated replies to score instead of tokens, e.g. 'love, freedom'.")
    p.add_argument("--out", help="CSV or Parquet file for the ranking.")
    p.add_argument("--top", type=int, default=10, help="How many best and worst replies to print.")
    p.add_argument("--refresh", action="store_true", help="Recompute even if the cache has this run.")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("runs", help="List cached runs.")
    p.add_argument("--model", help="Only runs of this model id.")
    p.add_argument("--status", choices=("running", "done", "failed", "cancelled"), help="Only runs with this status.")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("export", help="Write one cached run's ranking to CSV or Parquet.")
    p.add_argument("run_id", help="Run id (or a unique prefix), from `valuescope runs`.")
    p.add_argument("--out", required=True, help="Output .csv or .parquet file.")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("prepare", help="Convert the embedded default models once (done at Docker build time).")
    p.set_defaults(func=cmd_prepare)


def _words(args) -> tuple[list[str] | None, str | None]:
    if args.lexicon and args.words:
        raise ValueError("Give --lexicon or --words, not both.")
    if args.words is not None:
        words = [w.strip() for w in args.words.split(",") if w.strip()]
        if not words:
            raise ValueError("--words holds no words.")
        return words, "words"
    if args.lexicon:
        from engine.analysis.lexicons import load_lexicon

        lexicon = load_lexicon(args.lexicon)
        return lexicon.reply_words(), f"lexicon:{lexicon.name}"
    return None, None


def ranking_table(run: dict, scores: pd.DataFrame) -> pd.DataFrame:
    """The exported columns: token_id, token, score, rank for token runs; word, score, ... for words."""
    if run["candidates"] == "vocab":
        table = scores.rename(columns={"text": "token"})[["token_id", "token", "score", "rank"]]
    else:
        cols = ["text", "score", "rank"] + (["first_token_score", "n_tokens"] if run["score_kind"] == "logprob" else ["n_tokens"])
        table = scores[cols].rename(columns={"text": "word"})
    return table


def run_metadata(run: dict) -> dict:
    keys = ("run_id", "model_id", "model_source", "family", "revision", "tokenizer_hash", "score_kind", "prompt_key",
            "prompt_text", "template", "dtype", "quantization", "candidates", "vocab_filter", "head_status",
            "scorer_version", "source", "device")
    return {k: run.get(k) for k in keys} | {"rank": "1 = highest score"}


def cmd_search(args) -> int:
    from engine.workflows.runner import Runner  # no torch until a model must be loaded

    config = from_namespace(SearchConfig, args)
    words, candidates = _words(args)
    runner = Runner(home=args.home)
    prompts = list(BATTERY) if args.battery else [args.prompt]
    tables, first_meta = [], None
    for prompt in prompts:
        started = time.perf_counter()
        # answered from the cache when it can be; the progress bar only appears for real work
        result = runner.run(config, prompt, words, candidates, progress=progress_bar(prompt), refresh=args.refresh)
        run, scores = result.run, result.scores
        elapsed = time.perf_counter() - started
        origin = "answered from the cache" if result.from_cache else "computed and cached"
        print(f"[{run['run_id']}] {run['model_id']} | {run['prompt_text']!r} | {len(scores)} candidates | "
              f"{origin} in {elapsed:.2f} s", file=sys.stderr)
        if run.get("head_status", "").startswith("untrained"):
            print(f"  note: reward head is {run['head_status']}: these rewards test the pipeline, not a trained RM.",
                  file=sys.stderr)
        table = ranking_table(run, scores)
        if not args.battery:
            _print_extremes(table, args.top)
        else:
            table.insert(0, "prompt", run["prompt_text"])
            table.insert(0, "prompt_key", run["prompt_key"])
        tables.append(table)
        first_meta = first_meta or run_metadata(run)
    if args.out:
        meta = first_meta if not args.battery else {**first_meta, "run_id": "several", "prompt_key": "battery (54)",
                                                   "prompt_text": "see prompt column"}
        path = write_table(pd.concat(tables, ignore_index=True), args.out, meta)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _print_extremes(table: pd.DataFrame, k: int) -> None:
    label = "token" if "token" in table else "word"
    fmt = lambda rows: ", ".join(f"{t!r} {s:.3f}" for t, s in zip(rows[label], rows["score"]))  # noqa: E731
    print(f"best:  {fmt(table.head(k))}")
    print(f"worst: {fmt(table.tail(k).iloc[::-1])}")


def cmd_runs(args) -> int:
    runs = Cache(args.home).list_runs(status=args.status, model_id=args.model)
    if runs.empty:
        print("No runs cached yet.")
        return 0
    cols = ["run_id", "status", "source", "model_id", "score_kind", "candidates", "prompt_key", "prompt_text",
            "n_scores", "seconds", "created_at"]
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 48):
        print(runs[cols].to_string(index=False))
    return 0


def cmd_export(args) -> int:
    cache = Cache(args.home)
    run = cache.get_run(args.run_id)
    table = ranking_table(run, cache.scores(run["run_id"]))
    path = write_table(table, args.out, run_metadata(run))
    print(f"wrote {len(table)} rows to {path}")
    return 0


def cmd_prepare(args) -> int:
    from engine.models.loading import load_model
    from engine.models.registry import DEFAULT_MODELS, REGISTRY

    for alias in DEFAULT_MODELS:
        lm = load_model(REGISTRY[alias], home=args.home)
        print(f"{alias}: ready ({lm.revision}) in {lm.load_seconds:.1f} s")
    return 0
