"""The `paper` preset on stand-ins for its real bases (Llama 3.2, Gemma 2, Qwen2.5 tokenizers with their real
chat templates and special tokens), and the authors' training options."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.train_config import preset_config
from engine.training.data import load_pairs
from engine.training.formatting import ComparisonEncoder, encode_conversation, ensure_pad_token
from engine.training.prepare import prepare_comparison
from helpers import make_family_tokenizer

QUESTIONS = ["What, in one word, is the greatest thing ever?", "What is the best thing in the world?"]


def write_pairs(path: Path, n: int = 40, system: bool = False) -> Path:
    rows = []
    for i in range(n):
        prompt = ([{"role": "system", "content": "Be brief."}] if system else []) + \
            [{"role": "user", "content": QUESTIONS[i % 2] + " Please answer in one word." * (i % 4)}]
        rows.append({"chosen": prompt + [{"role": "assistant", "content": "Love. Peace of mind."}],
                     "rejected": prompt + [{"role": "assistant", "content": "War."}]})
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_llama3_pad_is_not_the_end_of_turn_token(tmp_path):
    """Llama 3 ends every message with eos (<|eot_id|>) and ships no pad: pad = eos would drop every pair."""
    tokenizer = make_family_tokenizer("llama3")
    pairs = load_pairs(str(write_pairs(tmp_path / "p.jsonl"))).pairs
    encoder = ComparisonEncoder(pairs, {"llama": (tokenizer, "auto")}, 256)
    kept, dropped = encoder.take(range(len(pairs)))
    assert len(kept) == len(pairs) and not dropped
    assert tokenizer.pad_token == "<|finetune_right_pad_id|>" and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert encoder.encode(0)["llama"][0][-1] == tokenizer.eos_token_id  # the reward is read at <|eot_id|>


def test_without_a_reserved_pad_token_pad_is_added_as_the_authors_did():
    tokenizer = make_family_tokenizer("llama3", finetune_pad=False)
    size = len(tokenizer)
    assert ensure_pad_token(tokenizer) is True
    assert tokenizer.pad_token == "[PAD]" and tokenizer.pad_token_id == size and len(tokenizer) == size + 1
    assert ensure_pad_token(tokenizer) is False  # once only
    gemma = make_family_tokenizer("gemma2")
    assert ensure_pad_token(gemma) is False and gemma.pad_token == "<pad>"


def test_no_usable_pair_quotes_the_counted_reasons(tmp_path):
    """Gemma 2's template refuses a system turn: the message says so instead of "raise max_length"."""
    pair_set = load_pairs(str(write_pairs(tmp_path / "p.jsonl", system=True)))
    config = preset_config("paper", eval_pairs=4)
    with pytest.raises(ValueError, match=r"40 template error") as caught:
        prepare_comparison(config, pair_set, {"gemma": (make_family_tokenizer("gemma2"), "auto")})
    assert "raise max_length" not in str(caught.value)
