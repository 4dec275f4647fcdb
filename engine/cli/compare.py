"""`valuescope compare --models A,B --prompt KEY --top 20 --out paired.csv`: two models' top and bottom words
for one prompt side by side, from their cached runs (engine.reports.paired)."""
from __future__ import annotations

import sys

import pandas as pd

from engine.cli.outputs import check_out_file
from engine.errors import InputError
from engine.prompts import resolve_prompt
from engine.reports.export import write_table
from engine.reports.paired import MAX_K, paired_words
from engine.store.db import Cache
from engine.store.queries import select_runs


def register(sub) -> None:
    p = sub.add_parser("compare", help="Two models' top and bottom words for one prompt, side by side (from the cache).")
    p.add_argument("--models", required=True, help="Two model ids, comma-separated, as `valuescope runs` lists them.")
    p.add_argument("--prompt", required=True, help="A battery key (e.g. greatest_ever_one) or the prompt's text.")
    p.add_argument("--top", type=int, default=20, help=f"Best and worst replies listed per model (1-{MAX_K}, default 20).")
    p.add_argument("--candidates", default="vocab",
                   help="Which runs: vocab (default), words, or lexicon:NAME, as `valuescope runs` lists them.")
    p.add_argument("--out", help="Write the table to this .csv (settings in a .meta.json beside it), .parquet or "
                                 ".xlsx file; without it the table is printed.")
    p.add_argument("--force", action="store_true", help="Overwrite --out if it exists.")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if len(models) != 2 or models[0] == models[1]:
        raise InputError(f"--models takes two different model ids separated by a comma, not {args.models!r}.")
    if args.out:
        check_out_file(args.out, args.force)
    key, text = resolve_prompt(args.prompt)
    cache = Cache(args.home)
    runs = select_runs(cache, models=models, prompts=[key or text], candidates=args.candidates)
    run_ids = runs.set_index("model_id").loc[models, "run_id"]  # the newest run of each
    table, metadata = paired_words(cache, run_ids.iloc[0], run_ids.iloc[1], args.top)
    if args.out:
        path = write_table(table, args.out, metadata)
        print(f"wrote {len(table)} rows to {path}", file=sys.stderr)
    else:
        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 24):
            print(table.to_string(index=False))
    return 0
