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
import struct
from pathlib import Path

from engine.errors import InputError, ModelLoadError

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


def damaged_checkpoint(folder, what: str) -> ModelLoadError:
    return ModelLoadError(f"The trained checkpoint {folder} is damaged: {what}. Train it again, or delete the folder.")


def _json_object(path: Path, folder) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise damaged_checkpoint(folder, f"{path.name} is not readable JSON ({str(exc).splitlines()[0][:120]})") from exc
    if not isinstance(value, dict):
        raise damaged_checkpoint(folder, f"{path.name} holds no settings object")
    return value


def read_manifest(folder: Path) -> dict:
    """The checkpoint's manifest ({} when it has none); a ModelLoadError when it is not readable."""
    path = Path(folder) / MANIFEST
    return _json_object(path, folder) if path.is_file() else {}


def _safetensors_complete(path: Path, folder) -> None:
    """The file's header reads and its tensors end where the file does (a truncated file does not)."""
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            (header_len,) = struct.unpack("<Q", fh.read(8))
            if header_len > size:
                raise ValueError("header longer than the file")
            header = json.loads(fh.read(header_len))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise damaged_checkpoint(folder, f"{path.name} is not a safetensors file ({exc})") from exc
    if 8 + header_len + end != size:
        raise damaged_checkpoint(folder, f"{path.name} is cut short ({size:,} of {8 + header_len + end:,} bytes)")


def check_checkpoint(folder, verify_hash: bool = False) -> dict:
    """Check a trained checkpoint folder before anything loads (seconds, not the 30 s a base model takes to
    fail on it): a readable manifest and adapter config, adapter weights present and complete, and with
    `verify_hash` their sha256 as the manifest recorded it. Returns the manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    config = _json_object(folder / ADAPTER_CONFIG, folder)
    if "peft_type" not in config:
        raise damaged_checkpoint(folder, f"{ADAPTER_CONFIG} names no adapter type (peft_type)")
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise damaged_checkpoint(folder, f"its adapter weights ({ADAPTER_WEIGHTS}) are missing")
    _safetensors_complete(weights, folder)
    if verify_hash and manifest.get("adapter_sha256") and file_sha256(weights) != manifest["adapter_sha256"]:
        raise damaged_checkpoint(folder, f"{ADAPTER_WEIGHTS} differs from the weights it was saved with")
    return manifest


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
