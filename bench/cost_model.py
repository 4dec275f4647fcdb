"""Cost model: projected wall time of the paper's whole workload from measured throughput.

Workload: 10 reward models x 54 prompts x a whole vocabulary each (128k to 256k tokens): about 100
million scored replies. A sweep splits it into (model, prompt block) tasks; each worker (a GPU, or
a CPU actor) loads a model once per run of tasks of that model. The projection schedules the tasks
longest-first onto the workers (the makespan of that greedy schedule) from a per-worker rate in
candidates/s, plus one model load per (worker, model).

Rates come from measurements only:
  --measure MODEL    measures this machine's CPU rate (reward mode, its `auto` dtype) on a vocabulary sample
  --ray-scaling      also runs a local Ray sweep of MODEL (--ray-prompts prompts x --ray-lexicon, one
                     prompt per task) with 1 and then 2 CPU actors, each with cores // actors torch
                     threads, and prints the candidates/s of each: how throughput grows with actors
  --gpu-rate N       candidates/s of one GPU measured elsewhere (e.g. bench/search_bench.py on a GPU);
                     without it the GPU rows are printed as unmeasured

    python bench/cost_model.py --measure smollm2-135m-instruct --tokens 1024 --ray-scaling
    python bench/cost_model.py --cpu-rate 466 --gpu-rate 8080 --load-s 60
"""
from __future__ import annotations

import argparse
import heapq
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS, PROMPTS, BLOCK = 10, 54, 6
VOCABS = (128_000, 256_000)


def makespan(task_seconds: list[float], workers: int) -> float:
    """Longest-processing-time-first schedule: finish time of the busiest worker."""
    loads = [0.0] * workers
    heapq.heapify(loads)
    for seconds in sorted(task_seconds, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + seconds)
    return max(loads)


def project(rate: float, workers: int, vocab: int, load_s: float) -> float:
    """Seconds for the whole workload on `workers` workers of `rate` candidates/s each."""
    blocks = -(-PROMPTS // BLOCK)
    per_task = BLOCK * vocab / rate
    tasks = [per_task] * (MODELS * blocks)
    loads = MODELS * min(workers, blocks) * load_s / workers  # each worker loads each model it serves once
    return makespan(tasks, workers) + loads


def human(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


def measure(model: str, tokens: int, threads: int | None = None) -> tuple[float, str]:
    """(candidates/s, dtype) of reward-mode search on this machine."""
    import numpy as np
    import torch

    from engine.models.loading import load_model
    from engine.models.registry import resolve_spec
    from engine.scoring.search import score_vocabulary
    from engine.scoring.templates import build_framing

    if threads:
        torch.set_num_threads(threads)
    spec = resolve_spec(model, kind="reward_model")
    lm = load_model(spec, mode="reward", device="cpu")
    framing = build_framing(lm.tokenizer, "What, in one word, is the greatest thing ever?", spec.template)
    ids = np.random.default_rng(0).choice(lm.vocab_size, size=min(tokens, lm.vocab_size), replace=False).tolist()
    score_vocabulary(lm, framing, ids[:128])
    started = time.perf_counter()
    score_vocabulary(lm, framing, ids)
    return len(ids) / (time.perf_counter() - started), lm.dtype


def ray_scaling(model: str, prompts: int, lexicon: str, cores: int) -> None:
    """A local Ray sweep (engine.sweeps, as `valuescope sweep --backend ray` runs it) of `prompts` prompts,
    one per task, with 1 and then 2 CPU actors of cores // actors torch threads each (no oversubscription),
    each in a fresh data folder; prints the candidates/s of each (wall time, model loads included)."""
    import os
    import tempfile

    from engine.configs import SearchConfig, SweepConfig
    from engine.prompts import BATTERY
    from engine.store.db import Cache
    from engine.sweeps.run import run_sweep

    keys = ",".join(list(BATTERY)[:prompts])
    models = Path(__file__).resolve().parents[1] / "cache" / "models"
    for actors in (1, 2):
        threads = max(1, cores // actors)
        with tempfile.TemporaryDirectory() as home:
            if models.is_dir():  # the converted embedded weights are reused
                os.symlink(models, Path(home) / "models")
            sweep = SweepConfig(models=model, prompts=keys, lexicon=lexicon, backend="ray", block=1, actors=actors,
                                actor_cpus=threads)
            started = time.perf_counter()
            progress = run_sweep(sweep, SearchConfig(model=model, device="cpu"), home=home)
            wall = time.perf_counter() - started
            with Cache(home).connect() as con:
                candidates = con.execute("SELECT count(*) FROM scores").fetchone()[0]
        print(f"local Ray sweep, {actors} CPU actor(s) x {threads} thread(s): {progress.finished} tasks "
              f"({progress.status}), {candidates} candidates in {wall:.0f} s = {candidates / wall:.1f} candidates/s "
              f"(model loads included)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", help="model to measure this machine's CPU rate with")
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--cpu-rate", type=float, help="candidates/s of one CPU actor (instead of --measure)")
    parser.add_argument("--gpu-rate", type=float, help="candidates/s of one GPU, measured elsewhere")
    parser.add_argument("--load-s", type=float, default=30.0, help="seconds to load one model on a worker")
    parser.add_argument("--cpu-actors", default="1,2,8,32", help="CPU actor counts to project")
    parser.add_argument("--ray-scaling", action="store_true")
    parser.add_argument("--ray-prompts", type=int, default=4, help="prompts of the --ray-scaling sweep")
    parser.add_argument("--ray-lexicon", default="big_two_nouns", help="candidates of the --ray-scaling sweep")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores the Ray actors share")
    args = parser.parse_args()

    cpu_rate, how = args.cpu_rate, "given"
    if args.measure:
        cpu_rate, dtype = measure(args.measure, args.tokens)
        how = f"measured here: {args.measure}, {dtype}, {args.tokens} tokens"
    print(f"workload: {MODELS} models x {PROMPTS} prompts x {VOCABS[0] // 1000}k-{VOCABS[1] // 1000}k tokens = "
          f"{MODELS * PROMPTS * VOCABS[0] / 1e6:.0f}-{MODELS * PROMPTS * VOCABS[1] / 1e6:.0f} M replies; "
          f"tasks of {BLOCK} prompts; {args.load_s:.0f} s per model load")
    rows = []
    if args.gpu_rate:
        rows += [(f"{n} GPU(s) at {args.gpu_rate:.0f}/s each (given)", args.gpu_rate, n) for n in (1, 8)]
    else:
        print("1 GPU, 8 GPUs: unmeasured (give --gpu-rate from a GPU measurement)")
    if cpu_rate:
        rows += [(f"{n} CPU actor(s) at {cpu_rate:.0f}/s each ({how})", cpu_rate, n)
                 for n in map(int, args.cpu_actors.split(","))]
    for label, rate, workers in rows:
        low, high = (project(rate, workers, v, args.load_s) for v in VOCABS)
        print(f"{label}: {human(low)} - {human(high)}")
    if args.ray_scaling:
        ray_scaling(args.measure or "smollm2-135m-instruct", args.ray_prompts, args.ray_lexicon, args.cores)


if __name__ == "__main__":
    main()
