"""Benchmark: shared-prefix token search vs the straightforward method, on one reward-model backbone.

The straightforward method decodes each token, puts the text into the chat template, re-tokenises
the whole conversation and runs every padded sequence in full. Ours inserts the token by id and
runs only [token, closing...] against the prompt's shared keys/values.

    python bench/search_bench.py --model smollm2-135m-instruct --subset 512
    python bench/search_bench.py --model gemma3-270m --subset 256 --full   # also time the full vocabulary
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from engine.models.loading import load_model  # noqa: E402
from engine.models.registry import resolve_spec  # noqa: E402
from engine.scoring.search import decode_tokens, score_full_sequences, score_vocabulary  # noqa: E402
from engine.scoring.templates import build_framing, render  # noqa: E402

PROMPT = "What, in one word, is the greatest thing ever?"


def straightforward(lm, template: str, token_ids: list[int], batch_size: int) -> np.ndarray:
    texts = decode_tokens(lm.tokenizer, token_ids)
    seqs = [lm.tokenizer(render(lm.tokenizer, template, PROMPT, t), add_special_tokens=False)["input_ids"]
            for t in texts]
    return score_full_sequences(lm, seqs, batch_size=batch_size)


def round_trips(lm, token_ids: list[int]) -> np.ndarray:
    texts = decode_tokens(lm.tokenizer, token_ids)
    return np.array([lm.tokenizer(t, add_special_tokens=False)["input_ids"] == [i] for i, t in zip(token_ids, texts)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--subset", type=int, default=512, help="tokens scored with both methods")
    parser.add_argument("--ours-subset", type=int, default=4096, help="tokens timed with ours (a superset)")
    parser.add_argument("--naive-batch", type=int, default=16, help="batch size of the straightforward method")
    parser.add_argument("--batch-size", type=int, default=None, help="ours; default adapts to memory")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--quantization", default="none")
    parser.add_argument("--device", default=None)
    parser.add_argument("--template", default=None, help="chat, gemma_turns or plain; default: the registry's")
    parser.add_argument("--full", action="store_true", help="also time the whole vocabulary with our method")
    args = parser.parse_args()

    spec = resolve_spec(args.model, kind="reward_model")
    lm = load_model(spec, mode="reward", dtype=args.dtype, quantization=args.quantization, device=args.device)
    framing = build_framing(lm.tokenizer, PROMPT, args.template or spec.template)
    vocab = lm.vocab_size
    rng = np.random.default_rng(0)
    timed = rng.choice(vocab, size=min(max(args.ours_subset, args.subset), vocab), replace=False).tolist()
    subset = sorted(timed[: args.subset])
    timed = sorted(timed)
    print(f"model {args.model} ({lm.revision}), device {lm.device}, dtype {lm.dtype}, quantization {lm.quantization}, "
          f"threads {torch.get_num_threads()}, cores {os.cpu_count()}")
    print(f"template {framing.template}: prefix {len(framing.prefix_ids)} tokens, closing {len(framing.closing_ids)}")

    # warm-up with full batches, so kernel set-up for the batch shape is not timed
    score_vocabulary(lm, framing, timed[:256], batch_size=args.batch_size)
    started = time.perf_counter()
    ours_all = score_vocabulary(lm, framing, timed, batch_size=args.batch_size)
    ours_rate = len(timed) / (time.perf_counter() - started)
    ours = ours_all.set_index("token_id").loc[subset, "score"].to_numpy()

    started = time.perf_counter()
    naive = straightforward(lm, framing.template, subset, args.naive_batch)
    naive_rate = len(subset) / (time.perf_counter() - started)

    same = round_trips(lm, subset)
    rho = spearmanr(ours[same], naive[same]).statistic
    whole_vocab_round_trip = round_trips(lm, list(range(vocab)))
    print(f"ours:            {ours_rate:8.1f} candidates/s ({len(timed)} tokens)")
    print(f"straightforward: {naive_rate:8.1f} candidates/s ({len(subset)} tokens)")
    print(f"speed-up:        {ours_rate / naive_rate:8.1f}x")
    print(f"Spearman rho over the {same.sum()} of {len(subset)} subset tokens that round-trip: {rho:.6f}")
    print(f"tokens of the whole vocabulary ({vocab}) that do not round-trip: {(~whole_vocab_round_trip).sum()} "
          "(the straightforward method scores a different token sequence for these)")
    print(f"projected full vocabulary: ours {vocab / ours_rate / 60:.1f} min, straightforward "
          f"{vocab / naive_rate / 60:.1f} min")
    if args.full:
        started = time.perf_counter()
        score_vocabulary(lm, framing, range(vocab), batch_size=args.batch_size)
        elapsed = time.perf_counter() - started
        print(f"measured full vocabulary: {elapsed / 60:.1f} min ({vocab / elapsed:.1f} candidates/s)")


if __name__ == "__main__":
    main()
