"""Trained reward-model checkpoints: when to save and how (atomically). Reading them back is
engine.models.manifests (what a checkpoint is) and engine.models.loading (loading it as a reward model).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from engine.models.manifests import ADAPTER_WEIGHTS, MANIFEST, TMP_MARK, file_sha256, find_manifests, read_manifest


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


def save_checkpoint(model, folder: Path, manifest: dict) -> dict:
    """Save a PEFT model's adapter and head plus the manifest into `folder`, atomically. Returns the manifest."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}{TMP_MARK}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    # The embeddings are never trained; a resized one (an added pad token) is rebuilt when loading.
    model.save_pretrained(tmp, save_embedding_layers=False)
    manifest = {**manifest, "adapter_sha256": file_sha256(tmp / ADAPTER_WEIGHTS), "saved_at": time.time()}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    if folder.exists():  # a re-run into the same folder replaces its old checkpoint
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return manifest


def list_checkpoint_manifests(run_dir: Path) -> list[dict]:
    """Every checkpoint of a run folder as its manifest plus `path`, ordered by base, variant and step."""
    rows = []
    for folder in find_manifests(Path(run_dir)):
        manifest = read_manifest(folder)
        rows.append({**manifest, "path": str(folder)})
    return sorted(rows, key=lambda r: (r.get("base_index", 0), r.get("variant_index", 0), r.get("step", 0)))
