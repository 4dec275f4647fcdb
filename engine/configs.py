"""One settings dataclass per command. Each field's metadata (help, choices, and how it appears on
the command line) drives both the CLI parser and the app's forms, so the two cannot drift apart."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from engine.errors import InputError
from engine.options import (DEFAULT_VARIANT_POLICY, DTYPES, FRAMINGS, IMPORT_LAYOUTS, MODEL_KINDS, MODES,
                            QUANTIZATIONS, SCORE_KINDS, TABLE_FORMATS, TEMPLATES, VARIANT_POLICIES, VOCAB_FILTERS)


def _f(default, help: str, choices: tuple | None = None, **cli):
    """A field with its help text and choices. `cli` keys: positional, required, many ("+": one or more
    values; "append": the flag repeated), flag (another flag name)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, "choices": choices, **cli})
    return field(default=default, metadata={"help": help, "choices": choices, **cli})


@dataclass
class SearchConfig:
    model: str = _f("smollm2-135m-instruct", "Registry alias, Hugging Face id, local folder or .gguf file.")
    mode: str | None = _f(None, "reward: scalar reward head; logprob: log-probability of the reply. "
                                "Default: reward for reward models, logprob for causal LMs.", MODES)
    template: str = _f("auto", "How prompt and reply are framed: auto (the model's chat template, else the "
                               "registry's choice), chat, gemma_turns or plain.", ("auto", *TEMPLATES))
    dtype: str = _f("auto", "Weights dtype: auto = float32 on CPU, bfloat16 on GPU.", DTYPES)
    quantization: str = _f("none", "bitsandbytes quantisation: none, 8bit or 4bit (NF4).", QUANTIZATIONS)
    vocab_filter: str = _f("all", "Vocabulary search: all = every token id; alpha = only word-initial tokens: "
                                  "a space then ASCII letters, e.g. ' love' (faster, for interactive use).", VOCAB_FILTERS)
    batch_size: int | None = _f(None, "Candidates per forward pass (at least 1); default adapts to free memory.")
    device: str | None = _f(None, "cpu, cuda or cuda:N; default cuda when available.")
    revision: str | None = _f(None, "Hub revision (commit or tag) to pin; recorded with every run.")
    family: str | None = _f(None, "Model family for analyses (llama, gemma, ...); default from the registry.")
    trust_remote_code: bool = _f(False, "Run the model repository's own Python code. Off unless you trust it.")
    head_seed: int = _f(0, "Seed of the random head when a causal LM is used as an (untrained) reward model.")

    def __post_init__(self):
        # Checked here, before any work: 0 used to mean "auto" and a negative size failed mid-run.
        if self.batch_size is not None and (isinstance(self.batch_size, bool) or self.batch_size < 1):
            raise InputError(f"--batch-size {self.batch_size}: give at least 1, or leave it out to adapt to free memory.")


@dataclass
class AnalyzeConfig:
    lexicon: str = _f("big_two_nouns", "Built-in lexicon name (big_two_nouns, big_two_expanded, mfd2.0, ...) or a "
                                       ".dic/.dicx/.csv file.")
    by: str = _f("family", "Grouping for the comparison.", ("family",))
    models: list[str] | None = _f(None, "Only these model ids.", many="+")
    families: list[str] | None = _f(None, "Only these families; with two, the first is family A of the comparison.",
                                    many="+")
    prompts: list[str] | None = _f(None, "Only these prompt keys (default: every prompt with completed runs).", many="+")
    candidates: list[str] | None = _f(None, "Only runs with these candidate sets (vocab, words, lexicon:<name>).",
                                      many="+")
    variants: str = _f(DEFAULT_VARIANT_POLICY, "Tokens that normalise to the same word: rank all variants, or one "
                                               "score per word (mean or max; mean does not favour words with many "
                                               "variants).", VARIANT_POLICIES)
    word_scope: str = _f("lexicon", "Words for Kendall's tau and top/bottom words: lexicon words only or every word.",
                         ("lexicon", "all"))
    seed: int = _f(0, "Seed of the permutation tests.")
    resamples: int = _f(9999, "Permutation resamples per panel (at least 1).")
    top_k: int = _f(10, "Best and worst words listed per (model, framing) (at least 1).")
    out: str | None = _f(None, "Folder for the tables (median_ranks, family_summary, mixed_model, ...).")
    format: str = _f("csv", "Table format for --out.", TABLE_FORMATS)


@dataclass
class ImportConfig:
    path: str = _f("", "A .csv/.parquet file, or a directory of them (one file per model).", positional=True)
    family: str = _f("", "Model family, e.g. llama or gemma (the analysis compares families).", required=True)
    model: str | None = _f(None, "Model name (default: the file's stem; leave out for a directory of several files).")
    framing: list[str] | None = _f(None, f"Framing ({'|'.join(FRAMINGS)}) of prompt keys outside the 54-prompt "
                                         "battery: one for all, or KEY=FRAMING per key; repeatable. Battery keys "
                                         "take their framing from the key.", many="append")
    layout: str = _f("auto", "wide: `response` then one column per prompt key; long: response, prompt, score; "
                             "auto: detect.", IMPORT_LAYOUTS)
    score_kind: str = _f("reward", "What the scores are: a reward model's rewards or a causal LM's log-probabilities.",
                         SCORE_KINDS)
    model_kind: str | None = _f(None, "Default: from the score kind.", MODEL_KINDS)
    revision: str | None = _f(None, "Model revision to record, if known.")
    replace: bool = _f(False, "Overwrite this model's earlier imported scores for the same prompts.")


@dataclass
class ImplicitConfig:
    model_a: list[str] = _f([], "Model A (pi_1): registry alias, hub id, local folder or .gguf file. Repeat for "
                                "more pairs.", many="append", required=True)
    model_b: list[str] = _f([], "Model B (pi_2), paired with --model-a in order.", many="append", required=True)
    template_a: list[str] | None = _f(None, "Template of model A (one for all pairs, or one per pair). Default auto: "
                                            "plain (the raw prompt) for pretrained models, chat for instruct ones.",
                                      ("auto", *TEMPLATES), many="append")
    template_b: list[str] | None = _f(None, "Template of model B, as for model A.", ("auto", *TEMPLATES), many="append")
    prompt: str | None = _f(None, "Prompt text, or a battery key such as greatest_ever_one.")
    battery: bool = _f(False, "All 54 prompts of the battery (results are battery means).")
    lexicon: str | None = _f(None, "Also score this lexicon's words as whole replies and summarise its categories "
                                   "(built-in name or .dic/.dicx/.csv file).")
    words: str | None = _f(None, "Comma-separated words for the named-word comparison, e.g. 'freedom,love'.")
    no_vocab: bool = _f(False, "Skip the whole-vocabulary join (lexicon and named words only).")
    top: int = _f(10, "How many top and bottom words to list (at least 1).")
    seed: int = _f(0, "Seed of the permutation tests.")
    resamples: int = _f(9999, "Permutation resamples per test (at least 1).")
    out: str = _f("", "Folder for the tables.", required=True)
    format: str = _f("csv", "Table format.", TABLE_FORMATS)


def field_help(cls, name: str) -> str:
    """The help text of one field (the app's widgets show the CLI's words)."""
    return next(f.metadata.get("help", "") for f in dataclasses.fields(cls) if f.name == name)


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """Add one option (or positional argument) per dataclass field, with its help text and choices."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        meta = f.metadata
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if meta.get("positional"):
            parser.add_argument(f.name, help=meta.get("help"))
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        common = dict(dest=f.name, help=meta.get("help"))
        if f.type in (bool, "bool"):
            parser.add_argument(flag, action="store_true", default=default, **common)
            continue
        kind = int if "int" in str(f.type) and "list" not in str(f.type) else str
        extra = {"required": True} if meta.get("required") else {"default": default}
        many = meta.get("many")
        if many == "append":
            extra.update(action="append", default=None) if not meta.get("required") else extra.update(action="append")
        elif many:
            extra["nargs"] = many
        parser.add_argument(flag, type=kind, choices=meta.get("choices"), **common, **extra)


def from_namespace(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)})
