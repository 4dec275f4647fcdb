"""`valuescope` command line: parse and print only. Each command is a small module here with a
`register(subparsers)`; the work happens in engine/workflows, engine/reports and engine/jobs."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from engine.errors import UserError

# Each module defines register(subparsers), which adds its commands and sets `func` on them.
COMMAND_MODULES = [
    "engine.cli.search",     # search
    "engine.cli.runs",       # runs, export, models, prepare
    "engine.cli.importing",  # import
    "engine.cli.analyze",    # analyze
    "engine.cli.implicit",   # implicit
    "engine.cli.train",      # train, trajectory
    "engine.cli.cache",      # cache check, cache repair
    "engine.cli.report",     # report
    "engine.cli.site",       # site
    "engine.cli.sweep",      # sweep
    "engine.cli.compare",    # compare
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="valuescope", description="Which human values does a reward model prefer?")
    parser.add_argument("--home", help="data folder (DuckDB cache, converted models); default $VALUESCOPE_HOME or ./cache")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home:  # one data folder for everything this command touches (trained aliases, worker processes)
        os.environ["VALUESCOPE_HOME"] = str(Path(args.home).expanduser().resolve())
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("Interrupted: nothing partial was saved.", file=sys.stderr)
        return 130
    except UserError as exc:  # bad input, a missing model, a damaged cache: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine said no (permissions, disk full): not a bug in valuescope
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
