"""From a TrainConfig to the exact pairs each training run sees, identical for every base model.

Order of operations (deterministic; nothing depends on the base except which pairs are usable):
1. load and validate all pairs (engine/training/data.py);
2. held-out set: walk the pairs in an order shuffled with the seed and take the first `eval_pairs`
   (or `eval_fraction` x all) that every base can use (fits max_length, template accepts it); with
   `eval_data` (e.g. Unified-Feedback's `val` split, as the authors did) the usable pairs of that
   source instead (the first `eval_pairs`, or all), and every training pair stays in step 3;
3. training pairs: the rest, in file order; for each data variant (first K x every k-th): keep every
   k-th, then the first K that every base can use. Each variant is one training run per base.
With `swapped_control` each variant also has a "-swapped" twin: the same pairs with chosen and rejected
exchanged, a control for what training alone moves.
The Trainer then shuffles the training pairs with the seed, the same way for every base (same count).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from engine.training.config import TrainConfig
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
    swapped: bool = False  # the control: chosen and rejected exchanged


@dataclass
class ComparisonData:
    pair_set: PairSet
    encoder: ComparisonEncoder
    held_out: list[int]
    held_out_dropped: Counter
    variants: list[DataVariant]
    eval_source: str = ""  # where the held-out pairs come from when not from `pair_set`

    def report(self) -> dict:
        """JSON-able counts for logs and the CLI."""
        return {
            "source": self.pair_set.source, "rows": self.pair_set.n_rows, "pairs": len(self.pair_set.pairs),
            "skipped_rows": dict(self.pair_set.skipped), "first_skipped": self.pair_set.first_skipped,
            "templates": self.encoder.templates, "max_length": self.encoder.max_length,
            "overlong": self.encoder.overlong, "held_out": len(self.held_out),
            "held_out_dropped": dict(self.held_out_dropped), "truncated_pairs_by_base": dict(self.encoder.truncated),
            "eval_source": self.eval_source, "add_special_tokens": self.encoder.add_special_tokens,
            "variants": [{"label": v.label, "train_pairs": len(v.train), "dropped": dict(v.dropped), "swapped": v.swapped}
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


_ADVICE = {"too_long": "raise max_length (now {max_length}) or set overlong to truncate_left or truncate_right",
           "template_error": "the chat template of some base refuses these conversations (roles, system turn)",
           "ends_with_pad": "a conversation ends with the pad token; give the tokenizer another pad token"}


def _advice(dropped: Counter, config: TrainConfig) -> str:
    """What to do about the reasons counted, most frequent first."""
    tips = [_ADVICE[why].format(max_length=config.max_length) for why, _ in dropped.most_common() if why in _ADVICE]
    return ": " + "; ".join(tips) + "." if tips else "."


def prepare_comparison(config: TrainConfig, pair_set: PairSet, tokenizers: dict[str, tuple[object, str]],
                       eval_set: PairSet | None = None) -> ComparisonData:
    """`tokenizers`: base -> (tokenizer, requested template); see the module docstring for the order.
    `eval_set`: held-out pairs from another source (config.eval_data); none is then held out of `pair_set`."""
    n_train = len(pair_set.pairs)
    pairs = pair_set.pairs + (eval_set.pairs if eval_set else [])  # eval pairs sit after the training pairs
    encoder = ComparisonEncoder(pairs, tokenizers, config.max_length, config.overlong, config.bad_rows,
                                config.add_special_tokens, config.template_date)
    if eval_set:
        wanted = config.eval_pairs or len(eval_set.pairs)
        order = list(range(n_train, len(pairs)))
    else:
        wanted, order = held_out_order(n_train, config.eval_pairs, config.eval_fraction, config.seed)
    held_out, held_dropped, seen = [], Counter(), set()
    for index in order:
        if len(held_out) >= wanted:
            break
        seen.add(index)
        kept, dropped = encoder.take([index])
        held_out += kept
        held_dropped += dropped
    if wanted and not held_out:
        raise InputError(f"No held-out pair is usable by every base{_dropped_text(held_dropped)}{_advice(held_dropped, config)}")
    rest = [i for i in range(n_train) if i not in seen]
    variants = []
    for every_k in config.every_k:
        for first_k in config.pairs:
            train, dropped = encoder.take(every_kth(rest, every_k), limit=first_k)
            if not train:
                raise InputError(f"No training pair is left for every {every_k}, first {first_k}"
                                 f"{_dropped_text(dropped)}{_advice(dropped, config)}")
            label = subset_label(first_k, every_k)
            variants.append(DataVariant(label, first_k, every_k, sorted(train), dropped))
            if config.swapped_control:
                variants.append(DataVariant(f"{label}-swapped", first_k, every_k, sorted(train), dropped, swapped=True))
    return ComparisonData(pair_set, encoder, sorted(held_out), held_dropped, variants,
                          eval_set.summary() if eval_set else "")
