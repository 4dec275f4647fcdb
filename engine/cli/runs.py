"""`valuescope runs`, `export`, `models` and `prepare`: what is cached, and the models at hand."""
from __future__ import annotations

import pandas as pd

from engine.cli.outputs import check_out_file
from engine.options import RUN_STATUSES
from engine.reports.export import write_table
from engine.reports.tables import ranking_table, run_metadata
from engine.store.db import Cache
from engine.models.registry import DEFAULT_MODELS, REGISTRY


def register(sub) -> None:
    p = sub.add_parser("runs", help="List cached runs.")
    p.add_argument("--model", help="Only runs of this model id.")
    p.add_argument("--status", choices=RUN_STATUSES, help="Only runs with this status.")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("export", help="Write one cached run's ranking to CSV, Parquet or .xlsx.")
    p.add_argument("run_id", help="Run id (or a unique prefix), from `valuescope runs`.")
    p.add_argument("--out", required=True, help="Output .csv (with its settings in a .meta.json beside it), .parquet "
                                                "or .xlsx (for spreadsheets) file.")
    p.add_argument("--force", action="store_true", help="Overwrite --out if it exists.")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("prepare", help="Convert the embedded default models once (done at Docker build time).")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("models", help="List the registry's models (aliases you can pass as --model).")
    p.set_defaults(func=cmd_models)


def cmd_runs(args) -> int:
    cache = Cache(args.home)
    runs = cache.list_runs(status=args.status, model_id=args.model)
    if runs.empty:
        filters = [f"{name} {value!r}" for name, value in (("model", args.model), ("status", args.status)) if value]
        if filters and not cache.list_runs().empty:
            print(f"No cached run matches {' and '.join(filters)}. `valuescope runs` lists them all.")
        else:
            print("No runs cached yet.")
        return 0
    cols = ["run_id", "status", "source", "model_id", "score_kind", "candidates", "prompt_key", "prompt_text",
            "n_scores", "seconds", "created_at"]
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 48):
        print(runs[cols].to_string(index=False))
    return 0


def cmd_export(args) -> int:
    check_out_file(args.out, args.force)
    cache = Cache(args.home)
    run = cache.get_run(args.run_id)
    table = ranking_table(run, cache.scores(run["run_id"]))
    path = write_table(table, args.out, run_metadata(run))
    print(f"wrote {len(table)} rows to {path}")
    return 0


def cmd_prepare(args) -> int:
    from engine.models.loading import load_model  # torch: only this command loads models

    for alias in DEFAULT_MODELS:
        lm = load_model(REGISTRY[alias], home=args.home)
        print(f"{alias}: ready ({lm.revision}) in {lm.load_seconds:.1f} s")
    return 0


def cmd_models(args) -> int:
    rows = [{"alias": a, "kind": s.kind, "family": s.family, "variant": s.variant, "source": s.source,
             "dtype": s.dtype, "revision": (s.revision or "")[:7], "offline": a in DEFAULT_MODELS, "notes": s.notes}
            for a, s in REGISTRY.items()]
    with pd.option_context("display.width", 220, "display.max_colwidth", 70, "display.max_rows", None):
        print(pd.DataFrame(rows).to_string(index=False))
    return 0
