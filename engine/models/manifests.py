"""Trained reward-model checkpoints on disk: their manifest, where they are, what identifies them.

A checkpoint folder (written by engine/training) holds what PEFT saves (`adapter_config.json`,
`adapter_model.safetensors`: the LoRA matrices and the whole score head) and `valuescope-model.json`
(alias, base, step, settings, held-out accuracy). Folders being written carry TMP_MARK in their name
and are skipped. No torch here: the registry lists checkpoints without loading anything.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from engine.errors import InputError

MANIFEST = "valuescope-model.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
TMP_MARK = ".tmp-"  # temporary checkpoint folders contain this; scanners skip them


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


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
        raise InputError(f"{folder}: adapter_config.json names no base model (base_model_name_or_path).")
    return base
