"""`valuescope` command line: each command lives in its own `engine/cli_*.py` with a `register()`."""
from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines register(subparsers) which adds its commands and sets `func` on them.
COMMAND_MODULES = [
    "engine.cli_search",     # search, runs, export
    "engine.cli_analysis",   # import, analyze
    "engine.cli_implicit",   # implicit
    "engine.cli_train",      # train, trajectory (reward models from several bases; engine/training)
]


def progress_bar(label: str, leave: bool = True):
    """A `progress(done, total)` callback that draws a tqdm bar on stderr once work starts."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=label[:60], unit="cand", file=sys.stderr, leave=leave)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


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
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("Interrupted: nothing partial was saved.", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError, RuntimeError, OSError) as exc:
        # Expected user errors get one clear line, not a traceback.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
