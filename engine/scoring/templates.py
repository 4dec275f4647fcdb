"""How a prompt and a reply become token ids.

A reply sits between a prefix (everything up to the assistant's content) and a closing (what ends
the assistant turn). We render the template once with a placeholder reply, split the text there
and tokenise each side on its own, so a vocabulary token can be inserted *by id*: decoding it and
re-tokenising the whole text would score a different token for many ids.

Templates:
- "chat": the tokenizer's own chat template (`apply_chat_template`), turn closed.
- "gemma_turns": Gemma's turn format for checkpoints that ship no template (Gemma 3 base):
  `<bos><start_of_turn>user\\n{prompt}<end_of_turn>\\n<start_of_turn>model\\n{reply}<end_of_turn>\\n`.
- "plain": for pretrained LMs: `{prompt}\\n{reply}` after the tokenizer's own BOS, no closing.
- "raw": `{prompt}{reply}` after the tokenizer's own BOS, no closing: the reply is the prompt's direct
  continuation (the paper's pretrained models: `tokenizer(prompt)`, next token straight after "?").
"""
from __future__ import annotations

from dataclasses import dataclass
from engine.errors import InputError

from engine.options import TEMPLATES

PLACEHOLDER = "VALUESCOPEREPLYPLACEHOLDER"
OWN_BOS = ("plain", "raw")  # the pretrained-LM framings: the tokenizer adds its own BOS, nothing closes the reply

GEMMA_TURNS = (
    "<bos><start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n{reply}<end_of_turn>\n"
)


@dataclass(frozen=True)
class Framing:
    template: str  # which of TEMPLATES was used (recorded with every run)
    prefix_ids: tuple[int, ...]  # ids before the reply
    closing_ids: tuple[int, ...]  # ids after the reply that close the turn (reward models read here)
    prefix_text: str
    closing_text: str
    prompt: str = ""  # the prompt as given (the authors' method renders each reply with it)

    def reply_ids(self, tokenizer, reply: str) -> list[int]:
        """Ids of a text reply in context: tokenise the whole text, then check it splits cleanly.

        Whole-text tokenisation is what a user of the model would produce. If the reply merges
        with the prefix (rare), the prefix ids differ and we raise rather than score a different text.
        """
        # "plain" and "raw" let the tokenizer add its own BOS (Gemma needs it); templates spell theirs out.
        full = tokenizer(self.prefix_text + reply + self.closing_text,
                         add_special_tokens=self.template in OWN_BOS)["input_ids"]
        n_prefix = len(self.prefix_ids)
        if tuple(full[:n_prefix]) != self.prefix_ids:
            raise InputError(f"Reply {reply!r} merges with the prompt's last token under template {self.template}")
        return full[n_prefix:]

    def split_reply(self, tokenizer, reply: str) -> tuple[list[int], list[int]]:
        """(reply ids, closing ids) for a text reply; closing ids are matched from the end."""
        ids = self.reply_ids(tokenizer, reply)
        n_close = len(self.closing_ids)
        if n_close and tuple(ids[-n_close:]) != self.closing_ids:
            raise InputError(f"Reply {reply!r} merges with the closing of the turn under template {self.template}")
        return ids[: len(ids) - n_close], list(self.closing_ids)


def choose_template(tokenizer, requested: str = "auto") -> str:
    if requested != "auto":
        if requested not in TEMPLATES:
            raise InputError(f"Unknown template {requested!r}; choose one of {', '.join(TEMPLATES)} or auto.")
        if requested == "chat" and not getattr(tokenizer, "chat_template", None):
            raise InputError("This tokenizer ships no chat template: use template gemma_turns or plain.")
        return requested
    return "chat" if getattr(tokenizer, "chat_template", None) else "plain"


def render(tokenizer, template: str, prompt: str, reply: str, close_turn: bool = True) -> str:
    """The whole text of a one-turn conversation (for display and for the straightforward method)."""
    if template == "chat":
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
        return tokenizer.apply_chat_template(messages, tokenize=False)
    if template == "gemma_turns":
        return GEMMA_TURNS.format(prompt=prompt, reply=reply)
    if template == "raw":
        return f"{prompt}{reply}"
    return f"{prompt}\n{reply}"


def build_framing(tokenizer, prompt: str, template: str = "auto", max_length: int | None = None) -> Framing:
    """Prefix and closing ids around a reply for this prompt; `max_length`: the model's context, which
    the prompt, a one-token reply and the closing must fit (checked before any scoring)."""
    prompt = (prompt or "").strip()
    if not prompt:
        raise InputError("The prompt is empty.")
    template = choose_template(tokenizer, template)
    text = render(tokenizer, template, prompt, PLACEHOLDER)
    if text.count(PLACEHOLDER) != 1:
        raise InputError(f"Template {template} does not place the reply exactly once.")
    prefix_text, closing_text = text.split(PLACEHOLDER)
    if template in OWN_BOS:
        closing_text = ""  # a pretrained LM's reply simply ends
    prefix_ids = tokenizer(prefix_text, add_special_tokens=template in OWN_BOS)["input_ids"]
    closing_ids = tokenizer(closing_text, add_special_tokens=False)["input_ids"] if closing_text else []
    needed = len(prefix_ids) + 1 + len(closing_ids)
    if max_length and needed > max_length:
        raise InputError(f"The prompt is too long: with template {template} it takes {needed:,} tokens "
                         f"(reply and closing included), and this model reads at most {max_length:,}.")
    return Framing(template, tuple(prefix_ids), tuple(closing_ids), prefix_text, closing_text, prompt)
