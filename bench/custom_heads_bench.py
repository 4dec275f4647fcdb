"""Benchmark: the whole-sequence path (the model's own forward, for ArmoRM/QRM-style models and
`--method authors`) against the shared-prefix fast path, on one reward-model backbone, and a
multi-output head (URM-style, read as logits[:, 0]) against its own forward.

For throughput on a machine without hub access, build random weights with a real shape first
(bench/random_weights.py), e.g. a Llama 3.1 8B shape:

    python bench/custom_heads_bench.py --model /tmp/llama8b --subset 4096 --dtype bfloat16
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from engine.models.loading import load_model  # noqa: E402
from engine.models.registry import resolve_spec  # noqa: E402
from engine.scoring.search import auto_batch_size, score_vocabulary  # noqa: E402
from engine.scoring.templates import build_framing  # noqa: E402
from engine.scoring.whole_sequence import score_sequences  # noqa: E402

PROMPT = "What, in one word, is the greatest thing ever?"


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - started


def compare(lm, framing, ids, batch_size: int | None, label: str) -> None:
    sequences = [[*framing.prefix_ids, i, *framing.closing_ids] for i in ids]
    size_for = (lambda n: batch_size) if batch_size else (lambda n: auto_batch_size(lm, n))
    score_vocabulary(lm, framing, ids[:8], batch_size)  # warm-up
    fast, fast_s = timed(lambda: score_vocabulary(lm, framing, ids, batch_size)["score"].to_numpy())
    whole, whole_s = timed(lambda: score_sequences(lm, sequences, size_for))
    scale = float(np.std(whole)) or 1.0
    print(f"{label}: shared prefix {len(ids) / fast_s:,.1f} tokens/s, whole sequences (own forward) "
          f"{len(ids) / whole_s:,.1f} tokens/s, ratio {whole_s / fast_s:.1f}x; "
          f"max |difference| {np.max(np.abs(fast - whole)) / scale:.2e} of the spread, "
          f"Spearman {spearmanr(fast, whole).statistic:.6f}; prompt prefix {len(framing.prefix_ids)} tokens")
    if torch.cuda.is_available():
        print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="folder (random weights are fine) or registry alias")
    parser.add_argument("--subset", type=int, default=1024, help="token ids scored (random, seeded)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    spec = resolve_spec(args.model, kind="reward_model")
    heads = (("one-label head", spec), ("two-output head (URM-style)", replace(spec, num_labels=None)))
    for label, model_spec in heads:
        lm = load_model(model_spec, mode="reward", dtype=args.dtype, device=args.device)
        framing = build_framing(lm.tokenizer, PROMPT)
        rng = np.random.default_rng(0)
        ids = sorted(rng.choice(lm.vocab_size, size=min(args.subset, lm.vocab_size), replace=False).tolist())
        compare(lm, framing, ids, args.batch_size, f"{label}, {lm.dtype} on {lm.device}")
        del lm
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()


if __name__ == "__main__":
    main()
