"""Preference pairs in each base model's own format: the template the token search scores with.

Template per base: `engine.templates.choose_template(tokenizer, spec.template)`, exactly as
`Runner.run` frames a prompt, so a one-turn conversation is rendered here to the same text (and
ids) the search scores: the tokenizer's chat template (`chat`), Gemma's turn format for Gemma
checkpoints without one (`gemma_turns`, a system message folded into the first user turn), or
`plain` (turns joined by a newline after the tokenizer's own BOS; one turn = `{prompt}\\n{reply}`).
The whole conversation is tokenised at once, as `Framing.reply_ids` does.

Length: counted here with each base's tokenizer. `overlong="drop"` drops a pair longer than
max_length for ANY base, so every base trains on the same pairs in the same order; "truncate_left"
keeps the last max_length tokens (the replies and the closing where the reward is read survive);
"truncate_right" keeps the first max_length tokens, as the authors' `encode_plus(truncation=True)` did
(every pair kept; a cut pair's reward is read inside the reply, and a pair whose prompt alone is
longer than max_length becomes two identical sequences, which carry no gradient).

Special tokens: the chat template writes its own BOS, so the text is tokenised without special tokens
(one BOS, as the token search scores); `add_special_tokens=True` tokenises it as the authors did, with
the tokenizer's defaults (a second BOS for Gemma 2 and Llama 3). `template_date` pins the date a
template writes (Llama 3.2's "Today Date"), see `pin_template_date`.
A conversation whose last id is the pad id is dropped too: transformers' sequence-classification
pooling would read the reward one token early (the pad id marks padding there); `ensure_pad_token`
chooses a pad id that no template ends with.
"""
from __future__ import annotations

from collections import Counter

from engine.models.loading import pin_template_date
from engine.scoring.templates import choose_template
from engine.training.data import Conversation, PreferenceDataError, PreferencePair
from engine.errors import InputError
from engine.training.config import OVERLONG


def render_conversation(tokenizer, template: str, conversation: Conversation) -> tuple[str, bool]:
    """(text, add_special_tokens) of a whole conversation under `template`."""
    if template == "chat":
        messages = [{"role": role, "content": content} for role, content in conversation]
        return tokenizer.apply_chat_template(messages, tokenize=False), False
    if template == "gemma_turns":
        turns, system = [], ""
        for role, content in conversation:
            if role == "system":
                system += content + "\n\n"
                continue
            if role == "user" and system:
                content, system = system + content, ""
            turns.append(f"<start_of_turn>{'model' if role == 'assistant' else 'user'}\n{content}<end_of_turn>\n")
        return "<bos>" + "".join(turns), False
    if template == "plain":
        return "\n".join(content for _, content in conversation), True
    raise InputError(f"Unknown template {template!r}.")


def encode_conversation(tokenizer, template: str, conversation: Conversation, add_special_tokens: bool = False) -> list[int]:
    """Ids of the whole conversation; `add_special_tokens` also lets the tokenizer add its own (the authors'
    rule: a second BOS after the one the chat template writes)."""
    text, add_special = render_conversation(tokenizer, template, conversation)
    return list(tokenizer(text, add_special_tokens=add_special or add_special_tokens)["input_ids"])




RESERVED_PAD = "<|finetune_right_pad_id|>"  # Llama 3.x reserves this id for padding
ADDED_PAD = "[PAD]"  # what the authors add to a tokenizer without a pad token


def ensure_pad_token(tokenizer) -> bool:
    """Give a tokenizer without one a pad token; True when a new token was added (resize the embeddings).

    Reward models pool at the last non-pad token, so the pad id must never end a conversation. TRL's
    fallback, pad = eos, breaks Llama 3: its template ends every message with eos (<|eot_id|>), so every
    pair would end with "padding". The reserved <|finetune_right_pad_id|> is used when the vocabulary
    has it, else "[PAD]" is added as the authors did; padding is on the right and attention is causal,
    so the new row of the embedding never touches a reward.
    """
    if tokenizer.pad_token is not None:
        return False
    if RESERVED_PAD in tokenizer.get_vocab():
        tokenizer.pad_token = RESERVED_PAD
        return False
    tokenizer.add_special_tokens({"pad_token": ADDED_PAD})
    return True


class ComparisonEncoder:
    """Encodes pairs for every base at once; a pair is usable only if every base can use it.

    `tokenizers`: base name -> (tokenizer, requested template: "auto" or a name in TEMPLATES).
    Each pair is encoded once (memoised by position in `pairs`); `reasons[i]` says why pair i is unusable.
    """

    def __init__(self, pairs: list[PreferencePair], tokenizers: dict[str, tuple[object, str]], max_length: int,
                 overlong: str = "drop", bad_rows: str = "skip", add_special_tokens: bool = False,
                 template_date: str = ""):
        if overlong not in OVERLONG:
            raise InputError(f"overlong must be one of {', '.join(OVERLONG)}, got {overlong!r}")
        self.pairs, self.max_length, self.overlong, self.bad_rows = pairs, max_length, overlong, bad_rows
        self.add_special_tokens = add_special_tokens
        self.tokenizers = {base: tok for base, (tok, _) in tokenizers.items()}
        for tokenizer in self.tokenizers.values():
            ensure_pad_token(tokenizer)
            pin_template_date(tokenizer, template_date)
        self.templates = {base: choose_template(tok, requested) for base, (tok, requested) in tokenizers.items()}
        self._done: dict[int, dict | None] = {}
        self.reasons: dict[int, str] = {}  # unusable pair -> reason (the first base's)
        self.truncated: Counter = Counter()  # base -> pairs kept after truncation

    def encode(self, index: int) -> dict[str, tuple[list[int], list[int]]] | None:
        """base -> (chosen ids, rejected ids) for pair `index`, or None when some base cannot use it."""
        if index not in self._done:
            pair, results = self.pairs[index], {}
            for base, tokenizer in self.tokenizers.items():
                ids, note = _encode_pair(tokenizer, self.templates[base], pair, self.max_length, self.overlong,
                                         self.bad_rows, base, self.add_special_tokens)
                if ids is None:
                    self.reasons[index] = note
                    results = None
                    break
                if note == "truncated":
                    self.truncated[base] += 1
                results[base] = ids
            self._done[index] = results
        return self._done[index]

    def take(self, indices, limit: int = 0) -> tuple[list[int], Counter]:
        """The usable pairs among `indices`, in order, at most `limit` (0 = all); and why the others were dropped."""
        kept, dropped = [], Counter()
        for index in indices:
            if limit and len(kept) >= limit:
                break
            if self.encode(index) is None:
                dropped[self.reasons[index]] += 1
            else:
                kept.append(index)
        return kept, dropped

    def columns(self, indices: list[int], base: str, swapped: bool = False) -> dict[str, list[list[int]]]:
        """TRL's tokenised preference columns (chosen_ids, rejected_ids) for one base; `swapped` exchanges
        them (the label-swapped control)."""
        encoded = [self.encode(i)[base] for i in indices]
        chosen, rejected = [c for c, _ in encoded], [r for _, r in encoded]
        if swapped:
            chosen, rejected = rejected, chosen
        return {"chosen_ids": chosen, "rejected_ids": rejected}


def _encode_pair(tokenizer, template, pair: PreferencePair, max_length, overlong, bad_rows, base, add_special_tokens):
    """((chosen ids, rejected ids) or None, note): note says why it was dropped or changed ("" if neither)."""
    try:
        chosen = encode_conversation(tokenizer, template, pair.chosen, add_special_tokens)
        rejected = encode_conversation(tokenizer, template, pair.rejected, add_special_tokens)
    except Exception as exc:  # chat templates raise jinja errors (e.g. roles must alternate)
        if bad_rows == "error":
            raise PreferenceDataError(f"{pair.where}: the {template} template of {base} rejects this conversation "
                                      f"({str(exc).splitlines()[0][:200]})") from None
        return None, "template_error"
    pad = tokenizer.pad_token_id
    if pad is not None and (chosen[-1] == pad or rejected[-1] == pad):
        return None, "ends_with_pad"
    if max(len(chosen), len(rejected)) <= max_length:
        return (chosen, rejected), ""
    if overlong == "drop":
        return None, "too_long"
    if overlong == "truncate_right":
        return (chosen[:max_length], rejected[:max_length]), "truncated"
    return (chosen[-max_length:], rejected[-max_length:]), "truncated"
