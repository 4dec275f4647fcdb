"""Trained reward-model checkpoints: when to save, how to save, and how the engine loads them back.

A checkpoint folder holds what PEFT saves (`adapter_config.json`, `adapter_model.safetensors`: the
LoRA matrices and the whole score head, a few MB) and `valuescope-model.json` (alias, base, step,
settings, held-out accuracy). It is written into a hidden temporary folder and renamed into place,
so a killed training run never leaves a half-written checkpoint where the engine would find it.

Loading (`load_adapter_checkpoint`, reached from `engine.models.load_model` for any folder with an
adapter_config.json): the base model is loaded as a reward model through the engine's usual path
(registry alias, converted GGUF folder, hub id or local folder), the adapter is applied and merged
(`merge_and_unload`), so token search and the Runner score it like any trained reward model.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

MANIFEST = "valuescope-model.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
TMP_MARK = ".tmp-"  # temporary checkpoint folders contain this; scanners skip them


def checkpoint_steps(total_steps: int, every: int = 0) -> list[int]:
    """Step 0, the powers of two, every `every` steps (0 = none) and the last step, in order."""
    steps = {0, total_steps}
    power = 1
    while power < total_steps:
        steps.add(power)
        power *= 2
    if every > 0:
        steps.update(range(every, total_steps, every))
    return sorted(s for s in steps if 0 <= s <= total_steps)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(model, folder: Path, manifest: dict) -> dict:
    """Save a PEFT model's adapter and head plus the manifest into `folder`, atomically. Returns the manifest."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}{TMP_MARK}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    manifest = {**manifest, "adapter_sha256": file_sha256(tmp / ADAPTER_WEIGHTS), "saved_at": time.time()}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    if folder.exists():  # a re-run into the same folder replaces its old checkpoint
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return manifest


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def is_checkpoint(folder) -> bool:
    return (Path(folder) / ADAPTER_CONFIG).is_file()


def find_manifests(root: Path) -> list[Path]:
    """Checkpoint folders under `root` (following links: runs written elsewhere are linked in)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if TMP_MARK not in d)
        if MANIFEST in filenames and ADAPTER_CONFIG in filenames:
            found.append(Path(dirpath))
    return found


def adapter_revision(folder: Path, manifest: dict | None = None) -> str:
    """Identifies the exact trained weights (recorded with every scored run; part of cache keys)."""
    manifest = manifest if manifest is not None else read_manifest(folder)
    digest = manifest.get("adapter_sha256") or file_sha256(Path(folder) / ADAPTER_WEIGHTS)
    return f"adapter:{digest[:16]}"


def base_name_of(folder: Path, manifest: dict | None = None) -> str:
    """The base model to load under the adapter: the manifest's base, else PEFT's base_model_name_or_path."""
    manifest = manifest if manifest is not None else read_manifest(folder)
    if manifest.get("base"):
        return manifest["base"]
    config = json.loads((Path(folder) / ADAPTER_CONFIG).read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{folder}: adapter_config.json names no base model (base_model_name_or_path).")
    return base


def load_adapter_checkpoint(spec, mode: str | None = None, dtype: str = "auto", quantization: str = "none",
                            device: str | None = None, home=None, head_seed: int = 0):
    """A LoRA reward-model checkpoint as a LoadedModel: base (reward mode) + adapter, merged."""
    from peft import PeftModel

    from ..models import load_model
    from ..registry import resolve_spec

    folder = Path(spec.source)
    if mode not in (None, "reward"):
        raise ValueError(f"{spec.alias} is a trained reward-model checkpoint: it scores in reward mode only.")
    started = time.perf_counter()
    manifest = read_manifest(folder)
    base_spec = resolve_spec(base_name_of(folder, manifest), trust_remote_code=spec.trust_remote_code)
    base = load_model(base_spec, mode="reward", dtype=dtype, quantization=quantization, device=device, home=home,
                      head_seed=head_seed)
    model = PeftModel.from_pretrained(base.model, str(folder)).merge_and_unload()
    model.eval().requires_grad_(False)
    return replace(base, spec=spec, mode="reward", model=model, head_status="trained",
                   revision=adapter_revision(folder, manifest), weights_path=str(folder),
                   load_seconds=time.perf_counter() - started)


def list_checkpoint_manifests(run_dir: Path) -> list[dict]:
    """Every checkpoint of a run folder as its manifest plus `path`, ordered by base, variant and step."""
    rows = []
    for folder in find_manifests(Path(run_dir)):
        manifest = read_manifest(folder)
        rows.append({**manifest, "path": str(folder)})
    return sorted(rows, key=lambda r: (r.get("base_index", 0), r.get("variant_index", 0), r.get("step", 0)))
