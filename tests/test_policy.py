"""The server policy: local and public mode from the environment, the remote-code allow-list, and what a
public server refuses or hides (local paths as models, server paths and PIDs in messages)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from engine.configs import SearchConfig
from engine.errors import CacheLockedError, InputError, ModelLoadError
from engine.models import registry
from engine.models.registry import check_model_name as check_name
from engine.policy import ServerPolicy, check_model_name, check_search_config


def test_local_mode_is_the_default_and_allows_no_remote_code():
    policy = ServerPolicy.from_env({})
    assert not policy.public and policy.allow_delete and policy.allow_local_paths
    assert not policy.allows_remote_code("smollm2-135m-instruct")
    assert not policy.allows_remote_code("some-org/custom-arch")


def test_public_mode_turns_everything_off_even_listed_remote_code():
    policy = ServerPolicy.from_env({"VALUESCOPE_PUBLIC": "1", "VALUESCOPE_REMOTE_CODE_MODELS": "some-org/custom-arch"})
    assert policy.public and not policy.allow_delete and not policy.allow_local_paths
    assert not policy.allows_remote_code("some-org/custom-arch")
    assert policy.max_upload_mb < ServerPolicy.from_env({}).max_upload_mb
    assert policy.max_jobs <= ServerPolicy.from_env({}).max_jobs


def test_operator_allow_list_and_registry_entries(monkeypatch):
    policy = ServerPolicy.from_env({"VALUESCOPE_REMOTE_CODE_MODELS": " Some-Org/Custom-Arch , other/model"})
    assert policy.allows_remote_code("some-org/custom-arch")  # hub ids are case-insensitive
    assert policy.allows_remote_code("other/model") and not policy.allows_remote_code("third/model")
    spec = replace(registry.REGISTRY["gemma-2-2b-it"], alias="needs-code", source="org/needs-code", needs_remote_code=True)
    monkeypatch.setitem(registry.REGISTRY, "needs-code", spec)
    policy = ServerPolicy.from_env({})
    assert policy.allows_remote_code("needs-code") and policy.allows_remote_code("org/needs-code")


@pytest.mark.parametrize("env, message", [({"VALUESCOPE_PUBLIC": "maybe"}, "VALUESCOPE_PUBLIC"),
                                          ({"VALUESCOPE_MAX_UPLOAD_MB": "0"}, "VALUESCOPE_MAX_UPLOAD_MB"),
                                          ({"VALUESCOPE_MAX_JOBS": "two"}, "VALUESCOPE_MAX_JOBS")])
def test_a_bad_setting_names_its_variable(env, message):
    with pytest.raises(InputError, match=message):
        ServerPolicy.from_env(env)
    assert ServerPolicy.from_env({"VALUESCOPE_MAX_UPLOAD_MB": "5"}).max_upload_mb == 5


def test_check_search_config_refuses_remote_code_and_public_local_paths(tmp_path):
    local = ServerPolicy.from_env({"VALUESCOPE_REMOTE_CODE_MODELS": "org/allowed"})
    check_search_config(SearchConfig(model="org/allowed", trust_remote_code=True), local)
    with pytest.raises(InputError, match="operator allows it per model"):
        check_search_config(SearchConfig(model="org/other", trust_remote_code=True), local)
    public = ServerPolicy.from_env({"VALUESCOPE_PUBLIC": "1"})
    with pytest.raises(InputError, match="public server"):
        check_search_config(SearchConfig(model="org/allowed", trust_remote_code=True), public)
    for path in ("/etc", str(tmp_path), "../models"):
        with pytest.raises(InputError, match="Local folders and files cannot be used"):
            check_search_config(SearchConfig(model=path), public)
    check_search_config(SearchConfig(model="smollm2-135m-instruct"), public)  # registry aliases are fine


def test_model_name_check_follows_the_server_policy_by_default(tmp_path, monkeypatch):
    assert check_model_name(str(tmp_path)).source == str(tmp_path.resolve())
    monkeypatch.setenv("VALUESCOPE_PUBLIC", "1")
    with pytest.raises(InputError, match="public server"):
        check_model_name(str(tmp_path))
    assert check_name(str(tmp_path), allow_local_paths=True)  # an explicit caller (the CLI) decides for itself


def test_public_messages_carry_no_server_paths_or_pids(monkeypatch):
    from app.ui.messages import friendly_message

    locked = CacheLockedError("The cache /home/user/valuescope/valuescope.duckdb is locked by PID 4242 on this host")
    missing = ModelLoadError("Could not load model '/srv/models/secret-run'. Tried: local folder '/srv/models/secret-run'")
    assert "4242" in friendly_message(locked) and "/home/user" in friendly_message(locked)  # locally: everything
    monkeypatch.setenv("VALUESCOPE_PUBLIC", "1")
    for exc, kept in ((locked, "valuescope.duckdb"), (missing, "secret-run")):
        shown = friendly_message(exc)
        assert "4242" not in shown and "/home/user" not in shown and "/srv/models" not in shown, shown
        assert kept in shown  # the file's own name still says which one
    assert "huggingface.co/org/model" in friendly_message(InputError("see https://huggingface.co/org/model"))


def test_public_mode_refuses_a_gguf_path_whether_or_not_it_exists(tmp_path):
    present = tmp_path / "model.gguf"
    present.write_bytes(b"GGUF")
    answers = set()
    for name in (str(present), str(tmp_path / "missing.gguf"), "missing.gguf", "/nowhere/x"):
        with pytest.raises(InputError) as refused:
            check_name(name, allow_local_paths=False)
        answers.add(str(refused.value))
    assert len(answers) == 1 and "public server" in answers.pop()  # existence on the server cannot be probed


@pytest.mark.parametrize("public, refused", [("1", True), ("0", False)])
def test_public_mode_refuses_a_hub_config_that_loads_code_before_any_weights(public, refused, tmp_path, monkeypatch):
    import json

    import huggingface_hub
    import engine.models.loading as loading

    config = tmp_path / "config.json"  # what the hub would serve for this repository
    config.write_text(json.dumps({"model_type": "llama", "auto_map": {"AutoModel": "modeling_evil.EvilModel"}}))
    fetched = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo, filename, **kw: fetched.append(filename) or str(config))
    monkeypatch.setattr(loading, "_in_hub_cache", lambda spec: True)

    def no_weights(*args, **kwargs):
        raise AssertionError("reached from_pretrained")

    for auto in ("AutoTokenizer", "AutoConfig", "AutoModelForCausalLM", "AutoModelForSequenceClassification"):
        monkeypatch.setattr(getattr(loading, auto), "from_pretrained", no_weights)
    monkeypatch.setenv("VALUESCOPE_PUBLIC", public)
    spec = registry.resolve_spec("some-org/custom-arch")
    if refused:
        with pytest.raises(InputError, match="loads code from the repository"):
            loading.load_model(spec, mode="logprob")
        assert fetched == ["config.json"]  # one small file, no weights
    else:
        with pytest.raises(AssertionError, match="reached from_pretrained"):
            loading.load_model(spec, mode="logprob")
        assert fetched == []  # locally the hub is not asked twice
