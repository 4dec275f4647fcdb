"""Load a trained reward-model checkpoint (LoRA adapter + score head, engine/training) as a LoadedModel:
its base loads as a reward model through the engine's usual path (registry alias, converted GGUF folder,
hub id or local folder), then the adapter is applied and merged (`merge_and_unload`), so token search
and the Runner score it like any trained reward model."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from engine.errors import InputError
from engine.models.loading import load_model
from engine.models.manifests import adapter_revision, base_name_of, check_checkpoint
from engine.models.registry import resolve_spec


def load_adapter_checkpoint(spec, mode: str | None = None, dtype: str = "auto", quantization: str = "none",
                            device: str | None = None, home=None, head_seed: int = 0):
    """A LoRA reward-model checkpoint as a LoadedModel: base (reward mode) + adapter, merged."""
    from peft import PeftModel  # only trained checkpoints need PEFT

    folder = Path(spec.source)
    if mode not in (None, "reward"):
        raise InputError(f"{spec.alias} is a trained reward-model checkpoint: it scores in reward mode only.")
    started = time.perf_counter()
    manifest = check_checkpoint(folder, verify_hash=True)  # before the base loads: a damaged folder is one line
    base_spec = resolve_spec(base_name_of(folder, manifest), trust_remote_code=spec.trust_remote_code)
    base = load_model(base_spec, mode="reward", dtype=dtype, quantization=quantization, device=device, home=home,
                      head_seed=head_seed)
    model = PeftModel.from_pretrained(base.model, str(folder)).merge_and_unload()
    model.eval().requires_grad_(False)
    return replace(base, spec=spec, mode="reward", model=model, head_status="trained",
                   revision=adapter_revision(folder, manifest), weights_path=str(folder),
                   load_seconds=time.perf_counter() - started)
