"""Shared test helpers: tiny random models and tokenizers (deterministic, offline), a cache of demo
runs, and the app under streamlit.testing."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent  # the repository
APP = str(ROOT / "app" / "streamlit_app.py")

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


def _real_template(name: str) -> str:
    """A model family's real chat template, as TRL ships it (trl/chat_templates/<name>.jinja)."""
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / f"{name}.jinja").read_text()


def make_family_tokenizer(style: str, vocab_size: int = 300, finetune_pad: bool = True):
    """A tiny stand-in with a real family's chat template, special tokens and BOS rule (offline).

    style "llama3": Llama 3.2 Instruct (bos <|begin_of_text|>, eos <|eot_id|> which ends every message,
    no pad token, <|finetune_right_pad_id|> in the vocabulary unless `finetune_pad` is False);
    "gemma2": Gemma 2 it (<bos>, <eos>, pad <pad>, <start_of_turn>/<end_of_turn>, no system role);
    "qwen2.5": Qwen2.5 Instruct (<|im_start|>/<|im_end|>, pad <|endoftext|>, no BOS).
    The llama3 and gemma2 tokenizers add a BOS when asked for special tokens, as the real ones do.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials, names, template, bos = {
        "llama3": (["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
                   + (["<|finetune_right_pad_id|>"] if finetune_pad else []),
                   dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"), "llama3_2", "<|begin_of_text|>"),
        "gemma2": (["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"],
                   dict(bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"), "gemma", "<bos>"),
        "qwen2.5": (["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                    dict(eos_token="<|im_end|>", pad_token="<|endoftext|>"), "qwen2_5", None),
    }[style]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 20, trainer=trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **names)
    fast.chat_template = _real_template(template)
    return fast


def make_tiny_model_dir(path: Path, arch: str = "llama", vocab_size: int = 300, seed: int = 0,
                        chat_template: str | None = CHATML, seed_text: list[str] | None = None,
                        tokenizer=None) -> Path:
    """Save a tiny random causal LM (llama, gemma2 or gemma3_text) and its tokenizer (default: make_tokenizer's)."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig

    tokenizer = tokenizer or make_tokenizer(vocab_size, chat_template, seed_text)
    common = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                  eos_token_id=tokenizer.eos_token_id)
    if arch == "llama":
        config = LlamaConfig(**common)
    elif arch == "gemma2":
        from transformers import Gemma2Config

        config = Gemma2Config(**common, head_dim=8, sliding_window=6, query_pre_attn_scalar=8)
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


def make_tiny_gguf(path: Path, n_layers: int = 2, dim: int = 16, ff: int = 32, heads: int = 2) -> Path:
    """A tiny random Llama as a GGUF file (float32 tensors, the byte-level BPE of make_tokenizer), written
    with the gguf package: converts in seconds where the embedded models take a minute."""
    import json

    import gguf

    data = json.loads(make_tokenizer(chat_template=None).backend_tokenizer.to_str())
    vocab = data["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(dim)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(dim // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t.startswith("<|") else 1 for t in tokens])  # 3: control tokens
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]])
    writer.add_bos_token_id(vocab["<|im_start|>"])
    writer.add_eos_token_id(vocab["<|im_end|>"])
    rng = np.random.default_rng(0)
    normal = lambda *shape: (rng.standard_normal(shape) * 0.1).astype(np.float32)  # noqa: E731
    writer.add_tensor("token_embd.weight", normal(len(tokens), dim))
    for i in range(n_layers):
        for name, shape in (("attn_q", (dim, dim)), ("attn_k", (dim, dim)), ("attn_v", (dim, dim)),
                            ("attn_output", (dim, dim)), ("ffn_gate", (ff, dim)), ("ffn_up", (ff, dim)),
                            ("ffn_down", (dim, ff))):
            writer.add_tensor(f"blk.{i}.{name}.weight", normal(*shape))
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(dim, np.float32))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(dim, np.float32))
    writer.add_tensor("output_norm.weight", np.ones(dim, np.float32))
    writer.add_tensor("output.weight", normal(len(tokens), dim))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def single_error_line(err: str) -> str:
    """The one `error: ...` line a command printed on failure (asserting there is nothing else, no traceback;
    progress bars, e.g. of a model load before a check that needs the model, do not count)."""
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


DEMO_MODELS = (("demo-llama-rm", "llama", 1, 0.8), ("demo-llama-rm-b", "llama", 4, 0.5),
               ("demo-gemma-rm", "gemma", 2, -0.5))  # name, family, seed, agency bias
DEMO_PROMPTS = ("greatest_ever_one", "best_world_single", "good_time_please",
                "worst_ever_one", "bad_world_single", "terrible_time_please")


# ---- a cache with demo runs, for the app and browser tests --------------------------------------
def demo_score_table(seed: int, agency_bias: float) -> pd.DataFrame:
    """A wide score table (response + one column per battery prompt) over the Big Two nouns plus a few
    other words; `agency_bias` > 0 makes Agency words score higher on positive prompts."""
    from engine.analysis.lexicons import load_lexicon

    lexicon = load_lexicon("big_two_nouns")
    words = list(lexicon.entries)[:120] + ["pizza", "sunshine", "table", "music", "weather"]
    rng = np.random.default_rng(seed)
    table = {"response": words}
    base = rng.normal(0, 1, len(words))
    agency = np.array(["Agency" in lexicon.categories_of(w) for w in words])
    for key in DEMO_PROMPTS:
        sign = 1 if key.split("_")[0] in ("greatest", "best", "good") else -1
        table[key] = np.round(base * sign + agency * agency_bias * sign + rng.normal(0, 0.6, len(words)), 4)
    return pd.DataFrame(table)


def seed_demo_cache(folder: Path, home: Path | None = None) -> None:
    """Import three synthetic reward models of two families into the cache (default: $VALUESCOPE_HOME)."""
    from engine.store.db import Cache
    from engine.workflows.importer import import_scores

    folder.mkdir(parents=True, exist_ok=True)
    cache = Cache(home)
    for name, family, seed, bias in DEMO_MODELS:
        path = folder / f"{name}.csv"
        demo_score_table(seed, bias).to_csv(path, index=False)
        import_scores(cache, path, family=family, model=name, revision="demo-1")


def cached_tiny_search(model_dir: Path, prompt: str, home: Path | None = None):
    """A completed vocabulary search on a tiny local model, through the engine (no real model loads)."""
    from engine.configs import SearchConfig
    from engine.workflows.runner import Runner

    return Runner(home=home).run(SearchConfig(model=str(model_dir), mode="logprob"), prompt)



def seed_compared_home(root: Path, prompt: str, words: list[str], resamples: int | None = None) -> dict:
    """A data folder under `root` as the browser tests need it: two tiny local models (llama, gemma3), a cached
    vocabulary search on the first, the imported demo reward models, and a cached implicit-RM comparison of
    the two with these named `words` (`resamples`: its bootstrap, default run_implicit's)."""
    from engine.analysis.lexicons import load_lexicon
    from engine.configs import SearchConfig
    from engine.workflows.implicit import run_implicit
    from engine.workflows.runner import Runner

    home = root / "home"
    tiny = make_tiny_model_dir(root / "tiny-llama", "llama")
    other = make_tiny_model_dir(root / "tiny-gemma", "gemma3", vocab_size=280, seed=1)
    search = cached_tiny_search(tiny, prompt, home=home)
    seed_demo_cache(root / "imports", home=home)
    extra = {} if resamples is None else {"resamples": resamples}
    implicit = run_implicit(Runner(home=home), [(str(tiny), str(other))], [prompt], lexicon=load_lexicon("big_two_nouns"),
                            words=words, templates=[("auto", "auto")], base=SearchConfig(), **extra)
    return {"home": home, "tiny": tiny, "other": other, "search": search, "implicit": implicit}

# ---- the app under streamlit.testing -----------------------------------------------------------
def app(page: str | None = None, **params):
    """The app (streamlit AppTest) as opened from a URL: on `page` (default: Token search; "home" is /) with these query
    parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(f"views/{page or 'token_search'}.py")
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_for(at, done, timeout: float = 60.0):
    """Rerun the app until `done(at)` (background searches report through reruns)."""
    deadline = time.monotonic() + timeout
    while True:
        assert not at.exception, [e.value for e in at.exception]
        if done(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; errors: {[e.value for e in at.error]}, infos: {[i.value for i in at.info]}")
        time.sleep(0.2)
        at.run()


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]
