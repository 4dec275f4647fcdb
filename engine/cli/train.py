"""`valuescope train`: train reward models from several bases on the same pairs, then trace their values;
`valuescope trajectory RUN_DIR`: (re)score a run's checkpoints and rewrite its tables and charts.

`train`'s options are parsed by TRL's own parser (engine/training/arguments.py: TrlParser over valuescope's
TrainArguments, TRL's RewardConfig and ModelConfig, with `--config FILE.yaml`); `valuescope train --help`
lists them all. Ctrl-C once stops training cleanly after the current step (checkpoints so far stay usable);
twice aborts.
"""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pandas as pd

from engine.config_fields import field_specs, parse_value
from engine.training.config import CANDIDATES, TrainConfig
from engine.training.runlog import read_summary

_PROMPTS = next(s for s in field_specs(TrainConfig) if s.name == "prompts")


def register(sub) -> None:
    # Every option is TRL's parser's (built when the command runs, so other commands never load TRL): this
    # subcommand treats nothing as an option of its own ("+" prefix) and passes its arguments on untouched.
    p = sub.add_parser("train", add_help=False, prefix_chars="+",
                       help="Train Bradley-Terry reward models from several bases on the same preference pairs, then "
                            "rank the Big Two words at every checkpoint (options: valuescope train --help).")
    p.add_argument("train_args", nargs="*")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("trajectory", help="(Re)score every checkpoint of a training run on the Big Two words and "
                                          "write its tables and charts (cached scores are reused).")
    p.add_argument("run_dir", help="The run's output folder (the --out of `valuescope train`).")
    p.add_argument("--prompts", type=lambda text: parse_value(_PROMPTS, text),
                   help="Comma-separated prompts (battery keys or text); default: the run's.")
    p.add_argument("--candidates", choices=CANDIDATES, help="Default: the run's setting.")
    p.add_argument("--method", choices=("valuescope", "paper"), default="valuescope",
                   help="paper: the ICLR 2026 figures' method (every vocabulary token on greatest_ever_one; Fig 4a: "
                        "shared strings, expanded Big Two, every variant ranked; Fig 5: nouns, variants averaged, from "
                        "the first trained checkpoint). See engine/training/trajectory.py.")
    p.set_defaults(func=cmd_trajectory)


class _StopOnCtrlC:
    """First Ctrl-C asks training to stop after the current step; the second one interrupts."""

    def __init__(self):
        self.requested = False
        self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nStopping after this step (Ctrl-C again to abort)...", file=sys.stderr)

    def __call__(self) -> bool:
        return self.requested

    def restore(self) -> None:
        signal.signal(signal.SIGINT, self._previous)


def _print_progress(step: int, total: int, metrics: dict) -> None:
    if metrics.get("phase") == "trajectory":
        cached = " (cached)" if metrics.get("from_cache") else ""
        print(f"  scored {step}/{total}: {metrics['checkpoint']} on {metrics['prompt']}{cached}", file=sys.stderr)
        return
    line = f"[{metrics.get('run')}] step {step}/{total}"
    if metrics.get("loss") is not None:
        line += f" loss {metrics['loss']:.4f} lr {metrics.get('learning_rate') or 0:.2e}"
    if metrics.get("checkpoint"):
        accuracy = metrics.get("eval_accuracy")
        line += f" | checkpoint {metrics['checkpoint']}: held-out accuracy " + \
            (f"{accuracy:.3f}, loss {metrics['eval_loss']:.4f}" if accuracy is not None else "n/a (no held-out pairs)")
    elif step % 10 and step != total:
        return  # every 10th step and every checkpoint are enough on a console
    print(line, file=sys.stderr, flush=True)


def cmd_train(args) -> int:
    from engine.training.arguments import parse_train_args  # TRL, transformers and torch load here
    from engine.training.trainer import train_comparison

    config, own = parse_train_args(args.train_args)
    stop = _StopOnCtrlC()
    try:
        result = train_comparison(config, progress=_print_progress, cancel=stop, home=args.home,
                                  say=lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        stop.restore()
    print(f"run {result.run_name}: {result.status}; checkpoints and logs in {result.run_dir}", file=sys.stderr)
    for run in result.runs:
        print(f"  {run.key}: {run.status}, {run.steps_done}/{run.total_steps} steps, training + held-out "
              f"evaluation {run.seconds:.0f} s", file=sys.stderr)
    if not own.no_trajectory and any(run.checkpoints for run in result.runs):
        _trajectory(result.run_dir, args.home)
    return 0 if result.status == "done" else 1


def cmd_trajectory(args) -> int:
    summary = read_summary(args.run_dir)  # fails with a clear error when the folder holds no run
    code = _trajectory(Path(args.run_dir).resolve(), args.home, args.prompts, args.candidates, args.method)
    return code if summary.get("status") == "done" else 1


def _trajectory(run_dir: Path, home, prompts=None, candidates=None, method: str = "valuescope") -> int:
    """Score every checkpoint of a run, write its tables and charts, print the Fig 4a/5 tables."""
    from engine.reports.training import write_trajectory_outputs  # altair, only for the trajectory outputs
    from engine.training.trajectory import checkpoint_table, top_movers, trajectory_tables, trajectory_wide  # scipy, only for the trajectory outputs

    summary = read_summary(run_dir)
    seconds: dict[str, float] = {}
    checkpoints = checkpoint_table(run_dir)
    bases = dict(zip(checkpoints["alias"], checkpoints["base"]))
    clock = [time.perf_counter()]

    def progress(done, total, info):
        now = time.perf_counter()
        key = bases.get(info.get("checkpoint"), "?")
        seconds[key] = seconds.get(key, 0.0) + now - clock[0]
        clock[0] = now
        _print_progress(done, total, info)

    tables = trajectory_tables(run_dir, home=home, progress=progress, prompts=prompts, candidates=candidates,
                               method=method)
    written, charts = write_trajectory_outputs(run_dir, tables, summary)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 200):
        print("\nHeld-out preference accuracy per checkpoint:")
        print(tables["checkpoints"][["base", "variant", "step", "eval_accuracy", "eval_loss", "train_loss"]]
              .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print("\nMedian rank per Big Two category (1 = best; mean over prompts) by training step (Fig 4a):")
        print(trajectory_wide(tables["trajectory"]).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
        if tables["data_quantity"]["variant"].nunique() > 1:
            print("\nLast checkpoint vs training pairs (Fig 4b):")
            print(tables["data_quantity"][["base", "n_train_pairs", "category", "median_rank"]].to_string(index=False))
        print("\nWords that rose / fell most from the first to the last checkpoint (Fig 5):")
        movers = top_movers(tables["word_changes"], 5)
        print(movers[["base", "variant", "direction", "word", "categories", "rank_first", "rank_last", "rise"]]
              .to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    for key, value in seconds.items():
        print(f"scoring {key}: {value:.0f} s", file=sys.stderr)
    print(f"wrote {len(written)} tables to {run_dir / 'tables'}; charts: " + ", ".join(str(c) for c in charts),
          file=sys.stderr)
    return 0
