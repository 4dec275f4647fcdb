"""Tiny random models and tokenizers for tests (deterministic, offline)."""
from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CORPUS = [
    "What, in one word, is the greatest thing ever? Love. Freedom. Peace of mind. Family and friends.",
    "What is the worst thing in the world? Please answer in one word only. War. Hate. Cruelty.",
    "the quick brown fox jumps over the lazy dog while agency and communion compete for power and care",
    "achievement success respect kindness honesty loyalty authority purity fairness harm betrayal",
]


def make_tokenizer(vocab_size: int = 300, chat_template: str | None = CHATML, seed_text: list[str] | None = None):
    """A small byte-level BPE tokenizer trained on a fixed corpus (deterministic, offline)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((seed_text or CORPUS) * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|im_end|>", unk_token="<|endoftext|>")
    if chat_template:
        fast.chat_template = chat_template
    return fast


def make_tiny_model_dir(path: Path, arch: str = "llama", vocab_size: int = 300, seed: int = 0,
                        chat_template: str | None = CHATML, seed_text: list[str] | None = None) -> Path:
    """Save a tiny random causal LM (llama or gemma3_text) and its tokenizer to `path`."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig

    tokenizer = make_tokenizer(vocab_size, chat_template, seed_text)
    common = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                  eos_token_id=tokenizer.eos_token_id)
    if arch == "llama":
        config = LlamaConfig(**common)
    elif arch == "gemma3":
        # a window shorter than the prompts, so the sliding-window path is exercised
        config = Gemma3TextConfig(**common, head_dim=8, sliding_window=6, query_pre_attn_scalar=8,
                                  layer_types=["sliding_attention", "full_attention"])
    else:
        raise ValueError(arch)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def single_error_line(err: str) -> str:
    """The one `error: ...` line a command printed on failure (asserting there is nothing else, no traceback;
    progress bars, e.g. of a model load before a check that needs the model, do not count)."""
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]
