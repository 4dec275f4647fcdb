"""Exhaustive token search and whole-reply scoring for reward models and causal LMs.

Reward mode: each candidate is the whole assistant reply; the reward is read at the last token
of the closed turn (never via the model's "last non-pad token" pooling: SmolLM2 pads with its
end-of-turn token). Log-prob mode: the log-probability of the reply after the formatted prompt;
for a single vocabulary token that is one softmax over the prompt's next-token logits.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from engine.errors import Cancelled, InputError, is_out_of_memory
from engine.models.loading import LoadedModel
from engine.scoring.shared_prefix import ATTENTION_NAME, encode_prefix, run_suffixes, use_shared_prefix_attention
from engine.options import SCORING_METHODS, VOCAB_FILTERS
from engine.scoring.templates import Framing
from engine.scoring.authors import authors_reply_texts, authors_sequences
from engine.scoring.whole_sequence import (SHARED_PREFIX, WHOLE_SEQUENCE, reads_before_last, run_details,
                                           score_sequences, scoring_path)

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]



def decode_tokens(tokenizer, token_ids: Sequence[int]) -> list[str]:
    """Each id decoded on its own, exactly as the model would print it (leading spaces kept)."""
    return tokenizer.batch_decode([[i] for i in token_ids], skip_special_tokens=False,
                                  clean_up_tokenization_spaces=False)


def vocab_candidates(tokenizer, vocab_size: int, vocab_filter: str = "all") -> list[int]:
    """Token ids to score. "all": every id; "alpha": word-initial tokens, i.e. a space followed by
    ASCII letters only (" love", not the fragment "instein"): about 31k of SmolLM2's 49k."""
    ids = list(range(vocab_size))
    if vocab_filter == "all":
        return ids
    if vocab_filter != "alpha":
        raise InputError(f"Unknown vocabulary filter {vocab_filter!r}; choose one of {', '.join(VOCAB_FILTERS)}.")
    texts = decode_tokens(tokenizer, ids)
    return [i for i, t in zip(ids, texts) if t.startswith(" ") and t[1:].isascii() and t[1:].isalpha()]


def auto_batch_size(lm: LoadedModel, suffix_len: int, with_logits: bool = False) -> int:
    """Largest batch that fits a quarter of free memory, capped where throughput stops improving."""
    config = lm.model.config
    hidden = getattr(config, "hidden_size", 1024)
    inner = getattr(config, "intermediate_size", 4 * hidden)
    heads = getattr(config, "num_attention_heads", 16)
    per_token = (6 * hidden + 3 * inner + heads * 1024) * 4  # live activations of one layer, fp32 worst case
    if with_logits:
        per_token += 3 * lm.vocab_size * 4  # logits, log-softmax and a temporary
    if lm.device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(lm.device))
        cap = 1024
    else:
        import psutil

        free, cap = psutil.virtual_memory().available, 128
    return int(max(1, min(cap, free * 0.25 // (per_token * suffix_len))))


def _batched(lm: LoadedModel, suffixes: list[list[int]], prefix_ids: list[int], reader, batch_size: int | None,
             progress: Progress | None, cancel: Cancel | None, with_logits: bool = False) -> list:
    """Run suffixes (grouped by length to avoid padding) after one shared prefix; `reader` maps
    (hidden states B x S x H, lengths, batch suffixes, prefix hidden) to one result per row."""
    device = lm.device
    order = sorted(range(len(suffixes)), key=lambda i: len(suffixes[i]))
    results: list = [None] * len(suffixes)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    with lm.lock:
        if lm.attention != ATTENTION_NAME:  # once per loaded model
            use_shared_prefix_attention(lm.model)
            lm.attention = ATTENTION_NAME
        prefix_layers, prefix_hidden = encode_prefix(lm.backbone, prefix_ids, device)
        size = batch_size or auto_batch_size(lm, max(len(s) for s in suffixes), with_logits)
        done, start = 0, 0
        with torch.inference_mode():
            while start < len(order):
                if cancel is not None and cancel():
                    raise Cancelled("Search cancelled: nothing was saved.")
                rows = order[start:start + size]
                batch = [suffixes[i] for i in rows]
                lengths = [len(s) for s in batch]
                width = max(lengths)
                ids = torch.tensor([s + [pad] * (width - len(s)) for s in batch], device=device)
                try:
                    hidden = run_suffixes(lm.backbone, ids, prefix_layers, len(prefix_ids))
                    values = reader(hidden, lengths, batch, prefix_hidden)
                except RuntimeError as exc:
                    if not is_out_of_memory(exc) or size == 1 or batch_size:
                        raise
                    size = max(1, size // 2)  # adapt to memory rather than fail
                    if device.startswith("cuda"):
                        torch.cuda.empty_cache()
                    continue
                for i, v in zip(rows, values):
                    results[i] = v
                start += len(rows)
                done += len(rows)
                if progress is not None:
                    progress(done, len(order))
    return results


def _reward_reader(lm: LoadedModel):
    head = lm.head

    def read(hidden, lengths, batch, prefix_hidden):
        last = hidden[torch.arange(len(lengths)), torch.tensor(lengths) - 1]
        return head(last)[:, 0].float().cpu().tolist()

    return read


def _logprob_reader(lm: LoadedModel):
    head = lm.head

    def read(hidden, lengths, batch, prefix_hidden):
        # position t's logits predict token t+1; the prefix's last position predicts token 0
        first = torch.log_softmax(head(prefix_hidden[-1:]).float(), dim=-1)[0]
        ids = torch.tensor([s + [s[-1]] * (hidden.shape[1] - len(s)) for s in batch], device=hidden.device)
        first_lp = first[ids[:, 0]]
        total = first_lp.clone()
        if hidden.shape[1] > 1:
            logits = head(hidden[:, :-1]).float()  # (B, S-1, V)
            token_lp = logits.gather(-1, ids[:, 1:, None])[..., 0] - torch.logsumexp(logits, dim=-1)
            real = torch.arange(1, hidden.shape[1], device=hidden.device)[None, :] < torch.tensor(
                lengths, device=hidden.device)[:, None]  # padding positions add nothing
            total = total + (token_lp * real).sum(dim=1)
        return list(zip(total.cpu().tolist(), first_lp.cpu().tolist(), lengths))

    return read


def vocab_suffixes(framing: Framing, token_ids: Sequence[int]) -> list[list[int]]:
    """Each candidate's ids after the prompt: the token id itself, then the turn's closing ids."""
    closing = list(framing.closing_ids)
    return [[int(t), *closing] for t in token_ids]


def _whole_sequences(lm: LoadedModel, framing: Framing, method: str, texts: list[str], token_ids: list[int] | None,
                     batch_size: int | None, progress, cancel) -> pd.DataFrame:
    """Candidates scored as whole sequences by the model's own forward (engine.scoring.whole_sequence):
    models whose own code must see the whole input, and the authors' method (engine.scoring.authors)."""
    if method == "authors":
        replies = authors_reply_texts(lm.tokenizer, token_ids) if token_ids is not None else texts
        sequences = authors_sequences(lm.tokenizer, framing, replies)
        n_tokens = [1] * len(texts) if token_ids is not None else [
            len(lm.tokenizer(r.strip(), add_special_tokens=False)["input_ids"]) for r in replies]
    else:
        suffixes = vocab_suffixes(framing, token_ids) if token_ids is not None else [
            framing.reply_ids(lm.tokenizer, t) for t in texts]
        sequences = [[*framing.prefix_ids, *s] for s in suffixes]
        n_tokens = [len(s) - len(framing.closing_ids) for s in suffixes]
    scores = score_sequences(lm, sequences, lambda n: batch_size or auto_batch_size(lm, n), progress, cancel)
    frame = pd.DataFrame({"token_id": pd.array(token_ids if token_ids is not None else [pd.NA] * len(texts),
                                               dtype="Int64"),
                          "text": texts, "score": scores, "first_token_score": math.nan, "n_tokens": n_tokens})
    frame.attrs["scoring"] = run_details(lm, method, WHOLE_SEQUENCE, sequences[0], scores,
                                         reads_before_last(lm, sequences, WHOLE_SEQUENCE))
    return frame


def _check_method(lm: LoadedModel, method: str) -> None:
    if method not in SCORING_METHODS:
        raise InputError(f"Unknown scoring method {method!r}; choose one of {', '.join(SCORING_METHODS)}.")
    if method == "authors" and lm.mode != "reward":
        raise InputError("The authors' method scores reward models: use --mode reward, or the default by_id.")


def score_vocabulary(lm: LoadedModel, framing: Framing, token_ids: Sequence[int], batch_size: int | None = None,
                     progress: Progress | None = None, cancel: Cancel | None = None,
                     method: str = "by_id") -> pd.DataFrame:
    """Score each token id as the entire reply. by_id: ids go in as ids, never decoded and re-tokenised;
    authors: decoded, rendered and re-tokenised as the authors' scorer did (engine.scoring.authors).
    How it scored travels in the frame's `attrs["scoring"]` (engine.scoring.whole_sequence.run_details)."""
    _check_method(lm, method)
    token_ids = list(token_ids)
    texts = decode_tokens(lm.tokenizer, token_ids)
    if scoring_path(lm, method) == WHOLE_SEQUENCE:
        return _whole_sequences(lm, framing, method, texts, token_ids, batch_size, progress, cancel)
    example = [*framing.prefix_ids, *token_ids[:1], *framing.closing_ids]
    if lm.mode == "logprob":
        with lm.lock, torch.inference_mode():
            _, prefix_hidden = encode_prefix(lm.backbone, list(framing.prefix_ids), lm.device)
            logprobs = torch.log_softmax(lm.head(prefix_hidden[-1:]).float(), dim=-1)[0]
        scores = logprobs[torch.tensor(token_ids)].cpu().numpy().astype(np.float64)
        if progress is not None:
            progress(len(token_ids), len(token_ids))
        frame = pd.DataFrame({"token_id": token_ids, "text": texts, "score": scores,
                              "first_token_score": scores, "n_tokens": 1})
        frame.attrs["scoring"] = run_details(lm, method, SHARED_PREFIX, example, scores)
        return frame
    suffixes = vocab_suffixes(framing, token_ids)
    scores = _batched(lm, suffixes, list(framing.prefix_ids), _reward_reader(lm), batch_size, progress, cancel)
    frame = pd.DataFrame({"token_id": token_ids, "text": texts, "score": np.asarray(scores, dtype=np.float64),
                          "first_token_score": math.nan, "n_tokens": 1})
    frame.attrs["scoring"] = run_details(lm, method, SHARED_PREFIX, example, frame["score"])
    return frame


def score_texts(lm: LoadedModel, framing: Framing, texts: Sequence[str], batch_size: int | None = None,
                progress: Progress | None = None, cancel: Cancel | None = None, method: str = "by_id") -> pd.DataFrame:
    """Score whole replies (multi-token words, phrases). Log-prob mode: total and first-token
    log-probability of the reply's tokens, teacher-forced; the turn's closing is not counted.
    method: as for score_vocabulary (authors: each text rendered by the template and tokenised whole)."""
    _check_method(lm, method)
    texts = list(dict.fromkeys(t for t in texts if t and t.strip()))
    if not texts:
        raise InputError("No replies to score: the word list is empty.")
    if scoring_path(lm, method) == WHOLE_SEQUENCE:
        return _whole_sequences(lm, framing, method, texts, None, batch_size, progress, cancel)
    if lm.mode == "logprob":
        suffixes = [framing.split_reply(lm.tokenizer, t)[0] for t in texts]
        reader, with_logits = _logprob_reader(lm), True
    else:
        suffixes = [framing.reply_ids(lm.tokenizer, t) for t in texts]
        reader, with_logits = _reward_reader(lm), False
    values = _batched(lm, suffixes, list(framing.prefix_ids), reader, batch_size, progress, cancel, with_logits)
    n_close = 0 if lm.mode == "logprob" else len(framing.closing_ids)
    if lm.mode == "logprob":
        total, first, n_tokens = zip(*values)
    else:
        total, first, n_tokens = values, [math.nan] * len(values), [len(s) - n_close for s in suffixes]
    frame = pd.DataFrame({"token_id": pd.array([pd.NA] * len(texts), dtype="Int64"), "text": texts,
                          "score": np.asarray(total, dtype=np.float64),
                          "first_token_score": np.asarray(first, dtype=np.float64), "n_tokens": list(n_tokens)})
    frame.attrs["scoring"] = run_details(lm, method, SHARED_PREFIX, [*framing.prefix_ids, *suffixes[0]], frame["score"])
    return frame


def score_full_sequences(lm: LoadedModel, sequences: list[list[int]], batch_size: int = 16) -> np.ndarray:
    """Reference: reward of whole right-padded sequences, read at each one's last real token.
    Slow (the prompt is recomputed for every candidate); used to check the fast path and in the benchmark."""
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    out = []
    with lm.lock, torch.inference_mode():
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start:start + batch_size]
            width = max(len(s) for s in batch)
            ids = torch.tensor([s + [pad] * (width - len(s)) for s in batch], device=lm.device)
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in batch], device=lm.device)
            hidden = lm.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
            last = hidden[torch.arange(len(batch)), mask.sum(1) - 1]
            out.extend(lm.head(last)[:, 0].float().cpu().tolist())
    return np.asarray(out)
