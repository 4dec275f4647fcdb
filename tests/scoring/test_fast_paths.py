"""Every fast path of the search against scoring each candidate alone (the whole sequence, batch of one):
large batches, torch.compile (with its agreement check), bfloat16-mixed. On CPU in CI; on CUDA too where
there is a GPU."""
import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from engine.models.loading import load_model
from engine.models.registry import resolve_spec
from engine.scoring import compiled
from engine.scoring.search import score_full_sequences, score_vocabulary
from engine.scoring.templates import build_framing

PROMPT = "What, in one word, is the greatest thing ever?"
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _alone(lm, framing, ids):
    return score_full_sequences(lm, [[*framing.prefix_ids, i, *framing.closing_ids] for i in ids], batch_size=1)


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


def test_large_batches_and_compile_match_each_candidate_alone(tiny_gemma_dir, device, monkeypatch):
    if device == "cpu":  # graph capture of the shared-prefix attention, padding and the check; inductor on CUDA
        monkeypatch.setattr(compiled, "BACKEND", "aot_eager")
    lm = load_model(resolve_spec(str(tiny_gemma_dir), kind="reward_model"), mode="reward", device=device,
                    dtype="float32")
    framing = build_framing(lm.tokenizer, PROMPT)
    ids = list(range(lm.vocab_size))
    alone = _alone(lm, framing, ids)
    tolerance = 1e-3 * alone.std() if device == "cuda" else 1e-4 * alone.std() + 1e-6  # TF32 on GPUs
    for batch_size in (None, 4096):  # default cap, and one batch larger than the vocabulary
        np.testing.assert_allclose(score_vocabulary(lm, framing, ids, batch_size)["score"], alone, atol=tolerance)
    # one length, batches of 64 with the last one padded: one compiled graph
    fast = score_vocabulary(lm, framing, ids, batch_size=64, compile="on")["score"].to_numpy()
    assert getattr(lm, "compile_checked", False) and not getattr(lm, "compile_failed", False)
    np.testing.assert_allclose(fast, alone, atol=tolerance)


def test_compiled_scores_that_disagree_fall_back_to_eager(tiny_llama_dir, monkeypatch):
    lm = load_model(resolve_spec(str(tiny_llama_dir), kind="reward_model"), mode="reward", device="cpu",
                    dtype="float32")
    framing = build_framing(lm.tokenizer, PROMPT)
    ids = list(range(60))

    class Skewed(torch.nn.Module):  # a "compiled" decoder layer whose numbers are off
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, *args, **kwargs):
            out = self.layer(*args, **kwargs)
            if isinstance(out, tuple):
                return (out[0] + torch.randn_like(out[0]), *out[1:])
            return out + torch.randn_like(out)

    lm.compiled = {"on": [Skewed(layer) for layer in lm.backbone.layers]}
    with pytest.warns(UserWarning, match="not used"):
        got = score_vocabulary(lm, framing, ids, batch_size=16, compile="on")["score"].to_numpy()
    assert lm.compile_failed
    np.testing.assert_allclose(got, _alone(lm, framing, ids), atol=1e-4 * got.std() + 1e-6)
    assert not compiled.wants_compiled(lm, "on")
    assert not any(isinstance(layer, Skewed) for layer in lm.backbone.layers)  # the model's own layers are back


def test_bfloat16_mixed_ranks_like_each_candidate_alone(tiny_llama_dir, device):
    spec = resolve_spec(str(tiny_llama_dir), kind="reward_model")
    lm = load_model(spec, mode="reward", device=device, dtype="bfloat16-mixed")
    framing = build_framing(lm.tokenizer, PROMPT)
    ids = list(range(lm.vocab_size))
    alone = _alone(load_model(spec, mode="reward", device=device, dtype="float32"), framing, ids)
    assert spearmanr(score_vocabulary(lm, framing, ids, batch_size=4096)["score"], alone).statistic > 0.99


def test_compiled_bfloat16_mixed_is_checked_against_float32_and_says_so(tiny_llama_dir, monkeypatch):
    monkeypatch.setattr(compiled, "BACKEND", "aot_eager")  # graph capture and the check; inductor builds for minutes
    spec = resolve_spec(str(tiny_llama_dir), kind="reward_model")
    lm = load_model(spec, mode="reward", device="cpu", dtype="bfloat16-mixed")
    framing = build_framing(lm.tokenizer, PROMPT)
    ids = list(range(lm.vocab_size))
    frame = score_vocabulary(lm, framing, ids, batch_size=64, compile="on")
    assert lm.compile_checked and not getattr(lm, "compile_failed", False)
    assert "against float32" in frame.attrs["scoring"]["compiled"]
    assert "compiled" not in score_vocabulary(lm, framing, ids[:8]).attrs["scoring"]  # eager runs say nothing
    alone = _alone(load_model(spec, mode="reward", device="cpu", dtype="float32"), framing, ids)
    assert spearmanr(frame["score"], alone).statistic > 0.99
    # another prompt (another prefix length) runs through the same compiled model
    other = build_framing(lm.tokenizer, "Name, in one word, the worst thing that could happen to a person?")
    assert len(other.prefix_ids) != len(framing.prefix_ids)
    again = score_vocabulary(lm, other, ids, batch_size=64, compile="on")["score"].to_numpy()
    np.testing.assert_allclose(again, score_vocabulary(lm, other, ids, batch_size=64)["score"], atol=1e-6)


def test_soft_capped_attention_matches_each_candidate_alone(tmp_path):
    from tests.helpers import make_tiny_model_dir

    path = make_tiny_model_dir(tmp_path / "tiny-gemma2", "gemma2", vocab_size=280, seed=2)  # logit soft-capping
    lm = load_model(resolve_spec(str(path), kind="reward_model"), mode="reward", device="cpu", dtype="float32")
    assert lm.model.config.attn_logit_softcapping
    framing = build_framing(lm.tokenizer, PROMPT)
    assert len(framing.prefix_ids) + 3 > lm.model.config.sliding_window  # the window cuts into the prefix too
    ids = list(range(lm.vocab_size))
    alone = _alone(lm, framing, ids)
    np.testing.assert_allclose(score_vocabulary(lm, framing, ids, batch_size=64)["score"], alone,
                               atol=1e-4 * alone.std() + 1e-6)
