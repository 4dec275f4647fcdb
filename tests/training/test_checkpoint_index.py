"""Trained checkpoints are registered when saved and found by one start-up scan, not by walking the trained
folder whenever a page lists models (engine/models/trained.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import engine.models.trained as trained
from engine.models.registry import resolve_spec, trained_specs
from engine.training.checkpoints import save_checkpoint

WEIGHTS = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "  # a safetensors file holding no tensors: header only


class TinyAdapter:
    """Writes what PEFT's save_pretrained writes for an adapter, without a model."""

    def save_pretrained(self, folder, **kwargs):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
        (Path(folder) / "adapter_model.safetensors").write_bytes(WEIGHTS)


def _save(folder: Path, alias: str, home: Path) -> Path:
    manifest = save_checkpoint(TinyAdapter(), folder, {"alias": alias, "family": "llama", "base": "b", "step": 4,
                                                        "template": "chat", "eval": {"accuracy": 0.75}})
    trained.register_checkpoint(folder, manifest, home)
    return folder


def _no_walking(*args):
    raise AssertionError("the trained folder was walked")


def test_a_saved_checkpoint_is_listed_without_a_scan(valuescope_home, monkeypatch):
    assert trained_specs(valuescope_home) == {}  # the process's one scan of this folder: nothing yet
    monkeypatch.setattr(trained, "find_manifests", _no_walking)
    folder = _save(valuescope_home / "trained" / "run" / "base" / "step-000004", "rm-run-base-step4", valuescope_home)
    spec = trained_specs(valuescope_home)["rm-run-base-step4"]
    assert (spec.source, spec.family, spec.template, spec.kind) == (str(folder), "llama", "chat", "reward_model")
    assert spec.revision.startswith("adapter:") and "held-out accuracy 0.750" in spec.notes
    assert resolve_spec("rm-run-base-step4") == spec  # the CLI and the loaders find it by alias too
    _save(folder, "rm-run-base-step4", valuescope_home)  # saved again (a re-run): one entry, the newer one
    assert list(trained_specs(valuescope_home)) == ["rm-run-base-step4"]


def test_a_copied_in_folder_appears_after_the_start_up_scan(valuescope_home, tmp_path):
    assert trained_specs(valuescope_home) == {}
    elsewhere = _save(tmp_path / "other-machine" / "step-000004", "rm-copied-step4", tmp_path / "other-home")
    shutil.copytree(elsewhere, valuescope_home / "trained" / "copied" / "step-000004")
    assert "rm-copied-step4" not in trained_specs(valuescope_home)  # no walk on every call
    assert trained.scan_trained(valuescope_home) == []  # what a new process does first
    spec = trained_specs(valuescope_home)["rm-copied-step4"]
    assert spec.source == str(valuescope_home / "trained" / "copied" / "step-000004")


def test_a_corrupt_folder_is_one_line_and_hides_nothing_else(valuescope_home):
    _save(valuescope_home / "trained" / "good" / "step-000001", "rm-good-step1", valuescope_home)
    bad = valuescope_home / "trained" / "bad" / "step-000001"
    bad.mkdir(parents=True)
    (bad / "adapter_config.json").write_text("{}")
    (bad / "valuescope-model.json").write_text("{not json")
    problems = trained.scan_trained(valuescope_home)
    assert len(problems) == 1 and "\n" not in problems[0] and str(bad) in problems[0] and "damaged" in problems[0]
    assert trained.scan_problems(valuescope_home) == problems
    assert list(trained_specs(valuescope_home)) == ["rm-good-step1"]
    shutil.rmtree(valuescope_home / "trained" / "good")  # a deleted run drops out at the next scan
    trained.scan_trained(valuescope_home)
    assert trained_specs(valuescope_home) == {}


@pytest.mark.parametrize("line", ['{"alias": "rm-x", "pa', "not json"])
def test_a_line_being_written_is_skipped(valuescope_home, line):
    _save(valuescope_home / "trained" / "r" / "step-000001", "rm-r-step1", valuescope_home)
    with (valuescope_home / "trained" / trained.INDEX).open("a") as fh:
        fh.write(line)
    assert list(trained_specs(valuescope_home)) == ["rm-r-step1"]
