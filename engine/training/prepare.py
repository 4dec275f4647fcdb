"""From a TrainConfig to the exact pairs each training run sees, identical for every base model.

Order of operations (deterministic; nothing depends on the base except which pairs are usable):
1. load and validate all pairs (engine/training/data.py);
2. held-out set: walk the pairs in an order shuffled with the seed and take the first `eval_pairs`
   (or `eval_fraction` x all) that every base can use (fits max_length, template accepts it);
3. training pairs: the rest, in file order; for each data variant (first K x every k-th): keep every
   k-th, then the first K that every base can use. Each variant is one training run per base.
The Trainer then shuffles the training pairs with the seed, the same way for every base (same count).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from engine.train_config import TrainConfig
from engine.training.data import PairSet, every_kth, held_out_order, subset_label
from engine.training.formatting import ComparisonEncoder
from engine.errors import InputError


@dataclass
class DataVariant:
    label: str  # "all", "first320", "every16", "every16-first1000"
    first_k: int
    every_k: int
    train: list[int]  # positions in PairSet.pairs, in file order
    dropped: Counter = field(default_factory=Counter)  # reason -> candidate pairs no base could share


@dataclass
class ComparisonData:
    pair_set: PairSet
    encoder: ComparisonEncoder
    held_out: list[int]
    held_out_dropped: Counter
    variants: list[DataVariant]

    def report(self) -> dict:
        """JSON-able counts for logs and the CLI."""
        return {
            "source": self.pair_set.source, "rows": self.pair_set.n_rows, "pairs": len(self.pair_set.pairs),
            "skipped_rows": dict(self.pair_set.skipped), "first_skipped": self.pair_set.first_skipped,
            "templates": self.encoder.templates, "max_length": self.encoder.max_length,
            "overlong": self.encoder.overlong, "held_out": len(self.held_out),
            "held_out_dropped": dict(self.held_out_dropped), "truncated_pairs_by_base": dict(self.encoder.truncated),
            "variants": [{"label": v.label, "train_pairs": len(v.train), "dropped": dict(v.dropped)}
                         for v in self.variants],
        }

    def summary_lines(self) -> list[str]:
        r = self.report()
        lines = [f"data: {self.pair_set.summary()}",
                 f"templates: {', '.join(f'{b}: {t}' for b, t in r['templates'].items())}; max_length "
                 f"{r['max_length']} tokens ({r['overlong']})",
                 f"held-out: {r['held_out']} pairs" + _dropped_text(self.held_out_dropped)]
        for v in self.variants:
            lines.append(f"train [{v.label}]: {len(v.train)} pairs" + _dropped_text(v.dropped))
        if self.encoder.truncated:
            lines.append("truncated (kept last tokens): " + ", ".join(f"{b}: {n}" for b, n in self.encoder.truncated.items()))
        return lines


def _dropped_text(dropped: Counter) -> str:
    if not dropped:
        return ""
    return " (dropped while drawing them: " + ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in dropped.items()) + ")"


def prepare_comparison(config: TrainConfig, pair_set: PairSet, tokenizers: dict[str, tuple[object, str]]) -> ComparisonData:
    """`tokenizers`: base -> (tokenizer, requested template); see the module docstring for the order."""
    encoder = ComparisonEncoder(pair_set.pairs, tokenizers, config.max_length, config.overlong, config.bad_rows)
    wanted, order = held_out_order(len(pair_set.pairs), config.eval_pairs, config.eval_fraction, config.seed)
    held_out, held_dropped, seen = [], Counter(), set()
    for index in order:
        if len(held_out) >= wanted:
            break
        seen.add(index)
        kept, dropped = encoder.take([index])
        held_out += kept
        held_dropped += dropped
    if wanted and not held_out:
        raise InputError(f"No held-out pair fits max_length {config.max_length} for every base; raise max_length.")
    rest = [i for i in range(len(pair_set.pairs)) if i not in seen]
    variants = []
    for every_k in config.every_k:
        for first_k in config.pairs:
            train, dropped = encoder.take(every_kth(rest, every_k), limit=first_k)
            if not train:
                raise InputError(f"No training pair is left for every {every_k}, first {first_k} (max_length "
                                 f"{config.max_length}: {dict(dropped)}).")
            variants.append(DataVariant(subset_label(first_k, every_k), first_k, every_k, sorted(train), dropped))
    return ComparisonData(pair_set, encoder, sorted(held_out), held_dropped, variants)
