"""The authors' scoring method (`--method authors`), as their public scorer ran it
(summerfieldlab/Christian_etal_2025_FAccT, reward_model_support.py):

1. a vocabulary token is decoded to text on its own: `tokenizer.decode([id])`, the tokenizer's defaults;
2. the conversation (the user's prompt, that text as the assistant's whole reply, no system message) is
   rendered to text by the template (`apply_chat_template(..., tokenize=False)` for chat templates);
3. the text is tokenised with the tokenizer's defaults: `tokenizer(text, truncation=True)`;
4. the model's own forward reads the reward (engine.scoring.whole_sequence), as their `model(**inputs)` did.

valuescope's default method, `by_id`, instead puts the token's id itself between the prompt's ids and the
turn's closing ids (engine.scoring.templates). The two differ wherever:
- the template trims the reply (Llama 3 and Gemma 2 templates apply `| trim`): " love" is scored as
  "love", and a whitespace-only token as an empty reply;
- the decoded text re-tokenises into other ids (byte fragments, merges with the template's text);
- the template writes a BOS token and the tokenizer adds its own: the sequence starts with two BOS.
Each run records its method, BOS count and where the reward was read, so the two can be compared.
"""
from __future__ import annotations

from collections.abc import Sequence

from engine.errors import InputError
from engine.scoring.templates import Framing, render


def authors_reply_texts(tokenizer, token_ids: Sequence[int]) -> list[str]:
    """Each token decoded on its own with the tokenizer's default decoding options (step 1)."""
    return [tokenizer.decode([int(i)]) for i in token_ids]


def authors_text(tokenizer, framing: Framing, reply: str) -> str:
    """The whole conversation as text, the reply rendered by the template (step 2)."""
    if not framing.prompt:
        raise InputError("The authors' method renders each reply with its prompt: build the framing with "
                         "engine.scoring.templates.build_framing.")
    return render(tokenizer, framing.template, framing.prompt, reply)


def authors_sequence(tokenizer, framing: Framing, reply: str) -> list[int]:
    """The ids the authors' scorer feeds the model for one reply (steps 2 and 3)."""
    return list(tokenizer(authors_text(tokenizer, framing, reply), truncation=True)["input_ids"])


def authors_sequences(tokenizer, framing: Framing, replies: Sequence[str]) -> list[list[int]]:
    return [authors_sequence(tokenizer, framing, reply) for reply in replies]
