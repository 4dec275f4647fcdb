"""`valuescope search`: every vocabulary token (or lexicon words) scored as the whole reply."""
from __future__ import annotations

import sys
import time

import pandas as pd

from engine.cli.outputs import check_out_file
from engine.cli.progress import progress_bar
from engine.configs import SearchConfig, add_dataclass_arguments, from_namespace
from engine.errors import InputError, NotFoundError
from engine.prompts import BATTERY, resolve_prompt
from engine.reports.export import write_table
from engine.reports.tables import ranking_table, run_metadata, scoring_details


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



def _words(args) -> tuple[list[str] | None, str | None, dict]:
    """The replies to score (None: the vocabulary), the run's candidates label, and provenance to export."""
    if args.lexicon and args.words:
        raise InputError("Give --lexicon or --words, not both.")
    if args.words is not None:
        words = [w.strip() for w in args.words.split(",") if w.strip()]
        if not words:
            raise InputError("--words holds no words.")
        return words, "words", {}
    if args.lexicon:
        from engine.analysis.lexicons import load_lexicon

        lexicon = load_lexicon(args.lexicon, home=args.home)
        return lexicon.reply_words(), f"lexicon:{lexicon.name}", {"lexicon": lexicon.describe()}
    return None, None, {}


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
    from engine.workflows.runner import Runner, RunRequest  # no torch until a model must be loaded

    config = from_namespace(SearchConfig, args)
    check_inputs(args, config)
    words, candidates, extra_meta = _words(args)
    runner = Runner(home=args.home)
    prompts = list(BATTERY) if args.battery else [args.prompt]
    requests = {prompt: RunRequest.resolve(config, prompt, words, candidates) for prompt in prompts}
    started = time.perf_counter()
    missing = [p for p, r in requests.items() if args.refresh or runner.cached_request(r) is None]
    if missing:
        _compute(config, missing, requests, words, candidates, args)
    tables, first_meta, run_ids = [], None, []
    for prompt, request in requests.items():
        result = runner.cached_request(request)
        if result is None:
            raise NotFoundError(f"The search for {prompt!r} ended without a result in the cache.")
        run, scores = result.run, result.scores
        origin = "computed and cached" if prompt in missing else "answered from the cache"
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
    print(f"{len(prompts)} prompt(s), {len(missing)} computed, in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    if args.out:
        meta = {**first_meta, **extra_meta}
        if args.battery:  # one table of 54 runs: their ids in the provenance, prompts in the table's columns
            meta.pop("run_id")
            meta.update(runs=run_ids, prompt_key="battery (54)", prompt_text="see the prompt column")
        path = write_table(pd.concat(tables, ignore_index=True), args.out, meta)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _compute(config, missing: list[str], requests: dict, words, candidates, args) -> None:
    """Run the missing searches as a foreground job (recorded, so the app lists it), or wait for the
    background job that is already computing the same single request."""
    import dataclasses

    import engine.jobs as jobs

    params = {"config": dataclasses.asdict(config), "words": words, "candidates": candidates,
              "refresh": bool(args.refresh)}
    if len(missing) == 1:
        key = requests[missing[0]].key
        live = jobs.latest_for_key(key, home=args.home)
        if live is not None and live.live and not args.refresh:
            print(f"joining job {live.id}, already computing this search", file=sys.stderr)
            bar = progress_bar(missing[0])
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
        jobs.run_foreground("search", {**params, "prompt": missing[0]}, progress=progress_bar(missing[0]), key=key,
                            label=f"search {config.model}", home=args.home)
        return
    jobs.run_foreground("battery", {**params, "prompts": missing}, progress=progress_bar("prompts", unit="prompt"),
                        label=f"battery {config.model}", home=args.home)


def _print_extremes(table: pd.DataFrame, k: int) -> None:
    label = "token" if "token" in table else "word"
    fmt = lambda rows: ", ".join(f"{t!r} {s:.3f}" for t, s in zip(rows[label], rows["score"]))  # noqa: E731
    print(f"best:  {fmt(table.head(k))}")
    print(f"worst: {fmt(table.tail(k).iloc[::-1])}")
