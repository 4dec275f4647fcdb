"""bfloat16-mixed: float32 weights with bf16 matmuls, float32 ends; what `auto` means on a CPU."""
import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from engine.models import precision_checks
from engine.models.loading import load_model, resolve_dtype
from engine.models.registry import resolve_spec
from engine.scoring import search
from engine.scoring.search import score_full_sequences, score_texts, score_vocabulary
from engine.scoring.templates import build_framing

PROMPT = "What, in one word, is the greatest thing ever?"


def _load(model_dir, dtype, mode="reward"):
    return load_model(resolve_spec(str(model_dir), kind="reward_model"), mode=mode, device="cpu", dtype=dtype)


def test_mixed_keeps_float32_weights_and_head_and_agrees_with_float32(tiny_llama_dir, monkeypatch):
    fp32, mixed = _load(tiny_llama_dir, "float32"), _load(tiny_llama_dir, "bfloat16-mixed")
    assert mixed.dtype == "bfloat16-mixed" and mixed.bf16_weights
    assert mixed.head.weight.dtype == torch.float32
    assert mixed.model.get_input_embeddings().weight.dtype == torch.float32
    assert all(m.weight.dtype == torch.bfloat16 for m, _, _ in mixed.bf16_weights.values())
    framing = build_framing(fp32.tokenizer, PROMPT)
    ids = list(range(fp32.vocab_size))
    monkeypatch.setattr(search, "RESCORE_ENDS", 20)
    ref = score_vocabulary(fp32, framing, ids)["score"].to_numpy()
    got = score_vocabulary(mixed, framing, ids, batch_size=16)["score"].to_numpy()
    assert not np.allclose(got, ref, atol=1e-7, rtol=0)  # the bf16 matmuls did run
    assert spearmanr(got, ref).statistic > 0.99
    # 20 best and 20 worst were re-scored: float32 numbers, equal to float32's own scores of those candidates
    same = np.isclose(got, ref, atol=1e-5 * ref.std(), rtol=0)
    assert same.sum() >= 40 and not same.all()
    ends = np.r_[np.argsort(-got)[:10], np.argsort(got)[:10]]  # well inside the re-scored ends
    np.testing.assert_allclose(got[ends], ref[ends], atol=1e-5 * ref.std())
    # and its float32 weights are back in place for the next batch's bf16 copies
    assert all(m.weight.dtype == torch.bfloat16 for m, _, _ in mixed.bf16_weights.values())


def test_mixed_whole_replies_and_logprob_mode_run(tiny_gemma_dir):
    mixed = _load(tiny_gemma_dir, "bfloat16-mixed")
    framing = build_framing(mixed.tokenizer, PROMPT)
    words = ["love", "freedom", "peace of mind"]
    seqs = [[*framing.prefix_ids, *framing.reply_ids(mixed.tokenizer, w)] for w in words]
    np.testing.assert_allclose(score_texts(mixed, framing, words)["score"], score_full_sequences(_load(
        tiny_gemma_dir, "float32"), seqs), atol=1e-5)  # 3 replies: all of them are ends, re-scored in float32
    lm = _load(tiny_gemma_dir, "bfloat16-mixed", mode="logprob")
    lp = score_vocabulary(lm, framing, range(lm.vocab_size))["score"]
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-3)
    assert score_texts(lm, framing, words)["score"].notna().all()


def test_auto_on_cpu_needs_bf16_units_and_a_passed_check(tiny_llama_dir, monkeypatch, valuescope_home):
    spec = resolve_spec(str(tiny_llama_dir), kind="reward_model")
    monkeypatch.setattr(precision_checks, "cpu_flags", lambda: {"avx2"})
    assert precision_checks.auto_cpu_dtype(spec)[0] == "float32"
    assert "no bf16 units" in precision_checks.auto_cpu_dtype(spec)[1]
    monkeypatch.setattr(precision_checks, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert precision_checks.auto_cpu_dtype(spec)[0] == "float32"  # never checked
    precision_checks.record_verdict(spec, 0.9985, 50, 50, 4096)
    assert "failed" in precision_checks.auto_cpu_dtype(spec)[1]
    precision_checks.record_verdict(spec, 0.9995, 50, 49, 4096)
    assert precision_checks.auto_cpu_dtype(spec)[0] == "float32"  # one of the bottom 50 differs
    precision_checks.record_verdict(spec, 0.9995, 50, 50, 4096)
    assert precision_checks.auto_cpu_dtype(spec)[0] == "bfloat16-mixed"
    assert resolve_dtype("auto", "cpu", spec) == (torch.float32, True)
    assert resolve_dtype("auto", "cuda", spec) == (torch.bfloat16, False)
    assert load_model(spec, mode="reward", device="cpu").dtype == "bfloat16-mixed"
    # the request key says so: a run computed in bfloat16-mixed is not served for a float32 one
    from engine.configs import SearchConfig
    from engine.workflows.runner import RunRequest

    auto_key = RunRequest.resolve(SearchConfig(model=str(tiny_llama_dir), device="cpu"), PROMPT).key
    mixed_key = RunRequest.resolve(SearchConfig(model=str(tiny_llama_dir), device="cpu", dtype="bfloat16-mixed"), PROMPT).key
    assert auto_key == mixed_key
    monkeypatch.setattr(precision_checks, "cpu_flags", lambda: {"avx2"})
    assert RunRequest.resolve(SearchConfig(model=str(tiny_llama_dir), device="cpu"), PROMPT).key != mixed_key


def test_mixed_blocks_get_bf16_inputs_once_and_the_float32_rescore_does_not(tiny_gemma_dir, monkeypatch):
    mixed = _load(tiny_gemma_dir, "bfloat16-mixed")
    layers = mixed.backbone.layers
    seen = {"q_proj": set(), "gate_proj": set()}
    for name, module in (("q_proj", layers[0].self_attn.q_proj), ("gate_proj", layers[0].mlp.gate_proj)):
        module.register_forward_pre_hook(lambda m, args, name=name: seen[name].add(args[0].dtype))
    residual = set()
    layers[0].register_forward_hook(lambda m, args, out: residual.add((out[0] if isinstance(out, tuple) else out).dtype))
    framing = build_framing(mixed.tokenizer, PROMPT)
    monkeypatch.setattr(search, "RESCORE_ENDS", 5)
    score_vocabulary(mixed, framing, range(40), batch_size=8)
    # q/k/v and gate/up read one bf16 copy of the normed input in the bf16 passes, float32 in the re-score
    assert seen["q_proj"] == {torch.bfloat16, torch.float32} and seen["gate_proj"] == {torch.bfloat16, torch.float32}
    assert residual == {torch.float32}  # the residual stream stays float32
    fp32 = _load(tiny_gemma_dir, "float32")  # no hooks without bfloat16-mixed: float32 stays float32 throughout
    hits = []
    fp32.backbone.layers[0].self_attn.q_proj.register_forward_pre_hook(lambda m, args: hits.append(args[0].dtype))
    score_vocabulary(fp32, framing, range(8))
    assert set(hits) == {torch.float32}


def test_mixed_cpu_batches_are_capped_smaller_than_float32(tiny_llama_dir):
    mixed, fp32 = _load(tiny_llama_dir, "bfloat16-mixed"), _load(tiny_llama_dir, "float32")
    assert search.auto_batch_size(mixed, 3) == search.MIXED_CPU_BATCH_CAP["off"] < search.auto_batch_size(fp32, 3)
    assert search.auto_batch_size(mixed, 3, compile="on") == search.MIXED_CPU_BATCH_CAP["on"]  # fused: larger again


def test_compiled_mixed_scores_are_judged_by_their_distance_to_float32():
    from engine.scoring.compiled import agrees

    rng = np.random.default_rng(0)
    fp32 = torch.tensor(rng.normal(size=512))
    eager = fp32 + torch.tensor(rng.normal(scale=0.01, size=512))  # bf16's own rounding
    close = fp32 + torch.tensor(rng.normal(scale=0.01, size=512))  # as far from float32, elsewhere
    assert not agrees(eager, close)[0]  # compared with eager alone it would be rejected
    ok, why = agrees(eager, close, fp32)
    assert ok and "against float32" in why
    assert not agrees(eager, fp32 + torch.tensor(rng.normal(scale=0.03, size=512)), fp32)[0]  # 3x further off


def test_freed_activation_memory_is_reused_without_page_faults():
    import resource

    from engine.models.cpu_memory import keep_freed_memory

    if not keep_freed_memory():
        pytest.skip("not glibc: the thresholds are glibc's")
    torch.empty(4 * 1024 * 1024).fill_(1.0)  # 16 MB: freed, then kept on the heap
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(4 * 1024 * 1024).fill_(1.0)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 1000  # 4096 pages if it went back to the OS
