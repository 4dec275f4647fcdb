"""`valuescope sweep`: many models x many prompts, as tasks run locally as jobs or on a Ray cluster."""
from __future__ import annotations

import sys

from engine.configs import SearchConfig, SweepConfig, add_dataclass_arguments, from_namespace
from engine.sweeps.run import run_sweep


def register(sub) -> None:
    p = sub.add_parser("sweep", help="Score many models x many prompts (local jobs or Ray); re-run to resume.")
    add_dataclass_arguments(p, SweepConfig)
    add_dataclass_arguments(p, SearchConfig, skip=("model",))
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    sweep = from_namespace(SweepConfig, args)
    base = from_namespace(SearchConfig, args)

    def report(progress, what: str) -> None:
        print(f"{progress.line()} | {what}", file=sys.stderr, flush=True)

    progress = run_sweep(sweep, base, home=args.home, report=report)
    for failure in progress.failed:
        print(f"  failed: {failure}", file=sys.stderr)
    if progress.failed:
        print("Run the same command again to retry the failed tasks (finished runs are kept).", file=sys.stderr)
        return 1
    return 0
