"""`valuescope import`: score tables computed elsewhere (CSV/Parquet, wide or long) into the cache, or
a paper's published tables (`--paper iclr2026 [--from DIR]`)."""
from __future__ import annotations

from engine.configs import ImportConfig, add_dataclass_arguments
from engine.errors import InputError
from engine.store.db import Cache
from engine.workflows.importer import import_scores
from engine.workflows.paper_import import import_paper


def register(sub) -> None:
    p = sub.add_parser("import", help="Import score tables computed elsewhere (CSV/Parquet, wide or long) into the "
                                      "cache, or a paper's published tables (--paper).")
    add_dataclass_arguments(p, ImportConfig)
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    cache = Cache(args.home)
    if args.paper:
        if args.path:
            raise InputError("Give either PATH or --paper, not both.")
        return _import_paper(cache, args)
    if args.from_dir:
        raise InputError("--from goes with --paper.")
    if not args.path:
        raise InputError("Give a PATH to import, or --paper iclr2026 for the paper's published tables.")
    results = import_scores(
        cache, args.path, family=args.family, model=args.model, framing=args.framing, layout=args.layout,
        score_kind=args.score_kind, model_kind=args.model_kind, revision=args.revision, replace=args.replace,
    )
    _print_results(results)
    return 0


def _print_results(results) -> None:
    for r in results:
        if r.unchanged:
            print(f"{r.path.name}: already imported as model {r.model_id!r} ({r.family}); nothing changed.")
            continue
        replaced = f", replacing {r.replaced} earlier run(s)" if r.replaced else ""
        print(f"{r.path.name}: imported model {r.model_id!r} ({r.family}, {r.layout} table): "
              f"{len(r.prompts)} prompt(s) x {r.n_responses} responses{replaced}.")


def _import_paper(cache, args) -> int:
    done = import_paper(cache, args.paper, from_dir=args.from_dir, home=args.home, replace=args.replace)
    print(f"{args.paper}: every file matches its recorded sha256 ({done.source}).")
    _print_results(done.imported)
    for name, path in done.files.items():
        print(f"copied {name} -> {path}")
    for note in done.notes:
        print(f"note: {note}")
    print(f"next: valuescope analyze --preset {args.paper}")
    return 0
