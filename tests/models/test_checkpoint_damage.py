"""A damaged trained checkpoint folder (truncated adapter, garbage manifest, invalid adapter config, deleted or
altered weights) is one line naming the folder, before any base model loads."""
from __future__ import annotations

import json
import os
import shutil

import pytest

import engine.models.loading
from engine.cli import main
from engine.errors import ModelLoadError
from engine.models.loading import load_adapter_checkpoint
from engine.models.manifests import ADAPTER_CONFIG, ADAPTER_WEIGHTS, MANIFEST
from engine.models.registry import resolve_spec
from helpers import make_tiny_model_dir, single_error_line


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A LoRA reward-model checkpoint of a tiny base, saved the way training saves one."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from engine.training.checkpoints import save_checkpoint

    tmp = tmp_path_factory.mktemp("checkpoint")
    base = make_tiny_model_dir(tmp / "base", "llama")
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    peft = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], task_type="SEQ_CLS"))
    save_checkpoint(peft, tmp / "rm-tiny", {"alias": "rm-tiny-test", "base": str(base), "family": "llama"})
    return tmp / "rm-tiny"


def _damage(folder, how: str) -> None:
    if how == "truncated adapter":
        weights = folder / ADAPTER_WEIGHTS
        os.truncate(weights, weights.stat().st_size - 100)
    elif how == "garbage manifest":
        (folder / MANIFEST).write_bytes(b"\x00\xffnot json")
    elif how == "invalid adapter config":
        (folder / ADAPTER_CONFIG).write_text("[1, 2")
    elif how == "deleted weights":
        (folder / ADAPTER_WEIGHTS).unlink()
    else:  # same size, other bytes: only the recorded hash tells
        weights = folder / ADAPTER_WEIGHTS
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))


def test_an_intact_checkpoint_loads(checkpoint):
    lm = load_adapter_checkpoint(resolve_spec(str(checkpoint)), device="cpu")
    assert lm.head_status.startswith("trained")


@pytest.mark.parametrize("how, what", [("truncated adapter", "cut short"), ("garbage manifest", MANIFEST),
                                       ("invalid adapter config", ADAPTER_CONFIG), ("deleted weights", "missing"),
                                       ("altered weights", "differs")])
def test_a_damaged_checkpoint_is_one_line_before_the_base_loads(how, what, checkpoint, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "rm-tiny"
    shutil.copytree(checkpoint, folder)
    _damage(folder, how)
    monkeypatch.setattr(engine.models.loading.AutoConfig, "from_pretrained",
                        lambda *a, **k: pytest.fail("the base model was loaded before the folder was checked"))
    if how == "altered weights":  # readable in shape, so the folder resolves; loading checks the hash first
        with pytest.raises(ModelLoadError, match=what):
            load_adapter_checkpoint(resolve_spec(str(folder)), device="cpu")
        return
    capsys.readouterr()
    assert main(["search", "--model", str(folder), "--prompt", "Hi?"]) == 2
    line = single_error_line(capsys.readouterr().err)
    assert str(folder) in line and "damaged" in line and what in line, line
