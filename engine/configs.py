"""One settings dataclass per command. Each field's type and metadata (help, choices, and how it appears on
the command line) drive both the CLI parser and the app's forms (engine.config_fields), so the two cannot
drift apart."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from engine.config_fields import add_dataclass_arguments, field_help, from_namespace  # noqa: F401 - the generators
from engine.errors import InputError
from engine.options import (DEFAULT_VARIANT_POLICY, DTYPES, FRAMINGS, IMPORT_LAYOUTS, MODEL_KINDS, MODES,
                            QUANTIZATIONS, SCORE_KINDS, SCORING_METHODS, TABLE_FORMATS, TEMPLATES, VARIANT_POLICIES,
                            VOCAB_FILTERS)


def setting(default, help: str, choices: tuple | None = None, **cli):
    """A settings field with its help text and choices (every command's dataclass, TrainConfig too).
    A list or dict default is copied for each instance. `cli` keys: positional, required, many ("+": one
    or more values; "append": the flag repeated), flag (another flag name)."""
    metadata = {"help": help, "choices": choices, **cli}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)




MAX_SEED = 2**32 - 1  # what numpy, scipy and torch all accept


def check_seed(value, option: str) -> None:
    """A seed is a whole number from 0 to MAX_SEED (a negative or huge one failed deep inside a library)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise InputError(f"{option} {value}: give a whole number from 0 to {MAX_SEED}.")


@dataclass
class SearchConfig:
    model: str = setting("smollm2-135m-instruct", "Registry alias, Hugging Face id, local folder or .gguf file.")
    mode: str | None = setting(None, "reward: scalar reward head; logprob: log-probability of the reply. "
                                "Default: reward for reward models, logprob for causal LMs.", MODES)
    template: str = setting("auto", "How prompt and reply are framed: auto (the model's chat template, else the "
                               "registry's choice), chat, gemma_turns, plain (BOS, the prompt, a newline) or raw (BOS and the prompt, the reply "
                               "straight after it, as the paper's pretrained models).", ("auto", *TEMPLATES))
    dtype: str = setting("auto", "Weights dtype: auto = bfloat16 on GPU; on a CPU bfloat16-mixed (float32 "
                                  "weights, bf16 matmuls, ends re-scored in float32) where its agreement check passed, "
                                  "else float32.", DTYPES)
    quantization: str = setting("none", "bitsandbytes quantisation: none, 8bit or 4bit (NF4).", QUANTIZATIONS)
    vocab_filter: str = setting("all", "Vocabulary search: all = every token id; alpha = only word-initial tokens: "
                                  "a space then ASCII letters, e.g. ' love' (faster, for interactive use).", VOCAB_FILTERS)
    batch_size: int | None = setting(None, "Candidates per forward pass (at least 1); default adapts to free memory.")
    device: str | None = setting(None, "cpu, cuda or cuda:N; default cuda when available.")
    revision: str | None = setting(None, "Hub revision (commit or tag) to pin; recorded with every run.")
    family: str | None = setting(None, "Model family for analyses (llama, gemma, ...); default from the registry.")
    trust_remote_code: bool = setting(False, "Run the model repository's own Python code. Off unless you trust it.")
    head_seed: int = setting(0, "Seed of the random head when a causal LM is used as an (untrained) reward model.")
    method: str = setting("by_id", "How a candidate enters a reward model: by_id = the token's id between the prompt "
                          "and the turn's closing; authors = decoded, rendered by the chat template (which may trim "
                          "it) and re-tokenised with the tokenizer's defaults, as the paper's authors scored "
                          "(docs/paper_models.md).", SCORING_METHODS)
    compile: str = setting("off", "torch.compile the decoder layers (on), plus CUDA graphs for small models on a GPU "
                                  "(cudagraphs); the first batch is checked (against eager, or against float32 "
                                  "under bfloat16-mixed) and eager is kept if they disagree. On a CPU its build takes "
                                  "seconds; it is faster for vocabulary searches, batteries and sweeps.",
                           ("off", "on", "cudagraphs"))

    def __post_init__(self):
        # Checked here, before any work: 0 used to mean "auto" and a negative size failed mid-run.
        if self.batch_size is not None and (isinstance(self.batch_size, bool) or self.batch_size < 1):
            raise InputError(f"--batch-size {self.batch_size}: give at least 1, or leave it out to adapt to free memory.")
        check_seed(self.head_seed, "--head-seed")


@dataclass
class AnalyzeConfig:
    lexicon: str = setting("big_two_nouns", "Built-in lexicon name (big_two_nouns, big_two_expanded, mfd2.0, ...) or a "
                                       ".dic/.dicx/.csv file.")
    by: str = setting("family", "Grouping for the comparison.", ("family",))
    models: list[str] | None = setting(None, "Only these model ids.", many="+")
    families: list[str] | None = setting(None, "Only these families; with two, the first is family A of the comparison.",
                                    many="+")
    prompts: list[str] | None = setting(None, "Only these prompt keys (default: every prompt with completed runs).",
                                        many="+")
    candidates: list[str] | None = setting(None, "Only runs with these candidate sets (vocab, words, lexicon:<name>).",
                                      many="+")
    variants: str = setting(DEFAULT_VARIANT_POLICY, "Tokens that normalise to the same word: rank all variants, or one "
                                               "score per word (mean or max; mean does not favour words with many "
                                               "variants).", VARIANT_POLICIES)
    word_scope: str = setting("lexicon", "Words for Kendall's tau and top/bottom words: lexicon words only or every word.",
                         ("lexicon", "all"))
    seed: int = setting(0, "Seed of the permutation tests.")
    resamples: int = setting(9999, "Permutation resamples per panel (at least 1).")
    test: str = setting("permutation", "Family test: permutation p of Welch's t (default), or welch: the parametric "
                                      "Welch p the paper reports.", ("permutation", "welch"))
    categories: list[str] | None = setting(None, "Only these lexicon categories enter the ranking (words in none of "
                                            "them are not ranked).", many="+")
    merge_categories: list[str] | None = setting(None, "Merge categories after choosing them: 'prefix' (Care_Virtue + "
                                                  "Care_Vice -> Care; care.virtue + care.vice -> care) or NEW=OLD1+OLD2.", many="+")
    shared_vocabulary: str | None = setting(None, "Keep only texts whose exact string is in every compared vocabulary, "
                                             "before normalisation: 'models' (the runs' own texts) or a CSV with a "
                                             "token_decoded column (the paper's token_intersection.csv).")
    exact_words: bool = setting(False, "Only replies spelled exactly as a lexicon entry (case and spaces included), "
                                       "like the paper's joins on token_decoded.")
    anova: bool = setting(False, "For exactly two models: the paper's Fig 2 statistics (three-way Type-II ANOVA "
                                 "rank ~ category * valence * model, Welch post-hoc per cell, Benjamini-Hochberg).")
    preset: str | None = setting(None, "Reproduce a paper's figures from its imported data (see `valuescope import "
                                  "--paper`); the other options are then the preset's.", ("iclr2026",))
    top_k: int = setting(10, "Best and worst words listed per (model, framing) (at least 1).")
    out: str | None = setting(None, "Folder for the tables (median_ranks, family_summary, mixed_model, ...).")
    format: str = setting("csv", "Table format for --out.", TABLE_FORMATS)

    def __post_init__(self):
        check_seed(self.seed, "--seed")


@dataclass
class ImportConfig:
    path: str = setting("", "A .csv/.parquet file, or a directory of them (one file per model).", positional=True,
                        optional=True)
    family: str = setting("", "Model family, e.g. llama or gemma (the analysis compares families); required for PATH.")
    model: str | None = setting(None, "Model name (default: the file's stem; leave out for a directory of several files).")
    framing: list[str] | None = setting(None, f"Framing ({'|'.join(FRAMINGS)}) of prompt keys outside the 54-prompt "
                                         "battery: one for all, or KEY=FRAMING per key; repeatable. Battery keys "
                                         "take their framing from the key.", many="append")
    layout: str = setting("auto", "wide: `response` then one column per prompt key; long: response, prompt, score; "
                             "auto: detect.", IMPORT_LAYOUTS)
    score_kind: str = setting("reward", "What the scores are: a reward model's rewards or a causal LM's log-probabilities.",
                         SCORE_KINDS)
    model_kind: str | None = setting(None, "Default: from the score kind.", MODEL_KINDS)
    revision: str | None = setting(None, "Model revision to record, if known.")
    replace: bool = setting(False, "Overwrite this model's earlier imported scores for the same prompts.")
    paper: str | None = setting(None, "Instead of PATH: a paper's published tables, checked against their recorded "
                                "sha256 (models, families and lexicons named for you).", ("iclr2026",))
    from_dir: str | None = setting(None, "With --paper: a local copy of the authors' repository at the recorded "
                                   "commit (default: download its GitHub archive).", flag="--from")


@dataclass
class ImplicitConfig:
    model_a: list[str] = setting([], "Model A (pi_1): registry alias, hub id, local folder or .gguf file. Repeat for "
                                "more pairs.", many="append", required=True)
    model_b: list[str] = setting([], "Model B (pi_2), paired with --model-a in order.", many="append", required=True)
    template_a: list[str] | None = setting(None, "Template of model A (one for all pairs, or one per pair). Default auto: "
                                            "plain (the raw prompt) for pretrained models, chat for instruct ones.",
                                      ("auto", *TEMPLATES), many="append")
    template_b: list[str] | None = setting(None, "Template of model B, as for model A.", ("auto", *TEMPLATES), many="append")
    prompt: str | None = setting(None, "Prompt text, or a battery key such as greatest_ever_one.")
    battery: bool = setting(False, "All 54 prompts of the battery (results are battery means).")
    lexicon: str | None = setting(None, "Also score this lexicon's words as whole replies and summarise its categories "
                                   "(built-in name or .dic/.dicx/.csv file).")
    words: str | None = setting(None, "Comma-separated words for the named-word comparison, e.g. 'freedom,love'.")
    no_vocab: bool = setting(False, "Skip the whole-vocabulary join (lexicon and named words only).")
    top: int = setting(10, "How many top and bottom words to list (at least 1).")
    vocab_join: str = setting("best_token", "Vocabulary join: best_token (each normalised word's most probable token, "
                                            "joined per pair) or paper: also the paper's Fig 3 / Table 1 tables (exact "
                                            "strings shared by every model, named words averaged over case and "
                                            "whitespace variants).", ("best_token", "paper"))
    seed: int = setting(0, "Seed of the permutation tests.")
    resamples: int = setting(9999, "Permutation resamples per test (at least 1).")
    out: str = setting("", "Folder for the tables.", required=True)
    format: str = setting("csv", "Table format.", TABLE_FORMATS)

    def __post_init__(self):
        check_seed(self.seed, "--seed")


SWEEP_BACKENDS = ("local", "ray")


@dataclass
class SweepConfig:
    """A sweep: many models x many prompts, split into (model, prompt block) tasks (engine.sweeps)."""

    models: str = setting("", "Comma-separated models (registry aliases, hub ids, local folders, .gguf files).",
                          required=True)
    battery: bool = setting(False, "All 54 prompts of the battery.")
    prompts: str | None = setting(None, "Comma-separated prompt keys (or texts without commas), e.g. "
                                        "greatest_ever_one,worst_ever_one.")
    lexicon: str | None = setting(None, "Also score this lexicon's words as whole replies (built-in name or file).")
    vocab: bool = setting(False, "Score the whole vocabulary (the default when no --lexicon is given).")
    backend: str = setting("local", "local: tasks run as background jobs on this machine; ray: one actor per GPU "
                                    "(or CPU slot) of a Ray cluster, each holding its model.", SWEEP_BACKENDS)
    address: str | None = setting(None, "Ray cluster address (e.g. ray://head:10001 or auto); default: a local Ray "
                                        "instance on this machine.")
    block: int = setting(6, "Prompts per task (a task is one model and one block of prompts; at least 1).")
    actors: int | None = setting(None, "Ray actors; default one per GPU of the cluster, else one per --actor-cpus CPUs.")
    actor_cpus: int = setting(1, "CPUs (torch threads) per Ray actor when there are no GPUs (at least 1).")

    def __post_init__(self):
        for name in ("block", "actor_cpus", "actors"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name.replace('_', '-')} {value}: give at least 1.")

