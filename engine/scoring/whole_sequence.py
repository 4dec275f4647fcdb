"""Whole sequences through the model's own forward, and the record of how a run read its rewards.

The shared-prefix path (engine.scoring.shared_prefix) runs only the reply and closing after a cached
prompt and applies the reward head itself. It cannot serve a model whose own code must see the whole
input: ArmoRM and the QRMs return `outputs.score` after finding a gating token by searching the input ids
for the assistant header, which a reply scored after a shared prefix never contains. Those models (and
the authors' scoring method, engine.scoring.authors) run here: each whole sequence goes through
`model(input_ids, attention_mask)` and the reward is read from the model's output by the registry's
`score_reader`: "logits0" = `logits[:, 0]` (one-label heads, and multi-output heads such as URM's),
"score" = the `score` field.

Sequences are batched by length, so no batch is ever padded: the model's own pooling (transformers:
the rightmost token that is not the pad id; ArmoRM and QRM: the token before the first pad id) reads
what it would read for the sequence alone, with positions counted from 0. A model with no pad id reads
one sequence at a time (transformers refuses larger batches without one).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby

import numpy as np
import torch
import transformers

from engine.errors import Cancelled, InputError, is_out_of_memory
from engine.models.loading import LoadedModel
from engine.scoring.shared_prefix import ATTENTION_NAME, soft_caps_attention

# score_reader -> how the reward is read from the output of the model's own forward (B rows)
READERS: dict[str, Callable] = {
    "logits0": lambda out, n: out.logits.reshape(n, -1)[:, 0],
    "score": lambda out, n: out.score.reshape(n, -1)[:, 0],
}
# Readers the shared-prefix path serves by applying the reward head to the last hidden state itself.
SHARED_PREFIX_READERS = ("logits0",)
SHARED_PREFIX, WHOLE_SEQUENCE = "shared_prefix", "whole_sequence"


def scoring_path(lm: LoadedModel, method: str) -> str:
    """Which path scores this model under this method (recorded with every run)."""
    reader = lm.spec.score_reader
    if reader not in READERS:
        raise InputError(f"{lm.spec.alias}: unknown score reader {reader!r}; known: {', '.join(READERS)}.")
    if lm.mode == "reward" and (method == "authors" or reader not in SHARED_PREFIX_READERS):
        return WHOLE_SEQUENCE
    return SHARED_PREFIX


def score_sequences(lm: LoadedModel, sequences: Sequence[Sequence[int]], size_for: Callable[[int], int],
                    progress=None, cancel=None) -> np.ndarray:
    """Reward of each whole sequence from the model's own forward; `size_for(length)`: batch size."""
    read = READERS[lm.spec.score_reader]
    pad_id = pad_token_id(lm)
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    scores = np.empty(len(sequences), dtype=np.float64)
    done = 0
    with lm.lock, torch.inference_mode():
        for length, group in groupby(order, key=lambda i: len(sequences[i])):
            rows = list(group)
            size = 1 if pad_id is None else max(1, size_for(length))
            start = 0
            while start < len(rows):
                if cancel is not None and cancel():
                    raise Cancelled("Search cancelled: nothing was saved.")
                batch = rows[start:start + size]
                ids = torch.tensor([list(sequences[i]) for i in batch], device=lm.device)
                try:
                    out = lm.model(input_ids=ids, attention_mask=torch.ones_like(ids))
                except RuntimeError as exc:
                    if not is_out_of_memory(exc) or size == 1:
                        raise
                    size = max(1, size // 2)  # adapt to memory rather than fail
                    if lm.device.startswith("cuda"):
                        torch.cuda.empty_cache()
                    continue
                scores[batch] = read(out, len(batch)).float().cpu().numpy()
                start += len(batch)
                done += len(batch)
                if progress is not None:
                    progress(done, len(sequences))
    return scores


def pad_token_id(lm: LoadedModel) -> int | None:
    """The pad id the model's own pooling compares against (transformers reads the text config's)."""
    config = lm.model.config
    return (config.get_text_config() if hasattr(config, "get_text_config") else config).pad_token_id


def read_position(ids: Sequence[int], pad_id: int | None, path: str) -> int:
    """Index of the token whose hidden state the reward is read from. The shared-prefix path reads the last
    token; a model's own forward, transformers' rule: the rightmost token that is not the pad id."""
    if path == SHARED_PREFIX or pad_id is None:
        return len(ids) - 1
    real = [i for i, token in enumerate(ids) if token != pad_id]
    return real[-1] if real else len(ids) - 1


def attention_used(lm: LoadedModel, path: str) -> str:
    """The attention implementation that ran (whole sequences fall through the shared-prefix function to SDPA,
    or to the model's eager attention where it soft-caps its logits)."""
    name = getattr(lm.model.config, "_attn_implementation", None) or "default"
    if name == ATTENTION_NAME and path != SHARED_PREFIX:
        return "eager" if soft_caps_attention(lm.model.config) else "sdpa"
    return name


def leading_bos(ids: Sequence[int], bos_id: int | None) -> int:
    """How many BOS tokens open the sequence (two where a template writes one and the tokenizer adds one)."""
    count = 0
    while bos_id is not None and count < len(ids) and ids[count] == bos_id:
        count += 1
    return count


def tied_scores(scores) -> int:
    """How many scores equal another score of the run (half-precision ties move average ranks)."""
    values = np.asarray(scores, dtype=np.float64)
    _, counts = np.unique(values, return_counts=True)
    return int(counts[counts > 1].sum())


def run_details(lm: LoadedModel, method: str, path: str, example: Sequence[int], scores,
                reads_before_last: int = 0) -> dict:
    """What a run records about how it scored: method, path, reader, BOS count and where the reward was
    read in `example` (the first candidate's whole sequence), attention, transformers version and ties."""
    tokenizer = lm.tokenizer
    example = list(example)
    details = {"method": method, "path": path, "score_reader": lm.spec.score_reader if lm.mode == "reward" else None,
               "n_bos": leading_bos(example, tokenizer.bos_token_id),
               "attention": attention_used(lm, path), "transformers": transformers.__version__,
               "n_tied_scores": tied_scores(scores)}
    if lm.mode == "reward" and example:
        at = read_position(example, pad_token_id(lm), path)
        details.update(read_position=at, read_from_end=at - len(example), read_token_id=int(example[at]),
                       read_token=tokenizer.convert_ids_to_tokens(int(example[at])),
                       n_read_before_last_token=int(reads_before_last))
    return details


def reads_before_last(lm: LoadedModel, sequences: Sequence[Sequence[int]], path: str) -> int:
    """How many sequences have their reward read before their last token (it is the pad id)."""
    pad_id = pad_token_id(lm)
    if path == SHARED_PREFIX or pad_id is None:
        return 0
    return sum(1 for s in sequences if s and s[-1] == pad_id)
