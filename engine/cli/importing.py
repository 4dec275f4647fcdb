"""`valuescope import`: score tables computed elsewhere (CSV/Parquet, wide or long) into the cache."""
from __future__ import annotations

from engine.configs import ImportConfig, add_dataclass_arguments
from engine.store.db import Cache
from engine.workflows.importer import import_scores


def register(sub) -> None:
    p = sub.add_parser("import", help="Import score tables computed elsewhere (CSV/Parquet, wide or long) into the cache.")
    add_dataclass_arguments(p, ImportConfig)
    p.set_defaults(func=cmd_import)


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
