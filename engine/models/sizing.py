"""Will a model fit? Parameter counts read from weight headers (no weights loaded) against free memory."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import psutil

from engine.errors import ModelTooLargeError
from engine.models.registry import ModelSpec

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "bfloat16-mixed": 6}  # mixed: float32 + bf16 copies
_QUANTIZED_BYTES = {"8bit": 1.0, "4bit": 0.55}


def _safetensors_params(path: Path) -> int:
    """Parameters declared in a safetensors header (reads the header only)."""
    with path.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        if size > 100_000_000:
            raise ValueError(f"{path.name}: not a safetensors file")
        header = json.loads(fh.read(size))
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for dim in info.get("shape", []):
            count *= int(dim)
        total += count
    return total


def estimate_parameters(spec: ModelSpec) -> int | None:
    """Parameter count from local weight headers or the hub's safetensors metadata; None when unknown
    (embedded GGUF models are small; offline hub ids cannot be asked)."""
    if spec.source.startswith("gguf-"):
        return None
    folder = Path(spec.source)
    if folder.is_dir():
        files = sorted(folder.glob("*.safetensors"))
        if files:
            try:
                return sum(_safetensors_params(f) for f in files)
            except (OSError, ValueError, struct.error):
                return None
        weights = list(folder.glob("*.bin")) + list(folder.glob("*.pt"))
        return sum(f.stat().st_size for f in weights) // 2 if weights else None  # fp16 checkpoints, roughly
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return None
    try:
        from huggingface_hub import get_safetensors_metadata  # huggingface_hub: only hub models need it

        meta = get_safetensors_metadata(spec.source, revision=spec.revision)
        return int(sum(meta.parameter_count.values()))
    except Exception:  # no network, gated repo, no safetensors: the load itself will say more
        return None


def check_fits(spec: ModelSpec, dtype: str, quantization: str, device: str | None) -> None:
    """Raise ModelTooLargeError when the weights alone would not fit the free memory of the device."""
    params = estimate_parameters(spec)
    if not params:
        return
    import torch  # torch: the free memory of a device

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    on_cpu = device == "cpu"
    per = _QUANTIZED_BYTES.get(quantization) or _DTYPE_BYTES.get(dtype, 4 if on_cpu else 2)
    need = params * per * 1.15  # weights plus buffers and activations of a small batch
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        where = f"the GPU ({device})"
    else:
        free = psutil.virtual_memory().available
        where = "this machine's memory"
    if need > free:
        raise ModelTooLargeError(
            f"Model {spec.alias!r} is too large for this machine: about {params / 1e9:.1f} B parameters need "
            f"{need / 2**30:.1f} GiB in {dtype if quantization == 'none' else quantization}, but {where} has "
            f"{free / 2**30:.1f} GiB free. Try 4-bit quantisation on a GPU, a smaller model, or the command "
            "line on a bigger machine."
        )
