"""The paper's ten reward models as registry data: dtype, pinned revisions and score readers as the authors
scored them (summerfieldlab/Christian_etal_2025_FAccT config/reward_models.yaml and reward_model_registry.py)."""
import pytest

from engine.models import registry
from engine.models.loading import load_model
from engine.models.registry import REGISTRY, REWARD_MODEL, ModelSpec
from engine.policy import ServerPolicy
from engine.scoring.whole_sequence import READERS

PAPER_RMS = {  # hub id: (dtype, pinned revision, score reader, head width)
    "Skywork/Skywork-Reward-Gemma-2-27B": ("bfloat16", None, "logits0", 1),
    "Skywork/Skywork-Reward-Gemma-2-27B-v0.2": ("bfloat16", None, "logits0", 1),
    "Skywork/Skywork-Reward-Llama-3.1-8B-v0.2": ("bfloat16", None, "logits0", 1),
    "nicolinho/QRM-Gemma-2-27B": ("bfloat16", "eef8d852e886240e308a57b61d69f0e58489f0ed", "score", None),
    "nicolinho/QRM-Llama3.1-8B": ("bfloat16", "74280eebb9580bfecff5d0b2edb81f7d6186a204", "score", None),
    "RLHFlow/ArmoRM-Llama3-8B-v0.1": ("bfloat16", "39aadadd6d1b66ab358f0b4ce8899624c35c7434", "score", None),
    "LxzGordon/URM-LLaMa-3.1-8B": ("float16", None, "logits0", None),
    "Ray2333/GRM-gemma2-2B-rewardmodel-ft": ("float16", None, "logits0", 1),
    "Ray2333/GRM-Llama3.2-3B-rewardmodel-ft": ("float16", None, "logits0", 1),
    "Ray2333/GRM-Llama3-8B-rewardmodel-ft": ("float16", None, "logits0", 1),
}


def test_the_papers_ten_reward_models_as_the_authors_scored_them():
    by_source = {spec.source: spec for spec in REGISTRY.values()}
    for source, (dtype, revision, reader, width) in PAPER_RMS.items():
        spec = by_source[source]
        assert (spec.kind, spec.dtype, spec.revision, spec.score_reader, spec.num_labels) == (
            REWARD_MODEL, dtype, revision, reader, width), source
        assert spec.family == ("gemma" if "emma" in source else "llama")
        # their own code runs only when a user asks for it; the app may offer it for these entries
        assert spec.trust_remote_code is False and spec.needs_remote_code == (reader == "score")
    assert all(spec.score_reader in READERS for spec in REGISTRY.values())


def test_remote_code_offered_only_for_the_own_code_models():
    policy = ServerPolicy.from_env({})
    offered = {spec.source for spec in REGISTRY.values() if policy.allows_remote_code(spec.alias)}
    assert offered == {s for s, row in PAPER_RMS.items() if row[2] == "score"}


def test_skywork_v2_family_on_llama_and_qwen3_bases():
    v2 = [spec for spec in REGISTRY.values() if spec.source.startswith("Skywork/Skywork-Reward-V2-")]
    assert {spec.family for spec in v2} == {"llama", "qwen"}
    assert {"skywork-reward-v2-llama-3.1-8b", "skywork-reward-v2-qwen3-8b"} <= {spec.alias for spec in v2}
    assert all(spec.dtype == "bfloat16" and spec.score_reader == "logits0" for spec in v2)


def test_auto_dtype_is_the_models_own(tiny_llama_dir, monkeypatch):
    spec = ModelSpec("tiny-fp16-rm", str(tiny_llama_dir), "llama", REWARD_MODEL, "reward", dtype="float16")
    monkeypatch.setitem(registry.REGISTRY, spec.alias, spec)
    assert load_model(spec, device="cpu").dtype == "float16"
    assert load_model(spec, dtype="float32", device="cpu").dtype == "float32"  # the user's choice wins


@pytest.mark.parametrize("alias", ["armorm-llama3-8b-v0.1", "qrm-llama3.1-8b"])
def test_own_code_models_say_they_need_trust_remote_code(alias):
    from engine.errors import InputError

    with pytest.raises(InputError, match="--trust-remote-code"):
        load_model(REGISTRY[alias], device="cpu")
