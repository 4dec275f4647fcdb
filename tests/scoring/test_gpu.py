"""GPU paths: bf16 and bitsandbytes 4/8-bit loading. Skipped where there is no CUDA device."""
import importlib.util

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from engine.models.loading import load_model
from engine.models.registry import resolve_spec
from engine.scoring.search import score_full_sequences, score_vocabulary
from engine.scoring.templates import build_framing

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
needs_bnb = pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes")
PROMPT = "What, in one word, is the greatest thing ever?"


@pytest.fixture(scope="module")
def wide_model_dir(tmp_path_factory):
    # wide enough that bitsandbytes' blockwise quantisation is exercised on real matrix shapes
    from transformers import AutoModelForCausalLM, LlamaConfig

    from helpers import make_tokenizer

    path = tmp_path_factory.mktemp("wide")
    tok = make_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=512, intermediate_size=1408, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=4, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.gpu
@needs_cuda
def test_fast_path_matches_whole_sequences_on_gpu(wide_model_dir):
    spec = resolve_spec(str(wide_model_dir), kind="reward_model")
    lm = load_model(spec, mode="reward", device="cuda", dtype="float32")
    framing = build_framing(lm.tokenizer, PROMPT)
    ids = list(range(lm.vocab_size))
    fast = score_vocabulary(lm, framing, ids)["score"].to_numpy()
    whole = score_full_sequences(lm, [[*framing.prefix_ids, i, *framing.closing_ids] for i in ids], batch_size=64)
    np.testing.assert_allclose(fast, whole, atol=1e-3 * whole.std())  # TF32 matmuls allow a little slack
    np.testing.assert_allclose(score_vocabulary(lm, framing, ids, batch_size=3)["score"], fast, atol=1e-3 * fast.std())
    # bf16 (the GPU default) keeps the ranking; random weights give a narrow score spread, the worst case
    bf16 = load_model(spec, mode="reward", device="cuda")
    assert bf16.dtype == "bfloat16"
    assert spearmanr(score_vocabulary(bf16, framing, ids)["score"], fast).statistic > 0.95


@pytest.mark.gpu
@pytest.mark.bitsandbytes
@needs_cuda
@needs_bnb
@pytest.mark.parametrize("quantization", ["8bit", "4bit"])
def test_bitsandbytes_loading_scores_like_bf16(wide_model_dir, quantization):
    spec = resolve_spec(str(wide_model_dir), kind="reward_model")
    reference = load_model(spec, mode="reward", device="cuda", dtype="bfloat16")
    quantized = load_model(spec, mode="reward", device="cuda", dtype="bfloat16", quantization=quantization)
    assert quantized.quantization == quantization
    framing = build_framing(reference.tokenizer, PROMPT)
    ids = list(range(reference.vocab_size))
    a = score_vocabulary(reference, framing, ids)["score"].to_numpy()
    b = score_vocabulary(quantized, framing, ids)["score"].to_numpy()
    assert spearmanr(a, b).statistic > (0.9 if quantization == "8bit" else 0.7)
    bytes_ref = reference.model.get_memory_footprint()
    assert quantized.model.get_memory_footprint() < 0.8 * bytes_ref
