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
import psutil
import torch

from engine.errors import Cancelled, InputError, is_out_of_memory
from engine.models.loading import LoadedModel
from engine.models.precision import compute_context
from engine.scoring.compiled import accept, agrees, compiled_layers, reject, wants_compiled
from engine.scoring.shared_prefix import (ATTENTION_NAME, attached_prefix, encode_prefix, run_suffixes,
                                         use_shared_prefix_attention)
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


# Where throughput stops improving: float32 CPU GEMMs want a few thousand rows; a GPU needs thousands
# of candidates per pass to fill its SMs (memory permitting: see auto_batch_size). Under bfloat16-mixed
# the AMX GEMMs are fast enough that the elementwise work between them (memory-bound) dominates:
# batches of 512 measured fastest (SmolLM2, 2 cores: 822/s against 612/s at 1024 and 680/s at 256).
# Compiled, the elementwise work is fused and batches of 1024 beat 512 again (SmolLM2, 2 cores: 1288/s
# against 1086/s; 1251/s at 2048).
BATCH_CAP = {"cpu": 1024, "cuda": 8192}
MIXED_CPU_BATCH_CAP = {"off": 512, "on": 1024}
RESCORE_ENDS = 200  # bfloat16-mixed: the top and bottom candidates re-scored with float32 weights
CHECK_ROWS = 256  # compiled scoring is checked on this many candidates of its first batch


def auto_batch_size(lm: LoadedModel, suffix_len: int, with_logits: bool = False, compile: str = "off") -> int:
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
        cap = BATCH_CAP["cuda"]
    else:
        free = psutil.virtual_memory().available
        cap = MIXED_CPU_BATCH_CAP["off" if compile == "off" else "on"] if lm.bf16_weights else BATCH_CAP["cpu"]
    return int(max(1, min(cap, free * 0.25 // (per_token * suffix_len))))


def _length_groups(suffixes: list[list[int]], device) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Suffixes grouped by length (no padding inside a group): per group, (row indices, ids L x S, lengths),
    built once and moved to the device once, so no batch builds Python lists or copies from the host."""
    by_length: dict[int, list[int]] = {}
    for i, s in enumerate(suffixes):
        by_length.setdefault(len(s), []).append(i)
    groups = []
    for length in sorted(by_length):
        rows = by_length[length]
        ids = torch.tensor([suffixes[i] for i in rows], dtype=torch.long)
        groups.append((torch.tensor(rows), ids.to(device), torch.full((len(rows),), length, device=device)))
    return groups


def _batched(lm: LoadedModel, suffixes: list[list[int]], prefix_ids: list[int], reader, batch_size: int | None,
             progress: Progress | None, cancel: Cancel | None, with_logits: bool = False,
             float32: bool = False, compile: str = "off") -> torch.Tensor:
    """Run suffixes (grouped by length to avoid padding) after one shared prefix; `reader` maps
    (hidden states B x S x H, lengths, ids, prefix hidden) to a tensor of results (B or B x k) that stays
    on the device until every batch is done: one host transfer per search, not per batch.
    `float32`: a bfloat16-mixed model runs with its float32 weights (the re-score of the ends).
    `compile`: off, on or cudagraphs (engine.scoring.compiled): batches padded to one size, the first
    one checked against eager."""
    device = lm.device
    with lm.lock:
        if lm.attention != ATTENTION_NAME:  # once per loaded model
            use_shared_prefix_attention(lm.model)
            lm.attention = ATTENTION_NAME
        with compute_context(lm, float32=True), torch.inference_mode():  # the prefix runs once: in float32
            prefix_layers, prefix_hidden = encode_prefix(lm.backbone, prefix_ids, device)
            prefix_hidden = prefix_hidden.float()
        compiled = wants_compiled(lm, compile)
        with (compute_context(lm, float32), torch.inference_mode(),
              attached_prefix(lm.backbone, prefix_layers, dynamic=compiled)):
            size = batch_size or auto_batch_size(lm, max(len(s) for s in suffixes), with_logits, compile)
            done, order, parts = 0, [], []
            for rows, ids, lengths in _length_groups(suffixes, device):
                start = 0
                while start < len(rows):
                    if cancel is not None and cancel():
                        raise Cancelled("Search cancelled: nothing was saved.")
                    batch_ids, batch_lengths = ids[start:start + size], lengths[start:start + size]
                    n = len(batch_ids)
                    compiled = wants_compiled(lm, compile)
                    if compiled and n < size:  # one batch shape: one compiled graph
                        batch_ids = torch.cat([batch_ids, batch_ids[-1:].expand(size - n, -1)])
                        batch_lengths = torch.cat([batch_lengths, batch_lengths[-1:].expand(size - n)])

                    def score(with_compiled: bool, rows: int | None = None):
                        ids_, lengths_ = batch_ids[:rows], batch_lengths[:rows]
                        with compiled_layers(lm, compile if with_compiled else "off"):
                            hidden = run_suffixes(lm.backbone, ids_, len(prefix_ids))
                        with torch.autocast(device.split(":")[0], enabled=False):  # heads read in float32
                            return reader(hidden.float(), lengths_, ids_, prefix_hidden)[:n]

                    try:
                        values = score(compiled)
                        if compiled and not getattr(lm, "compile_checked", False):
                            checked = min(n, CHECK_ROWS)  # eager and float32 score the batch's first rows
                            eager = score(False, checked)
                            reference = None
                            if lm.bf16_weights and not float32:  # judged by the distance to float32
                                with torch.autocast(device.split(":")[0], enabled=False), compute_context(lm, True):
                                    reference = score(False, checked)
                            ok, why = agrees(eager, values[:checked], reference)
                            if ok:
                                accept(lm, why)
                            else:
                                reject(lm, f"it disagreed, {why}")
                                values = score(False)
                    except RuntimeError as exc:
                        if not is_out_of_memory(exc) or size == 1 or batch_size:
                            raise
                        size = max(1, size // 2)  # adapt to memory rather than fail
                        if device.startswith("cuda"):
                            torch.cuda.empty_cache()
                        continue
                    parts.append(values)
                    order.append(rows[start:start + size])
                    start += n
                    done += n
                    if progress is not None:
                        progress(done, len(suffixes))
        results = torch.cat(parts).cpu()
    out = torch.empty_like(results)
    out[torch.cat(order)] = results
    return out


def _reward_reader(lm: LoadedModel):
    head = lm.head
    head_dtype = next(head.parameters()).dtype

    def read(hidden, lengths, ids, prefix_hidden):
        last = hidden[torch.arange(len(lengths), device=hidden.device), lengths - 1]
        return head(last.to(head_dtype))[:, 0].float()

    return read


def _rescore_ends(lm: LoadedModel, suffixes: list[list[int]], prefix_ids: list[int], scores: torch.Tensor,
                  batch_size: int | None) -> torch.Tensor:
    """bfloat16-mixed: the RESCORE_ENDS best and worst candidates scored again with float32 weights."""
    if not lm.bf16_weights or lm.mode != "reward":
        return scores
    ends = torch.argsort(scores, descending=True)
    if len(ends) > 2 * RESCORE_ENDS:
        ends = torch.cat([ends[:RESCORE_ENDS], ends[-RESCORE_ENDS:]])
    again = _batched(lm, [suffixes[i] for i in ends.tolist()], prefix_ids, _reward_reader(lm), batch_size,
                     None, None, float32=True)
    scores = scores.clone()
    scores[ends] = again
    return scores


def _logprob_reader(lm: LoadedModel):
    head = lm.head
    head_dtype = next(head.parameters()).dtype

    def read(hidden, lengths, ids, prefix_hidden):
        # position t's logits predict token t+1; the prefix's last position predicts token 0
        first = torch.log_softmax(head(prefix_hidden[-1:].to(head_dtype)).float(), dim=-1)[0]
        first_lp = first[ids[:, 0]]
        total = first_lp.clone()
        if hidden.shape[1] > 1:
            logits = head(hidden[:, :-1].to(head_dtype)).float()  # (B, S-1, V); a group has one length
            token_lp = logits.gather(-1, ids[:, 1:, None])[..., 0] - torch.logsumexp(logits, dim=-1)
            total = total + token_lp.sum(dim=1)
        return torch.stack([total, first_lp, lengths.float()], dim=1)

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
                     method: str = "by_id", compile: str = "off") -> pd.DataFrame:
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
            with compute_context(lm, float32=True):  # one pass: float32 under bfloat16-mixed too
                _, prefix_hidden = encode_prefix(lm.backbone, list(framing.prefix_ids), lm.device)
            head = lm.head
            logprobs = torch.log_softmax(head(prefix_hidden[-1:].to(head.weight.dtype)).float(), dim=-1)[0]
        scores = logprobs[torch.tensor(token_ids)].cpu().numpy().astype(np.float64)
        if progress is not None:
            progress(len(token_ids), len(token_ids))
        frame = pd.DataFrame({"token_id": token_ids, "text": texts, "score": scores,
                              "first_token_score": scores, "n_tokens": 1})
        frame.attrs["scoring"] = run_details(lm, method, SHARED_PREFIX, example, scores)
        return frame
    suffixes = vocab_suffixes(framing, token_ids)
    prefix = list(framing.prefix_ids)
    scores = _batched(lm, suffixes, prefix, _reward_reader(lm), batch_size, progress, cancel, compile=compile)
    scores = _rescore_ends(lm, suffixes, prefix, scores, batch_size)
    frame = pd.DataFrame({"token_id": token_ids, "text": texts, "score": scores.numpy().astype(np.float64),
                          "first_token_score": math.nan, "n_tokens": 1})
    frame.attrs["scoring"] = run_details(lm, method, SHARED_PREFIX, example, frame["score"])
    _record_compile(frame, lm, compile)
    return frame


def _record_compile(frame: pd.DataFrame, lm: LoadedModel, compile: str) -> None:
    if compile != "off":  # how the compiled kernels fared travels with the scores
        frame.attrs["scoring"]["compiled"] = getattr(lm, "compile_verdict", "checked earlier in this process")


def score_texts(lm: LoadedModel, framing: Framing, texts: Sequence[str], batch_size: int | None = None,
                progress: Progress | None = None, cancel: Cancel | None = None, method: str = "by_id",
                compile: str = "off") -> pd.DataFrame:
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
    prefix = list(framing.prefix_ids)
    values = _batched(lm, suffixes, prefix, reader, batch_size, progress, cancel, with_logits, compile=compile)
    if lm.mode == "logprob":
        total, first, n_tokens = values[:, 0].numpy(), values[:, 1].numpy(), values[:, 2].long().tolist()
    else:
        total = _rescore_ends(lm, suffixes, prefix, values, batch_size).numpy()
        first, n_tokens = [math.nan] * len(values), [len(s) - len(framing.closing_ids) for s in suffixes]
    frame = pd.DataFrame({"token_id": pd.array([pd.NA] * len(texts), dtype="Int64"), "text": texts,
                          "score": np.asarray(total, dtype=np.float64),
                          "first_token_score": np.asarray(first, dtype=np.float64), "n_tokens": list(n_tokens)})
    frame.attrs["scoring"] = run_details(lm, method, SHARED_PREFIX, [*framing.prefix_ids, *suffixes[0]], frame["score"])
    _record_compile(frame, lm, compile)
    return frame


def score_full_sequences(lm: LoadedModel, sequences: list[list[int]], batch_size: int = 16) -> np.ndarray:
    """Reference: reward of whole right-padded sequences, read at each one's last real token.
    Slow (the prompt is recomputed for every candidate); used to check the fast path and in the benchmark."""
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    out = []
    with lm.lock, compute_context(lm), torch.inference_mode():
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start:start + batch_size]
            width = max(len(s) for s in batch)
            ids = torch.tensor([s + [pad] * (width - len(s)) for s in batch], device=lm.device)
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in batch], device=lm.device)
            hidden = lm.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
            last = hidden[torch.arange(len(batch)), mask.sum(1) - 1]
            with torch.autocast(lm.device.split(":")[0], enabled=False):
                out.extend(lm.head(last.to(lm.head.weight.dtype))[:, 0].float().cpu().tolist())
    return np.asarray(out)
