"""Run settings as dataclasses whose field help drives both the CLI and the app's forms."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from engine.options import DTYPES, MODES, QUANTIZATIONS, TEMPLATES, VOCAB_FILTERS


def _f(default, help: str, choices: tuple | None = None, **kw):
    return field(default=default, metadata={"help": help, "choices": choices, **kw})


@dataclass
class SearchConfig:
    model: str = _f("smollm2-135m-instruct", "Registry alias, Hugging Face id, local folder or .gguf file.")
    mode: str | None = _f(None, "reward: scalar reward head; logprob: log-probability of the reply. "
                                "Default: reward for reward models, logprob for causal LMs.", MODES)
    template: str = _f("auto", "How prompt and reply are framed: auto (the model's chat template, else the "
                               "registry's choice), chat, gemma_turns or plain.", ("auto", *TEMPLATES))
    dtype: str = _f("auto", "Weights dtype: auto = float32 on CPU, bfloat16 on GPU.",
                    DTYPES)
    quantization: str = _f("none", "bitsandbytes quantisation: none, 8bit or 4bit (NF4).", QUANTIZATIONS)
    vocab_filter: str = _f("all", "Vocabulary search: all = every token id; alpha = only word-initial tokens: "
                                  "a space then ASCII letters, e.g. ' love' (faster, for interactive use).", VOCAB_FILTERS)
    batch_size: int | None = _f(None, "Candidates per forward pass; default adapts to free memory.")
    device: str | None = _f(None, "cpu, cuda or cuda:N; default cuda when available.")
    revision: str | None = _f(None, "Hub revision (commit or tag) to pin; recorded with every run.")
    family: str | None = _f(None, "Model family for analyses (llama, gemma, ...); default from the registry.")
    trust_remote_code: bool = _f(False, "Run the model repository's own Python code. Off unless you trust it.")
    head_seed: int = _f(0, "Seed of the random head when a causal LM is used as an (untrained) reward model.")


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """Add one --option per dataclass field, with its help text and choices."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        meta = f.metadata
        if f.type in (bool, "bool"):
            parser.add_argument(flag, action="store_true", default=f.default, help=meta.get("help"))
            continue
        kind = int if "int" in str(f.type) else str
        parser.add_argument(flag, type=kind, default=f.default, choices=meta.get("choices"), help=meta.get("help"))


def from_namespace(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)})
