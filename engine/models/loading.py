"""Load reward models and causal LMs from the hub, a local folder or an embedded GGUF package."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import socket
import struct
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

import torch
from huggingface_hub import constants, try_to_load_from_cache
from safetensors import SafetensorError
from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer,
                          BitsAndBytesConfig)

from engine.models.cpu_memory import keep_freed_memory
from engine.models.gguf import converted_dir
from engine.models.hub_code import check_hub_config, public_server
from engine.models.manifests import adapter_revision, base_name_of, check_checkpoint
from engine.models.registry import CAUSAL_LM, REGISTRY, ModelSpec, resolve_spec
from engine.models.precision import MIXED, bf16_linear_weights
from engine.models.precision_checks import auto_cpu_dtype
from engine.options import DTYPES, MODES, QUANTIZATIONS, REWARD_HEAD_NAMES
from engine.errors import InputError, ModelLoadError, UserError, is_out_of_memory

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
# What unreadable weight files raise (a refused pickle, a truncated or foreign file); anything else is a bug.
UNREADABLE_WEIGHTS = (OSError, ValueError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError, struct.error,
                      SafetensorError)


@dataclass
class LoadedModel:
    spec: ModelSpec
    mode: str  # "reward": scalar head; "logprob": next-token log-probabilities
    model: torch.nn.Module
    tokenizer: object
    revision: str  # exact weights: hub commit, package version or file hash
    tokenizer_hash: str
    head_status: str  # "trained", "untrained (random, seed N)" or "n/a" for log-prob mode
    dtype: str
    quantization: str
    device: str
    weights_path: str  # where the weights were read from
    load_seconds: float
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one forward pass at a time
    attention: str = "default"  # set by engine.scoring when it routes attention through the shared prefix
    # bfloat16-mixed (engine.models.precision): Linear name -> (module, float32 weight, bfloat16 weight)
    bf16_weights: dict = field(default_factory=dict, repr=False)

    @property
    def backbone(self) -> torch.nn.Module:
        return getattr(self.model, self.model.base_model_prefix)

    @property
    def head(self) -> torch.nn.Module:
        """Maps final hidden states to scores (reward head) or logits (LM head)."""
        if self.mode == "logprob":
            return self.model.get_output_embeddings()
        # score_reader "logits0" = logits[:, 0] of a one-label head, whatever the head is called
        for name in ("score", "classifier", "v_head"):
            if hasattr(self.model, name):
                return getattr(self.model, name)
        raise ModelLoadError(f"Cannot find the reward head of {self.spec.alias} (score_reader={self.spec.score_reader!r}).")

    @property
    def max_length(self) -> int | None:
        """Longest sequence the model reads (its position embeddings), None when it does not say."""
        return getattr(self.model.config, "max_position_embeddings", None)

    @property
    def vocab_size(self) -> int:
        return min(len(self.tokenizer), self.model.get_input_embeddings().num_embeddings)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str, option: str = "--device") -> str:
    """`device` if this machine has it (cpu, cuda, cuda:N, mps), else an InputError naming `option`."""
    name = (device or "").strip().lower()
    if name == "cpu":
        return name
    index = re.fullmatch(r"cuda(?::(\d+))?", name)
    if index:
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA device is visible"
            raise InputError(f"{option} {device}: {why}; use {option} cpu.")
        count, wanted = torch.cuda.device_count(), int(index.group(1) or 0)
        if wanted >= count:
            raise InputError(f"{option} {device}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}.")
        return name
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"{option} {device}: Apple's MPS is not available here; use {option} cpu.")
        return name
    raise InputError(f"{option} {device}: unknown device; use cpu, cuda or cuda:N.")


def _weights_failure(spec: ModelSpec, location: str, exc: Exception) -> ModelLoadError:
    """One line naming the weight file(s) that could not be read, and why."""
    folder = Path(location)
    files = sorted(p.name for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES) if folder.is_dir() else []
    named = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "") if files else location
    if type(exc).__name__ == "UnpicklingError":
        why = ("a pickle that holds more than tensors, which torch refuses to load (weights_only); convert it to "
               "safetensors where you trust its source")
    else:
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else 'unreadable'}"
    return ModelLoadError(f"Cannot load the weights of {spec.alias!r} ({named}): {why}.")


def resolve_dtype(dtype: str, device: str, spec: ModelSpec | None = None, home=None) -> tuple[torch.dtype, bool]:
    """(weights dtype, whether matmuls run in bfloat16-mixed: engine.models.precision)."""
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16, False  # the norm for reward models on GPU
        # a CPU: bfloat16-mixed only where it has bf16 units and this model passed the agreement check
        dtype = auto_cpu_dtype(spec, home)[0] if spec is not None else "float32"
    if dtype == MIXED:
        return torch.float32, True
    if dtype not in DTYPES:
        raise InputError(f"Unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}.")
    return getattr(torch, dtype), False


def tokenizer_hash(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _quantization_config(quantization: str, dtype: torch.dtype):
    if quantization == "none":
        return None
    if quantization not in QUANTIZATIONS:
        raise InputError(f"Unknown quantisation {quantization!r}; choose one of {', '.join(QUANTIZATIONS)}.")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise ModelLoadError("4/8-bit loading needs bitsandbytes: pip install bitsandbytes") from exc
    if quantization == "8bit":
        warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")  # once per call otherwise
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                              bnb_4bit_use_double_quant=True)


def _weights_location(spec: ModelSpec, home) -> tuple[str, str | None, dict]:
    """(path or hub id, revision if already known, extra from_pretrained kwargs)."""
    if spec.source.startswith(("gguf-package:", "gguf-file:")):
        path, revision = converted_dir(spec, home)
        return str(path), revision, {}
    if Path(spec.source).is_dir():
        config = Path(spec.source) / "config.json"
        digest = hashlib.sha256(config.read_bytes()).hexdigest()[:12] if config.exists() else "noconfig"
        return spec.source, f"local:{digest}", {}
    if not _in_hub_cache(spec) and not _hub_reachable():
        # Fail in seconds: the hub client would otherwise retry for about a minute.
        raise _explain_failure(spec, "not in the local hub cache, and the hub cannot be reached from this machine")
    if public_server():
        for name in ("config.json", "tokenizer_config.json"):  # small files; the weights come later
            check_hub_config(spec.alias, _hub_json(spec, name))
    return spec.source, None, {"revision": spec.revision}


def _hub_json(spec: ModelSpec, filename: str) -> dict:
    """One JSON file of a hub repository (downloaded alone, or from the hub cache); {} when it has none."""
    from huggingface_hub import hf_hub_download  # huggingface_hub: only hub models need it
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = hf_hub_download(spec.source, filename, revision=spec.revision)
    except EntryNotFoundError:
        return {}
    except Exception as exc:  # noqa: BLE001 - unreachable, gated, no such repo: from_pretrained says which
        if filename == "config.json":
            raise _explain_failure(spec, exc=exc) from exc
        return {}
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise _explain_failure(spec, exc=exc) from exc


def load_tokenizer(spec: ModelSpec, home=None):
    """The tokenizer of `spec` without its weights (embedded models are converted first)."""
    location, _, kwargs = _weights_location(spec, home)
    try:
        return AutoTokenizer.from_pretrained(location, trust_remote_code=spec.trust_remote_code, **kwargs)
    except (OSError, ValueError) as exc:
        raise _explain_failure(spec, exc=exc) from exc


def _in_hub_cache(spec: ModelSpec) -> bool:
    try:
        found = try_to_load_from_cache(spec.source, "config.json", revision=spec.revision)
    except Exception:  # malformed repo ids are reported by from_pretrained
        return False
    return isinstance(found, str)


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def _explain_failure(spec: ModelSpec, hub_note: str | None = None, exc: Exception | None = None) -> ModelLoadError:
    """One message naming every place a model was looked for, and why the last one failed."""
    if hub_note is None and os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        hub_note = "HF_HUB_OFFLINE is set"
    tried = [
        f"registry alias (known: {', '.join(sorted(REGISTRY))})",
        f"local folder {spec.source!r} (not found)" if not Path(spec.source).exists() else f"local folder {spec.source!r}",
        f"Hugging Face hub id {spec.source!r}" + (f" ({hub_note})" if hub_note else ""),
    ]
    last = f" Last error: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}" if exc is not None else ""
    return ModelLoadError(f"Could not load model {spec.alias!r}. Tried: " + "; ".join(tried) + "." + last)


def _seed_head(model, config, seed: int) -> None:
    """Give a missing reward head the same random weights whatever the dtype, device or quantisation,
    so that runs of one untrained backbone stay comparable (transformers' own init differs by dtype)."""
    head = next((getattr(model, n) for n in REWARD_HEAD_NAMES if hasattr(model, n)), None)
    if head is None or not isinstance(getattr(head, "weight", None), torch.nn.Parameter):
        return
    generator = torch.Generator().manual_seed(seed)
    std = getattr(config, "initializer_range", 0.02)
    weights = torch.randn(head.weight.shape, generator=generator, dtype=torch.float32) * std
    with torch.no_grad():
        head.weight.copy_(weights.to(head.weight.device, head.weight.dtype))
        if getattr(head, "bias", None) is not None:
            head.bias.zero_()


def load_model(spec: ModelSpec, mode: str | None = None, dtype: str = "auto", quantization: str = "none",
               device: str | None = None, home=None, head_seed: int = 0) -> LoadedModel:
    """Load `spec` as a reward model ("reward") or a causal LM ("logprob").

    A causal LM loaded in reward mode gets a one-label sequence-classification head; when the
    checkpoint has no trained head the head is random (seeded) and reported as untrained.
    """
    # Trained reward-model checkpoints (engine/training): a folder with adapter_config.json holds a
    # LoRA adapter + score head; its base loads through this function, then the adapter is applied as trained.
    if (Path(spec.source) / "adapter_config.json").is_file():
        return load_adapter_checkpoint(spec, mode, dtype, quantization, device, home, head_seed)
    mode = mode or ("logprob" if spec.kind == CAUSAL_LM else "reward")
    if mode not in MODES:
        raise InputError(f"Unknown mode {mode!r}; choose reward or logprob.")
    device = check_device(device, "device") if device else default_device()
    torch_dtype, mixed = resolve_dtype(spec.dtype_for(dtype), device, spec, home)
    if spec.needs_remote_code and not spec.trust_remote_code:
        raise InputError(f"{spec.alias} runs its repository's own code to score: pass --trust-remote-code "
                         f"(or tick \"Trust remote code\") if you trust {spec.source}.")
    started = time.perf_counter()
    try:
        location, revision, kwargs = _weights_location(spec, home)
        kwargs["trust_remote_code"] = spec.trust_remote_code
        tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
        config = AutoConfig.from_pretrained(location, **kwargs)
    except UserError:  # a refusal or a failure already explained
        raise
    except (OSError, ValueError, EnvironmentError) as exc:
        raise _explain_failure(spec, exc=exc) from exc
    revision = revision or getattr(config, "_commit_hash", None) or spec.revision or "unknown"
    quant_config = _quantization_config(quantization, torch_dtype)
    load_kwargs = dict(kwargs, dtype=torch_dtype, quantization_config=quant_config)
    if quant_config is not None and device.startswith("cuda"):
        load_kwargs["device_map"] = {"": device}
    try:
        if mode == "reward":
            if config.pad_token_id is None and tokenizer.pad_token_id is not None:
                config.pad_token_id = tokenizer.pad_token_id
            if spec.num_labels is not None:  # None: a multi-output head keeps its width (read as logits[:, 0])
                config.num_labels = spec.num_labels  # a reward is one scalar; a trained 1-label head loads as is
            model, info = AutoModelForSequenceClassification.from_pretrained(
                location, config=config, output_loading_info=True, **load_kwargs)
            head_missing = any(k.split(".")[0] in REWARD_HEAD_NAMES for k in info.get("missing_keys", []))
            head_status = f"untrained (random, seed {head_seed})" if head_missing else "trained"
            if head_missing:
                _seed_head(model, config, head_seed)
        else:
            model = AutoModelForCausalLM.from_pretrained(location, config=config, **load_kwargs)
            head_status = "n/a"
    except UserError:
        raise
    except UNREADABLE_WEIGHTS as exc:  # one line naming the file, not a traceback
        if is_out_of_memory(exc):
            raise
        raise _weights_failure(spec, location, exc) from exc
    if quant_config is None:
        model.to(device)
    if device == "cpu":
        keep_freed_memory()
    model.eval().requires_grad_(False)
    lm = LoadedModel(
        spec=spec, mode=mode, model=model, tokenizer=tokenizer, revision=revision,
        tokenizer_hash=tokenizer_hash(tokenizer), head_status=head_status,
        dtype=MIXED if mixed else str(torch_dtype).replace("torch.", ""), quantization=quantization, device=device,
        weights_path=location, load_seconds=time.perf_counter() - started,
    )
    if mixed and quant_config is None:
        lm.bf16_weights = bf16_linear_weights(model, lm.head)  # the head (tied or not) stays float32
    return lm


def pin_template_date(tokenizer, date: str) -> None:
    """Make the chat template write `date` wherever it asks for `date_string` (Llama 3.x: "Today Date: ..."),
    whatever day it is rendered on; the template's text is otherwise unchanged."""
    template = getattr(tokenizer, "chat_template", None)
    if not date or not isinstance(template, str) or "date_string" not in template or template.startswith(_PIN):
        return
    tokenizer.chat_template = _PIN + "{%- set date_string = " + json.dumps(date) + " -%}" + template


_PIN = "{#- valuescope: pinned date -#}"


# ---- trained reward-model checkpoints (engine/training) -------------------------------------------
# Load a trained reward-model checkpoint (LoRA adapter + score head, engine/training) as a LoadedModel:
# its base loads as a reward model through the engine's usual path (registry alias, converted GGUF folder,
# hub id or local folder), then the adapter is applied, so token search and the Runner score it like any
# trained reward model.
#
# A checkpoint is scored as it was trained: dtype "auto" and quantisation "none" mean the ones recorded in
# its manifest (`trained_as`: a 4-bit QLoRA adapter on its 4-bit base, a CPU fp32 run in fp32), the
# adapter keeps the dtype it trained in, and it stays unmerged: merging adds the LoRA delta into bf16
# weights, which rounds part of it away (peft#1388), so a merged model is not the function that was
# evaluated at training time. `merge=True` merges (faster; exact only in fp32). An added pad token
# ("[PAD]", engine/training/formatting.py) is added again and the embeddings resized the same way, and
# a pinned template date (Llama 3.2's "Today Date") is pinned again.
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
