"""Settings of a reward-model training comparison: one dataclass drives the CLI and the app's form.

Method (after Christian et al., ICLR 2026, "Reward Models Inherit Value Biases from Pretraining"):
Bradley-Terry reward models (loss -log sigmoid(r_chosen - r_rejected)) are trained from several
base models on identical preference pairs with identical hyper-parameters, seed and data order (a
control the authors' own runs did not have: their held-out split was unseeded); checkpoints along
the way are scored on the Big Two (Agency vs Communion) words to see whether each keeps its base
model's value bias.

Field names are the libraries' own: TRL's RewardConfig (learning_rate, num_train_epochs, max_steps,
per_device_train_batch_size, gradient_accumulation_steps, lr_scheduler_type, max_grad_norm,
gradient_checkpointing, seed, max_length, run_name), TRL's ModelConfig for LoRA and loading (lora_r,
lora_alpha, lora_dropout, lora_target_modules, dtype); the rest are valuescope's (which bases, which
pairs, how checkpoints are scored; warmup_ratio, which transformers 5 no longer has, is given to TRL as
a fractional warmup_steps). engine/training/loop.py passes the RewardConfig fields through under the
same names; `trainer_args` passes any other RewardConfig field. The command line parses the three
classes with TRL's own parser (engine/training/arguments.py); the app's form is generated from this
dataclass (engine.config_fields); both end in `preset_config`.

Presets are YAML files beside this module (presets/<name>.yaml), read by `preset_config`; a value
given overrides the preset's:
- "paper": the authors' recipe (LoRA r=32, alpha=64, dropout 0.05 on q/k/v/o with the score head
  trained in full; AdamW lr 1e-5, cosine schedule, warmup 3%, max grad norm 5; 16 pairs per optimiser
  step (4 x 4); 2 epochs; max length 1024; bf16; Skywork-Reward-Preference-80K-v0.2 with a 0.5%
  held-out split; checkpoints every 1000 steps, plus step 0, powers of two and the last, which the
  authors' released results do not have), with valuescope's choices where they differ: pairs longer
  than max_length dropped, LoRA in fp32, one BOS, a pinned template date;
- "paper-authors": the same with the authors' own choices (docs/training.md, one by one): pairs cut
  to their first max_length tokens, LoRA in the base's bf16, two BOS, seed 42, Qwen2.5-3B-Instruct
  as a third base;
- "cpu-demo": the same procedure shrunk to run in minutes per base on 2 CPU cores with the two
  embedded models (a few hundred short HH-RLHF pairs, a larger learning rate, lexicon words only).

This module imports nothing heavy (no torch), so the app can build its form without loading models.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.configs import check_seed, setting
from engine.paths import REPO_ROOT
from engine.errors import InputError

PRESET_DIR = Path(__file__).with_name("presets")
HUB_DATASETS = ("Skywork/Skywork-Reward-Preference-80K-v0.2", "llm-blender/Unified-Feedback", "Anthropic/hh-rlhf")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
CANDIDATES = ("lexicon", "vocab")
OVERLONG = ("drop", "truncate_left", "truncate_right")
ADAPTER_DTYPES = ("float32", "base")
PRESET_NAMES = ("cpu-demo", "paper", "paper-authors")


@dataclass
class TrainConfig:
    # Defaults are the "paper" preset; `preset_config("cpu-demo")` gives the CPU settings.
    bases: list[str] = setting(["google/gemma-2-2b-it", "meta-llama/Llama-3.2-3B-Instruct"],
                          "Base models to train from (registry aliases, hub ids or local folders); each gets the same "
                          "data, seed and settings.")
    data: str = setting("Skywork/Skywork-Reward-Preference-80K-v0.2",
                        "Preference pairs: a local .jsonl/.jsonl.gz/.json/.csv/.parquet file (chosen/rejected, "
                       "optional prompt; plain text or chat messages) or a hub dataset id: "
                       + ", ".join(HUB_DATASETS) + ".")
    preset: str = setting("paper", "Named settings this run started from (cpu-demo, paper or paper-authors); "
                                 "options given explicitly override it.", PRESET_NAMES)
    run_name: str | None = setting(None, "Name used in checkpoint aliases (rm-<run>-<base>-step<N>); default: the "
                                    "output folder's name.")
    pairs: list[int] = setting([0], "Train on the first K pairs (after the held-out split); 0 = all. Several values "
                               "(e.g. 100,200,400) train one model per value: a data-quantity ablation.")
    every_k: list[int] = setting([1], "Keep every k-th pair (deterministic; the paper's Unified-Feedback ablation used "
                                 "k=64,32,16,8); several values train one model per value.")
    eval_pairs: int = setting(0, "Held-out pairs for preference accuracy (drawn with the seed before any subsetting, "
                            "the same for every base); 0 = use eval_fraction.")
    eval_fraction: float = setting(0.005, "Held-out share when eval_pairs is 0 (the authors: 0.5%).")
    max_steps: int = setting(0, "Stop after this many optimiser steps; 0 = run all epochs.")
    num_train_epochs: float = setting(2.0, "Passes over the training pairs.")
    learning_rate: float = setting(1e-5, "Peak learning rate (AdamW).")
    lora_r: int = setting(32, "LoRA rank.")
    lora_alpha: int = setting(64, "LoRA alpha (scale = alpha / r).")
    lora_dropout: float = setting(0.05, "Dropout on the LoRA input.")
    lora_target_modules: list[str] = setting(["q_proj", "k_proj", "v_proj", "o_proj"],
                                   "Linear layers that get LoRA adapters; the score head is always trained in full.")
    per_device_train_batch_size: int = setting(4, "Pairs per forward pass.")
    gradient_accumulation_steps: int = setting(4, "Forward passes per optimiser step (pairs per step = per_device_train_batch_size x "
                                              "gradient_accumulation_steps).")
    max_length: int = setting(1024, "Longest conversation in tokens, counted with each base's own tokenizer and template.")
    overlong: str = setting("drop", "What to do with a pair longer than max_length for any base: drop it (the same "
                               "pairs are dropped for every base; this selects shorter pairs), keep its last "
                               "max_length tokens (truncate_left: the replies and the closing survive) or its first "
                               "max_length tokens (truncate_right: the authors' rule, every pair kept; the reward of a "
                               "cut pair is read inside the reply).", OVERLONG)
    bad_rows: str = setting("skip", "Rows with an empty reply, identical chosen and rejected, or a conversation the "
                               "template rejects: skip them (counted and reported) or stop with an error.",
                       ("skip", "error"))
    warmup_ratio: float = setting(0.03, "Share of steps with a linear warm-up.")
    max_grad_norm: float = setting(5.0, "Gradient clipping norm.")
    lr_scheduler_type: str = setting("cosine", "Learning-rate schedule.", SCHEDULERS)
    eval_data: str = setting("", "Held-out pairs from another source instead of a share of `data`: a local file or "
                             "<hub id>:<split>, e.g. llm-blender/Unified-Feedback:val (the authors' Unified-Feedback "
                             "setup: every k-th pair is then taken over the whole of `data`).")
    seed: int = setting(0, "Seed of the held-out split, the score head, the LoRA init and the data order.")
    seeds: list[int] = setting([], "Train every base once per seed (score head, LoRA init and data order; the "
                               "held-out pairs stay those of `seed`), so trajectories show the spread across "
                               "seeds; empty = `seed` only.")
    swapped_control: bool = setting(False, "Also train every base on the same pairs with chosen and rejected "
                                    "exchanged: a control for the movement that training alone causes.")
    adapter_dtype: str = setting("float32", "dtype of the LoRA weights: float32 (PEFT >= 0.12, the LoRA trains "
                                 "fully) or base (the base weights' dtype, bf16 on GPU, as the authors' PEFT 0.10 did; "
                                 "updates below half a bf16 ulp are lost).", ADAPTER_DTYPES)
    add_special_tokens: bool = setting(False, "Tokenise the rendered chat text with the tokenizer's special tokens "
                                       "too (the authors' encode_plus default): a second BOS where the template "
                                       "already writes one. Off: one BOS, as the token search scores.")
    template_date: str = setting("26 Jul 2024", "Date the chat template writes where it asks for one (Llama 3.2: "
                                 "'Today Date: ...'), pinned so that training and scoring on different days see the "
                                 "same text (default: the template's own fallback date); empty = the day of rendering.")
    checkpoint_every: int = setting(1000, "Save a checkpoint every N steps (plus step 0, powers of two and the last); "
                                     "0 = only those.")
    quantization: str = setting("none", "Load the base in 4-bit (QLoRA; CUDA and bitsandbytes only).", ("none", "4bit"))
    gradient_checkpointing: bool = setting(True, "Recompute activations in the backward pass (less memory, slower).")
    dtype: str = setting("auto", "Weights dtype: auto = bfloat16 on GPU, float32 on CPU.", ("auto", "float32", "bfloat16"))
    device: str | None = setting(None, "cpu, cuda or cuda:N; default cuda when available.")
    prompts: list[str] = setting(["greatest_ever_one"], "Prompts (battery keys or text) each checkpoint is scored on.")
    candidates: str = setting("vocab", "Replies scored per checkpoint: lexicon = the Big Two nouns as words (fast); "
                                  "vocab = every vocabulary token matched to the expanded Big Two (after the paper; its "
                                  "ranks are per token variant, these per word).",
                         CANDIDATES)
    trainer_args: dict = setting({}, "Further TRL RewardConfig / transformers TrainingArguments options as JSON, e.g. "
                                '{"center_rewards_coefficient": 0.01}.')
    out: str | None = setting(None, "Output folder (checkpoints, logs, tables); default <home>/trained/<run_name>.")


def _read_preset(name: str) -> dict:
    """presets/<name>.yaml; a relative `data` path there is relative to the repository."""
    values = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8")) or {}
    data = values.get("data")
    if data and str(data).startswith(("./", "../")):
        values["data"] = str((REPO_ROOT / data).resolve())
    return values


PRESETS: dict[str, dict] = {name: _read_preset(name) for name in PRESET_NAMES}


def preset_config(name: str, **overrides) -> TrainConfig:
    """The preset's settings, then `overrides` (field name -> value); unknown names are an error."""
    if name not in PRESETS:
        raise InputError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"Unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
    config = TrainConfig(**{**PRESETS[name], "preset": name, **overrides})
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    """Cheap checks that fail before any model loads, each in one line."""
    if not config.bases or any(not str(b).strip() for b in config.bases):
        raise InputError("No base model given: name at least one (--base A,B).")
    if len(set(config.bases)) != len(config.bases):
        raise InputError(f"A base model is listed twice: {', '.join(config.bases)}.")
    if not str(config.data).strip():
        raise InputError("No preference data given: a local file or a hub dataset id (--data).")
    for name in ("pairs", "every_k"):
        values = getattr(config, name)
        if not values or any(int(v) < (0 if name == "pairs" else 1) for v in values):
            raise InputError(f"{name} must list {'non-negative' if name == 'pairs' else 'positive'} integers, got {values}.")
    positive = ("per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "lora_r", "lora_alpha")
    for name in positive:
        if getattr(config, name) < 1:
            raise InputError(f"{name} must be at least 1, got {getattr(config, name)}.")
    if not 0 < config.learning_rate < 1:
        raise InputError(f"learning_rate must be between 0 and 1, got {config.learning_rate}.")
    if config.max_steps < 0 or config.num_train_epochs <= 0 or config.checkpoint_every < 0 or config.eval_pairs < 0:
        raise InputError("max_steps, checkpoint_every and eval_pairs must be >= 0 and num_train_epochs > 0.")
    if not 0 <= config.eval_fraction < 1 or not 0 <= config.warmup_ratio < 1 or not 0 <= config.lora_dropout < 1:
        raise InputError("eval_fraction, warmup_ratio and lora_dropout must lie in [0, 1).")
    if len(set(config.seeds)) != len(config.seeds):
        raise InputError(f"A seed is listed twice: {config.seeds}.")
    if not config.prompts:
        raise InputError("Give at least one prompt to score the checkpoints on.")
    check_seed(config.seed, "seed")
    for f in dataclasses.fields(TrainConfig):
        choices = f.metadata.get("choices")
        if choices and getattr(config, f.name) not in choices:
            raise InputError(f"{f.name} must be one of {', '.join(choices)}, got {getattr(config, f.name)!r}.")


def describe(config: TrainConfig) -> dict:
    """The settings as plain JSON-able values (recorded with every checkpoint and run)."""
    return dataclasses.asdict(config)
