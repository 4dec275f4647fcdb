"""Exhaustive token search: fast shared-prefix path vs whole sequences, batch-size invariance, pooling."""
import numpy as np
import pytest
import torch

from engine.models.loading import load_model
from engine.models.registry import resolve_spec
from engine.scoring.search import score_full_sequences, score_texts, score_vocabulary, vocab_candidates
from engine.scoring.templates import build_framing

PROMPT = "What, in one word, is the greatest thing ever?"


def _reward_model(model_dir):
    return load_model(resolve_spec(str(model_dir), kind="reward_model"), mode="reward", device="cpu")


@pytest.fixture(params=["tiny_llama_dir", "tiny_gemma_dir"])
def reward_lm(request):
    return _reward_model(request.getfixturevalue(request.param))


def test_causal_lm_as_reward_backbone_reports_untrained_head(tiny_llama_dir):
    lm = _reward_model(tiny_llama_dir)
    assert lm.head_status.startswith("untrained")


def test_fast_search_matches_whole_sequences_and_batch_size(reward_lm):
    framing = build_framing(reward_lm.tokenizer, PROMPT)
    ids = list(range(reward_lm.vocab_size))
    fast = {bs: score_vocabulary(reward_lm, framing, ids, batch_size=bs)["score"].to_numpy() for bs in (1, 7, 64)}
    reference = score_full_sequences(reward_lm, [[*framing.prefix_ids, i, *framing.closing_ids] for i in ids])
    scale = reference.std()
    assert scale > 0
    for scores in fast.values():
        np.testing.assert_allclose(scores, reference, atol=1e-4 * scale + 1e-6)
    np.testing.assert_allclose(fast[1], fast[64], atol=1e-5 * scale + 1e-7)


CHATML_NO_TRAILING_NEWLINE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' }}"
    "{% if not loop.last %}{{ '\n' }}{% endif %}{% endfor %}"
)


def test_reward_is_read_at_last_real_token_even_when_it_is_the_pad_token(tmp_path):
    from helpers import make_tiny_model_dir

    lm = _reward_model(make_tiny_model_dir(tmp_path / "m", chat_template=CHATML_NO_TRAILING_NEWLINE))
    framing = build_framing(lm.tokenizer, PROMPT)
    # like SmolLM2, pad = <|im_end|>; here the closed turn ends on it
    assert list(framing.closing_ids) == [lm.tokenizer.pad_token_id]
    ids = [*framing.prefix_ids, 40, *framing.closing_ids]
    ours = score_vocabulary(lm, framing, [40])["score"].iloc[0]
    with torch.no_grad():
        hidden = lm.backbone(input_ids=torch.tensor([ids])).last_hidden_state
        at_last = lm.head(hidden[:, -1])[0, 0].item()
        at_reply = lm.head(hidden[:, -2])[0, 0].item()
        transformers_pooling = lm.model(input_ids=torch.tensor([ids])).logits[0, 0].item()
    assert ours == pytest.approx(at_last, abs=1e-5)
    # transformers' "last non-pad token" pooling skips the closing <|im_end|>: a different number
    assert transformers_pooling == pytest.approx(at_reply, abs=1e-5)
    assert abs(transformers_pooling - ours) > 1e-4


def test_logprob_vocabulary_is_the_next_token_distribution(tiny_llama_dir):
    lm = load_model(resolve_spec(str(tiny_llama_dir)), mode="logprob", device="cpu")
    framing = build_framing(lm.tokenizer, PROMPT)
    df = score_vocabulary(lm, framing, range(lm.vocab_size))
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([list(framing.prefix_ids)])).logits[0, -1]
    np.testing.assert_allclose(df["score"], torch.log_softmax(logits, -1).numpy(), atol=1e-5)
    assert np.exp(df["score"]).sum() == pytest.approx(1.0, abs=1e-4)


def test_whole_reply_scores_match_whole_sequences(reward_lm):
    framing = build_framing(reward_lm.tokenizer, PROMPT)
    words = ["love", "freedom", "peace of mind", "family and friends"]
    df = score_texts(reward_lm, framing, words, batch_size=3)
    seqs = [[*framing.prefix_ids, *framing.reply_ids(reward_lm.tokenizer, w)] for w in words]
    np.testing.assert_allclose(df["score"], score_full_sequences(reward_lm, seqs), atol=1e-5)
    assert list(df["n_tokens"]) == [len(s) - len(framing.prefix_ids) - len(framing.closing_ids) for s in seqs]


def test_alpha_filter_keeps_word_initial_alphabetic_tokens(tiny_llama_dir):
    lm = _reward_model(tiny_llama_dir)
    kept = vocab_candidates(lm.tokenizer, lm.vocab_size, "alpha")
    texts = lm.tokenizer.batch_decode([[i] for i in kept])
    assert kept and all(t.startswith(" ") and t[1:].isalpha() for t in texts)
    assert len(kept) < lm.vocab_size
    with pytest.raises(ValueError, match="Unknown vocabulary filter"):
        vocab_candidates(lm.tokenizer, lm.vocab_size, "nouns")


def test_untrained_head_is_the_same_whatever_the_dtype(tiny_llama_dir):
    spec = resolve_spec(str(tiny_llama_dir), kind="reward_model")
    fp32 = load_model(spec, mode="reward", device="cpu", dtype="float32")
    bf16 = load_model(spec, mode="reward", device="cpu", dtype="bfloat16")
    other_seed = load_model(spec, mode="reward", device="cpu", dtype="float32", head_seed=1)
    torch.testing.assert_close(bf16.head.weight.float(), fp32.head.weight, atol=1e-2 * fp32.head.weight.abs().max().item(), rtol=0)
    assert not torch.allclose(other_seed.head.weight, fp32.head.weight)
