"""Benchmark: does bfloat16 training on a CPU follow the float32 loss curve of the cpu-demo preset?

Runs `valuescope train --preset cpu-demo` twice on one base, same seed, same pairs, same steps, once
with `--dtype float32` and once with `--dtype bfloat16` (bf16 base weights and bf16 autocast, the LoRA
and score head in float32), alternating the two when `--repeats` > 1, and reads each run's per-step
losses from its training log. Prints both curves, seconds per step, and the verdict.

Criterion (the curves agree): at every step the bfloat16 loss is within `--tolerance` (default 0.05
nats, about a tenth of the loss's drop from log 2 over the preset's run) of the float32 loss, and
the mean loss over the last half of the steps differs by less than a fifth of that. Only then should
the preset's `dtype` move to bfloat16.

    python bench/train_precision_bench.py --base smollm2-135m-instruct --steps 40 --threads 2
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.training.runlog import read_log  # noqa: E402

DTYPES = ("float32", "bfloat16")


def train_losses(home: Path, base: str, dtype: str, steps: int, seed: int, threads: int | None, tag: str,
                 eval_pairs: int) -> tuple[list[float], float]:
    """(loss per optimiser step, wall seconds) of one cpu-demo run."""
    out = home / f"run-{dtype}-{tag}"
    command = [sys.executable, "-m", "engine", "--home", str(home), "train", "--preset", "cpu-demo", "--base", base,
               "--max-steps", str(steps), "--dtype", dtype, "--device", "cpu", "--seed", str(seed),
               "--checkpoint-every", "0", "--eval-pairs", str(eval_pairs), "--no-trajectory", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    losses = {}
    for event in read_log(out):
        if event.get("kind") == "loss" and "loss" in event:
            losses[int(event.get("step", len(losses) + 1))] = float(event["loss"])
    return [losses[step] for step in sorted(losses)], seconds


def verdict(fp32: list[float], bf16: list[float], tolerance: float) -> tuple[bool, float, float]:
    """(agree, largest per-step difference, difference of the last half's mean losses)."""
    n = min(len(fp32), len(bf16))
    if n == 0:
        raise SystemExit("no loss events were logged: nothing to compare")
    largest = max(abs(a - b) for a, b in zip(fp32[:n], bf16[:n]))
    half = n // 2
    tail = abs(sum(bf16[half:n]) / (n - half) - sum(fp32[half:n]) / (n - half))
    return largest <= tolerance and tail < tolerance / 5, largest, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each dtype, interleaved")
    parser.add_argument("--eval-pairs", type=int, default=8, help="held-out pairs (checkpoint evaluations cost time)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of each training process")
    parser.add_argument("--tolerance", type=float, default=0.05, help="largest per-step loss difference (nats)")
    args = parser.parse_args()

    curves, seconds = {d: [] for d in DTYPES}, {d: [] for d in DTYPES}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        models = ROOT / "cache" / "models"  # the converted embedded weights are reused
        if models.is_dir():
            os.symlink(models, home / "models")
        for repeat in range(args.repeats):
            for dtype in (DTYPES if repeat % 2 == 0 else DTYPES[::-1]):
                losses, wall = train_losses(home, args.base, dtype, args.steps, args.seed, args.threads, str(repeat),
                                            args.eval_pairs)
                curves[dtype].append(losses)
                seconds[dtype].append(wall)
                print(f"{dtype:9s} run {repeat + 1}: {len(losses)} steps, {wall:.1f} s "
                      f"({wall / max(1, len(losses)):.2f} s/step including load)", flush=True)
    fp32, bf16 = curves["float32"][0], curves["bfloat16"][0]
    print("step  float32  bfloat16  difference")
    for step, (a, b) in enumerate(zip(fp32, bf16), start=1):
        print(f"{step:4d}  {a:7.4f}  {b:8.4f}  {b - a:+.4f}")
    agree, largest, tail = verdict(fp32, bf16, args.tolerance)
    speed = (sum(seconds["float32"]) / sum(seconds["bfloat16"]))
    print(f"largest per-step difference {largest:.4f} (tolerance {args.tolerance}); last-half mean difference "
          f"{tail:.4f} (tolerance {args.tolerance / 5:.4f}); bfloat16 wall time {speed:.2f}x faster than float32")
    print("verdict: the curves agree; bfloat16 may be the preset's dtype" if agree else
          "verdict: the curves differ; the preset keeps float32")


if __name__ == "__main__":
    main()
