"""Benchmark: how close the reward-mode search comes to this CPU's matmul rate, in float32 and bfloat16-mixed.

Prints, from one run: the CPU (model, bf16 units), the measured float32 and bfloat16 matmul rates
(square matrices, this process's threads), and for each precision the search's candidates/s and
achieved FLOP rate, counted as suffix tokens x 2 x non-embedding parameters per candidate (attention
over the prefix is left out, so the figure slightly understates the work). Matmul rates are measured
just before and just after each search and averaged, so a busy machine skews ratio and rate alike.
With `--repeats N` the two precisions alternate N times and the median share is printed (the load
average before and after is printed too). Then the agreement of bfloat16-mixed with float32 on the same tokens (Spearman, top and bottom 50 in
common) is recorded as this model's verdict for `dtype=auto` on this CPU (engine.models.precision).
Then the same for bfloat16-mixed compiled (`torch.compile`, engine.scoring.compiled): the kernels' build
time, its candidates/s and share, and its agreement with float32 (printed, not recorded: every compiled
search checks its own first batch against float32).

    python bench/cpu_limit_bench.py --model smollm2-135m-instruct --tokens 4096
    python bench/cpu_limit_bench.py --model gemma3-270m --tokens 4096 --whole-command

`--whole-command` also times `valuescope search --mode reward --dtype bfloat16-mixed` over the whole
vocabulary in a fresh data folder (as a user runs it: load, search, write to the cache), eager and
compiled (with inductor's kernel cache empty, then warm), and relates each to the bfloat16 matmul rate.
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

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from engine.models import precision_checks  # noqa: E402
from engine.models.loading import load_model  # noqa: E402
from engine.models.registry import resolve_spec  # noqa: E402
from engine.scoring.search import score_vocabulary, vocab_suffixes  # noqa: E402
from engine.scoring.templates import build_framing  # noqa: E402

PROMPT = "What, in one word, is the greatest thing ever?"


def matmul_rate(dtype: torch.dtype, size: int = 2048, seconds: float = 1.5) -> float:
    """GFLOP/s of size x size matrix products in `dtype` (after a warm-up)."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(2):
        a @ b
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        n += 1
    return 2 * size**3 * n / (time.perf_counter() - started) / 1e9


def non_embedding_parameters(lm) -> int:
    embeddings = {id(p) for p in lm.model.get_input_embeddings().parameters()}
    return sum(p.numel() for p in lm.backbone.parameters() if id(p) not in embeddings)


def timed_search(lm, framing, ids, batch_size, matmul_dtype, compile="off"):
    before = matmul_rate(matmul_dtype)
    started = time.perf_counter()
    scores = score_vocabulary(lm, framing, ids, batch_size=batch_size, compile=compile)["score"].to_numpy()
    elapsed = time.perf_counter() - started
    return scores, len(ids) / elapsed, (before + matmul_rate(matmul_dtype)) / 2


def report_rate(name: str, rate: float, matmul: float, per_candidate: float, vocab: int) -> float:
    """Print one search's rate beside its matmul rate; return the share of it."""
    achieved = rate * per_candidate / 1e9
    print(f"{name:15s} matmul {matmul:6.0f} GFLOP/s | search {rate:7.1f} candidates/s = {achieved:6.0f} "
          f"GFLOP/s = {achieved / matmul:4.0%} of its matmul rate | full vocabulary {vocab / rate / 60:5.1f} min",
          flush=True)
    return achieved / matmul


def ends_in_common(a: np.ndarray, b: np.ndarray, k: int) -> tuple[int, int]:
    top = len(set(np.argsort(-a)[:k]) & set(np.argsort(-b)[:k]))
    bottom = len(set(np.argsort(a)[:k]) & set(np.argsort(b)[:k]))
    return top, bottom


def whole_command(model: str, per_candidate_flop: float, vocab: int, bf16_rate: float, compile: str = "off",
                  kernel_cache: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as home:
        command = [sys.executable, "-m", "engine", "--home", home, "search", "--model", model, "--mode", "reward",
                   "--dtype", "bfloat16-mixed", "--compile", compile, "--device", "cpu", "--prompt", PROMPT,
                   "--top", "3"]
        # the converted embedded weights are reused, so the command times load + search + cache write
        models = ROOT / "cache" / "models"
        if models.is_dir():
            os.symlink(models, Path(home) / "models")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if kernel_cache:  # inductor's on-disk kernel cache: an empty one times a first run on this machine
            env["TORCHINDUCTOR_CACHE_DIR"] = kernel_cache
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
    achieved = vocab * per_candidate_flop / elapsed / 1e9
    cache = "" if compile == "off" else (", kernel cache empty" if kernel_cache else ", kernel cache warm")
    print(f"whole command (search --model {model} --mode reward --dtype bfloat16-mixed --compile {compile}{cache}, "
          f"{vocab} tokens): {elapsed:.1f} s, {achieved:.0f} GFLOP/s = {achieved / bf16_rate:.0%} of the bf16 "
          f"matmul rate measured in this run", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--tokens", type=int, default=4096, help="vocabulary sample scored in both precisions")
    parser.add_argument("--batch-size", type=int, default=None, help="default adapts to memory")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=1, help="timed searches of each precision, interleaved")
    parser.add_argument("--whole-command", action="store_true", help="also time the whole `valuescope search`")
    parser.add_argument("--no-record", action="store_true", help="do not store the agreement verdict for auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    spec = resolve_spec(args.model, kind="reward_model")
    fp32 = load_model(spec, mode="reward", dtype="float32", device="cpu")
    mixed = load_model(spec, mode="reward", dtype="bfloat16-mixed", device="cpu")
    framing = build_framing(fp32.tokenizer, PROMPT, spec.template)
    vocab = fp32.vocab_size
    ids = sorted(np.random.default_rng(0).choice(vocab, size=min(args.tokens, vocab), replace=False).tolist())
    suffix_tokens = len(vocab_suffixes(framing, [0])[0])
    params = non_embedding_parameters(fp32)
    per_candidate = suffix_tokens * 2 * params
    print(f"CPU: {precision_checks.cpu_kind()}; torch {torch.__version__}, capability "
          f"{torch.backends.cpu.get_cpu_capability()}, threads {torch.get_num_threads()}, cores {os.cpu_count()}")
    print(f"model {args.model}: {params / 1e6:.1f} M non-embedding parameters, {suffix_tokens} suffix tokens per "
          f"candidate = {per_candidate / 1e9:.2f} GFLOP; {len(ids)} of {vocab} tokens; prefix {len(framing.prefix_ids)}")

    score_vocabulary(fp32, framing, ids[:256], batch_size=args.batch_size)  # warm-up: kernels for the shapes
    score_vocabulary(mixed, framing, ids[:256], batch_size=args.batch_size)
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    runs = {"float32": (fp32, torch.float32), "bfloat16-mixed": (mixed, torch.bfloat16)}
    shares = {name: [] for name in runs}
    for repeat in range(args.repeats):  # interleaved A/B, the order alternating, so drifting load hits both
        for name in (list(runs) if repeat % 2 == 0 else list(runs)[::-1]):
            lm, matmul_dtype = runs[name]
            scores, rate, matmul = timed_search(lm, framing, ids, args.batch_size, matmul_dtype)
            if name == "float32":
                ref, fp32_rate = scores, rate
            else:
                got, mixed_rate, bf16_matmul = scores, rate, matmul
            shares[name].append(report_rate(name, rate, matmul, per_candidate, vocab))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for name, values in shares.items():
        print(f"{name}: share of its matmul rate over {len(values)} run(s): median {np.median(values):.0%}, "
              f"range {min(values):.0%}-{max(values):.0%}")
    print(f"bfloat16-mixed vs float32 (last pair): {mixed_rate / fp32_rate:.2f}x the candidates/s")

    rho = spearmanr(got, ref).statistic
    top, bottom = ends_in_common(got, ref, precision_checks.ENDS)
    print(f"agreement over {len(ids)} tokens: Spearman {rho:.5f}, top {precision_checks.ENDS}: {top} in common, "
          f"bottom {precision_checks.ENDS}: {bottom} in common")
    if not args.no_record:
        verdict = precision_checks.record_verdict(spec, rho, top, bottom, len(ids))
        print(f"recorded for dtype=auto: {'bfloat16-mixed' if verdict['passed'] else 'float32'} "
              f"({precision_checks.auto_cpu_dtype(spec)[1]})")

    # compiled: the first call builds the kernels for this batch shape (timed), later ones reuse them
    started = time.perf_counter()
    score_vocabulary(mixed, framing, ids[:1024], batch_size=args.batch_size, compile="on")
    print(f"bfloat16-mixed compiled: kernels built and first batch checked in {time.perf_counter() - started:.1f} s "
          f"({getattr(mixed, 'compile_verdict', 'not checked')})", flush=True)
    compiled_rates = []
    for _ in range(args.repeats):
        compiled, rate, matmul = timed_search(mixed, framing, ids, args.batch_size, torch.bfloat16, compile="on")
        compiled_rates.append(report_rate("compiled", rate, matmul, per_candidate, vocab))
    print(f"compiled: share of its matmul rate, median {np.median(compiled_rates):.0%}; "
          f"{rate / mixed_rate:.2f}x eager bfloat16-mixed's candidates/s")
    rho_c = spearmanr(compiled, ref).statistic
    top_c, bottom_c = ends_in_common(compiled, ref, precision_checks.ENDS)
    print(f"compiled agreement with float32 over {len(ids)} tokens: Spearman {rho_c:.5f}, top {precision_checks.ENDS}: "
          f"{top_c} in common, bottom {precision_checks.ENDS}: {bottom_c} in common")
    if args.whole_command:
        del fp32
        whole_command(args.model, per_candidate, vocab, bf16_matmul)
        with tempfile.TemporaryDirectory() as kernels:
            whole_command(args.model, per_candidate, vocab, bf16_matmul, "on", kernel_cache=kernels)
        whole_command(args.model, per_candidate, vocab, bf16_matmul, "on")


if __name__ == "__main__":
    main()
