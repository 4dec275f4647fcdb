"""Load a trained reward-model checkpoint (LoRA adapter + score head, engine/training) as a LoadedModel:
its base loads as a reward model through the engine's usual path (registry alias, converted GGUF folder,
hub id or local folder), then the adapter is applied, so token search and the Runner score it like any
trained reward model.

A checkpoint is scored as it was trained: dtype "auto" and quantisation "none" mean the ones recorded in
its manifest (`trained_as`: a 4-bit QLoRA adapter on its 4-bit base, a CPU fp32 run in fp32), the
adapter keeps the dtype it trained in, and it stays unmerged: merging adds the LoRA delta into bf16
weights, which rounds part of it away (peft#1388), so a merged model is not the function that was
evaluated at training time. `merge=True` merges (faster; exact only in fp32). An added pad token
("[PAD]", engine/training/formatting.py) is added again and the embeddings resized the same way, and
a pinned template date (Llama 3.2's "Today Date") is pinned again."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from engine.errors import InputError
from engine.models.loading import load_model, pin_template_date
from engine.models.manifests import adapter_revision, base_name_of, check_checkpoint
from engine.models.registry import resolve_spec


def load_adapter_checkpoint(spec, mode: str | None = None, dtype: str = "auto", quantization: str = "none",
                            device: str | None = None, home=None, head_seed: int = 0, merge: bool = False):
    """A LoRA reward-model checkpoint as a LoadedModel: base (reward mode) + adapter, as trained."""
    from peft import PeftModel  # only trained checkpoints need PEFT

    folder = Path(spec.source)
    if mode not in (None, "reward"):
        raise InputError(f"{spec.alias} is a trained reward-model checkpoint: it scores in reward mode only.")
    started = time.perf_counter()
    manifest = check_checkpoint(folder, verify_hash=True)  # before the base loads: a damaged folder is one line
    trained_as = manifest.get("trained_as") or {}
    if dtype == "auto" and trained_as.get("dtype"):
        dtype = trained_as["dtype"]
    if quantization == "none" and trained_as.get("quantization"):
        quantization = trained_as["quantization"]
    base_spec = resolve_spec(base_name_of(folder, manifest), trust_remote_code=spec.trust_remote_code)
    base = load_model(base_spec, mode="reward", dtype=dtype, quantization=quantization, device=device, home=home,
                      head_seed=head_seed)
    pin_template_date(base.tokenizer, (manifest.get("settings") or {}).get("template_date", ""))
    if manifest.get("pad_added"):
        base.tokenizer.add_special_tokens({"pad_token": manifest["pad_token"]})
        base.model.resize_token_embeddings(len(base.tokenizer))
        base.model.config.pad_token_id = base.tokenizer.pad_token_id
    adapter_dtype = trained_as.get("adapter_dtype", "float32")
    peft_model = PeftModel.from_pretrained(base.model, str(folder), autocast_adapter_dtype=adapter_dtype == "float32")
    model = peft_model.merge_and_unload() if merge else peft_model.get_base_model()  # LoRA layers stay in place
    model.eval().requires_grad_(False)
    how = f"merged into {base.dtype}" if merge else f"unmerged, adapter {adapter_dtype}"
    return replace(base, spec=spec, mode="reward", model=model, head_status=f"trained (LoRA {how})",
                   revision=adapter_revision(folder, manifest), weights_path=str(folder),
                   load_seconds=time.perf_counter() - started)
