"""`valuescope search`: every vocabulary token (or lexicon words) scored as the whole reply."""
from __future__ import annotations

import sys
import time
from dataclasses import replace

import pandas as pd

import engine.jobs as jobs
from engine.analysis.lexicons import load_lexicon
from engine.cli.outputs import check_out_file
from engine.cli.progress import progress_bar
from engine.configs import SearchConfig, add_dataclass_arguments, from_namespace
from engine.errors import InputError, NotFoundError
from engine.prompts import BATTERY, resolve_prompt
from engine.reports.export import write_table
from engine.reports.tables import ranking_table, run_metadata, scoring_details
from engine.workflows.rekey import open_cache
from engine.workflows.requests import SearchRequest, parse_words
from engine.workflows.runner import Runner


def register(sub) -> None:
    p = sub.add_parser("search", help="Score every vocabulary token (or lexicon words) as the whole reply.")
    add_dataclass_arguments(p, SearchConfig)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--prompt", help="Prompt text, or a battery key such as greatest_ever_one.")
    which.add_argument("--battery", action="store_true", help="All 54 prompts of the battery.")
    p.add_argument("--lexicon", help="Score this lexicon's words (built-in name or .dic/.dicx/.csv file) instead of tokens.")
    p.add_argument("--words", help="Comma-separated replies to score instead of tokens, e.g. 'love, freedom'.")
    p.add_argument("--out", help="File for the ranking: .csv (with its settings in a .meta.json beside it), .parquet "
                                 "or .xlsx (for spreadsheets).")
    p.add_argument("--force", action="store_true", help="Overwrite --out if it exists.")
    p.add_argument("--top", type=int, default=10, help="How many best and worst replies to print.")
    p.add_argument("--refresh", action="store_true", help="Recompute even if the cache has this run.")
    p.set_defaults(func=cmd_search)



def _request(args, config: SearchConfig) -> SearchRequest:
    if args.lexicon and args.words:
        raise InputError("Give --lexicon or --words, not both.")
    words = parse_words(args.words)
    if words is not None and not words:
        raise InputError("--words holds no words.")
    prompts = tuple(BATTERY) if args.battery else (args.prompt,)
    return SearchRequest(config, prompts, words, args.lexicon, bool(args.refresh))


def check_inputs(args, config: SearchConfig) -> None:
    """Everything that can be wrong with the command line, found before any model loads."""
    if args.top < 1:
        raise InputError(f"--top {args.top}: give at least 1.")
    if not args.battery:
        resolve_prompt(args.prompt)
    if args.out:
        path = check_out_file(args.out, args.force)
        if path.suffix.lower() == ".xlsx" and args.battery and not (args.lexicon or args.words):
            raise InputError(f"--out {args.out}: the whole vocabulary for 54 prompts is more rows than a spreadsheet "
                             "holds; use .csv or .parquet, or --lexicon / --words.")
    if config.device:
        from engine.models.loading import check_device  # torch, only when a device is named

        check_device(config.device)


def cmd_search(args) -> int:
    config = from_namespace(SearchConfig, args)
    check_inputs(args, config)
    request = _request(args, config)
    runs = request.resolve(args.home)  # reads the lexicon: a bad one fails here, before any model loads
    extra_meta = {"lexicon": load_lexicon(args.lexicon, home=args.home).describe()} if args.lexicon else {}
    runner = Runner(open_cache(args.home), args.home)
    started = time.perf_counter()
    missing = [run for run in runs if args.refresh or runner.cached_request(run) is None]
    if missing:
        _compute(request, runs, missing, args)
    tables, first_meta, run_ids = [], None, []
    computed = {run.key for run in missing}
    for run_request in runs:
        result = runner.cached_request(run_request)
        if result is None:
            raise NotFoundError(f"The search for {run_request.prompt_text!r} ended without a result in the cache.")
        run, scores = result.run, result.scores
        origin = "computed and cached" if run_request.key in computed else "answered from the cache"
        print(f"[{run['run_id']}] {run['model_id']} | {run['prompt_text']!r} | {len(scores)} candidates | "
              f"{origin}", file=sys.stderr)
        scoring = scoring_details(run)
        if scoring and scoring.get("read_token") is not None:
            print(f"  scored {scoring['method']} on the {scoring['path'].replace('_', ' ')} path: reward read at "
                  f"{scoring['read_token']!r} ({scoring['read_from_end']} from the end), {scoring['n_bos']} BOS, "
                  f"{scoring['n_tied_scores']} tied scores", file=sys.stderr)
        if (run.get("head_status") or "").startswith("untrained"):
            print(f"  note: reward head is {run['head_status']}: these rewards test the pipeline, not a trained RM.",
                  file=sys.stderr)
        table = ranking_table(run, scores)
        if not args.battery:
            _print_extremes(table, args.top)
        else:
            table.insert(0, "prompt", run["prompt_text"])
            table.insert(0, "prompt_key", run["prompt_key"])
        tables.append(table)
        run_ids.append(run["run_id"])
        first_meta = first_meta or run_metadata(run)
    print(f"{len(runs)} prompt(s), {len(missing)} computed, in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    if args.out:
        meta = {**first_meta, **extra_meta}
        if args.battery:  # one table of 54 runs: their ids in the provenance, prompts in the table's columns
            meta.pop("run_id")
            meta.update(runs=run_ids, prompt_key="battery (54)", prompt_text="see the prompt column")
        path = write_table(pd.concat(tables, ignore_index=True), args.out, meta)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _compute(request: SearchRequest, runs: list, missing: list, args) -> None:
    """Run the missing searches as a foreground job (recorded, so the app lists it), or wait for the
    background job that is already computing the same single request."""
    todo = replace(request, prompts=tuple(run.prompt_text if run.prompt_key is None else run.prompt_key
                                          for run in missing))
    key = SearchRequest.job_key(missing)
    if len(missing) == 1:
        live = jobs.latest_for_key(key, home=args.home)
        if live is not None and live.live and not args.refresh:
            print(f"joining job {live.id}, already computing this search", file=sys.stderr)
            bar = progress_bar(todo.prompts[0])
            try:
                while live is not None and live.live:
                    bar(live.done, max(live.total, 1))
                    time.sleep(0.5)
                    live = jobs.get(live.id, home=args.home)
            except KeyboardInterrupt:  # only this command stops waiting: the job is not its own to cancel
                print(f"\nStopped waiting. Job {live.id} runs on in the background and caches its result; the same "
                      "`valuescope search` joins it again (the app's Jobs tab can cancel it).", file=sys.stderr)
                raise SystemExit(130) from None
            if live is not None and live.status != "done":
                raise InputError(f"The job computing this search ended {live.status}: {live.error or live.message}")
            return
        bar = progress_bar(todo.prompts[0])
    else:
        bar = progress_bar("prompts", unit="prompt")
    try:
        jobs.run_foreground(todo.kind, todo.to_params(), progress=bar, stage=bar.stage if len(missing) == 1 else None,
                            key=key, label=todo.label(), home=args.home)
    finally:
        bar.close()


def _print_extremes(table: pd.DataFrame, k: int) -> None:
    label = "token" if "token" in table else "word"
    fmt = lambda rows: ", ".join(f"{t!r} {s:.3f}" for t, s in zip(rows[label], rows["score"]))  # noqa: E731
    print(f"best:  {fmt(table.head(k))}")
    print(f"worst: {fmt(table.tail(k).iloc[::-1])}")
