"""One typed request per job kind: what a page, the CLI or a worker asks for, built and resolved once.

A job crosses the process boundary as `request.to_params()` (plain JSON with a `version`) and the
worker rebuilds it with `from_params`; nothing else builds a job's params. A request's `job_key` is
the cache key of what it computes (engine.workflows.runner.RunRequest.key, from the resolved
settings), so a page, the CLI and another page asking for the same scores find the same cached run
or join the same live job.

- `SearchRequest`: one model, one prompt (kind "search") or several (kind "battery"); the whole
  vocabulary, named words, or a lexicon's words as whole replies.
- `ValuesRequest`: the Values page's comparison, every model x every prompt (kind "values").
- `ImplicitRequest`: implicit reward models between pairs of causal LMs (engine.workflows.implicit).
- `TrainRequest`: wraps the training config (engine.training), whose fields are its own.
- `SweepTaskRequest`: one task of a sweep (engine.sweeps), one model and one block of prompts.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace

from engine.analysis.lexicons import load_lexicon
from engine.configs import SearchConfig
from engine.errors import InputError
from engine.prompts import BATTERY
from engine.workflows.runner import RunRequest, side_config

VERSION = 2  # 1: the untyped params dicts written before typed requests (still read)


def _check_version(params: dict, kind: str) -> int:
    version = int(params.get("version", 1))
    if version > VERSION:
        raise InputError(f"This {kind} job was written by a newer valuescope (request version {version}; this one "
                         f"reads up to {VERSION}): upgrade, or submit it again.")
    return version


def _config(cls, values: dict | None):
    """A settings dataclass from JSON, ignoring fields this version does not know."""
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (values or {}).items() if k in known})


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def parse_words(text: str | None) -> tuple[str, ...] | None:
    """Comma-separated words as a tuple, each once, in order (None for no text)."""
    if text is None:
        return None
    return tuple(dict.fromkeys(w.strip() for w in text.split(",") if w.strip()))


@dataclass(frozen=True)
class SearchRequest:
    config: SearchConfig
    prompts: tuple[str, ...]  # battery keys or free text
    words: tuple[str, ...] | None = None  # replies to score instead of the vocabulary
    lexicon: str | None = None  # a lexicon (name or file) whose words are the replies
    refresh: bool = False  # recompute even when cached

    def __post_init__(self):
        if not self.prompts:
            raise InputError("Give a prompt.")
        if self.lexicon and self.words:
            raise InputError("Give a lexicon or words, not both.")
        if self.words is not None and not self.words:
            raise InputError("The word list holds no words.")

    @classmethod
    def one(cls, config: SearchConfig, prompt: str, **kwargs) -> "SearchRequest":
        return cls(config, (prompt,), **kwargs)

    @property
    def kind(self) -> str:
        return "search" if len(self.prompts) == 1 else "battery"

    def to_params(self) -> dict:
        return {"version": VERSION, "config": asdict(self.config), "prompts": list(self.prompts),
                "words": list(self.words) if self.words is not None else None, "lexicon": self.lexicon,
                "refresh": self.refresh}

    @classmethod
    def from_params(cls, params: dict) -> "SearchRequest":
        if _check_version(params, "search") == 1:  # {"prompt"} for a search, {"prompts"} (default battery) for a battery
            prompts = [params["prompt"]] if params.get("prompt") else list(params.get("prompts") or BATTERY)
        else:
            prompts = params["prompts"]
        words = params.get("words")
        return cls(_config(SearchConfig, params.get("config")), tuple(prompts),
                   tuple(words) if words is not None else None, params.get("lexicon"), bool(params.get("refresh")))

    def resolve(self, home=None) -> list[RunRequest]:
        """One RunRequest per prompt (the lexicon is read here: a bad one fails before any model loads)."""
        words, candidates = (list(self.words) if self.words is not None else None), None
        if self.lexicon:
            lexicon = load_lexicon(self.lexicon, home=home)
            words, candidates = lexicon.reply_words(), f"lexicon:{lexicon.name}"
        return [RunRequest.resolve(self.config, prompt, words, candidates) for prompt in self.prompts]

    @staticmethod
    def job_key(runs: list[RunRequest]) -> str:
        """One prompt: its run's cache key. Several: a hash of their keys."""
        return runs[0].key if len(runs) == 1 else _digest({"battery": [r.key for r in runs]})

    def label(self) -> str:
        return f"{self.kind} {self.config.model}"


@dataclass(frozen=True)
class ValuesRequest:
    """Every model x every prompt with one set of search settings: one SearchRequest per model."""

    models: tuple[str, ...]
    search: SearchRequest  # settings, prompts and candidates; its config's model is replaced per model

    def __post_init__(self):
        if not self.models:
            raise InputError("Pick at least one model.")

    kind = "values"

    def per_model(self) -> list[SearchRequest]:
        return [replace(self.search, config=replace(self.search.config, model=m)) for m in self.models]

    def to_params(self) -> dict:
        return {"version": VERSION, "models": list(self.models), "search": self.search.to_params()}

    @classmethod
    def from_params(cls, params: dict) -> "ValuesRequest":
        _check_version(params, "values")
        return cls(tuple(params["models"]), SearchRequest.from_params(params["search"]))

    def resolve(self, home=None) -> list[RunRequest]:
        """Every (model, prompt) run, model by model (the lexicon is read once per model here)."""
        return [run for request in self.per_model() for run in request.resolve(home)]

    def job_key(self, home=None) -> str:
        return "values:" + _digest({"runs": [r.key for r in self.resolve(home)]})

    def label(self) -> str:
        return f"values: {len(self.models)} models x {len(self.search.prompts)} prompts"


@dataclass(frozen=True)
class ImplicitRequest:
    pairs: tuple[tuple[str, str], ...]  # (model A, model B)
    prompts: tuple[str, ...]
    templates: tuple[tuple[str, str], ...] | None = None  # one (template A, template B) per pair; None: auto
    lexicon: str | None = None
    words: tuple[str, ...] | None = None  # named words
    vocab: bool = True  # join the two vocabularies
    base: SearchConfig = field(default_factory=SearchConfig)  # dtype, device, batch size, vocabulary filter of both sides
    seed: int = 0
    resamples: int = 9999
    cached_only: bool = False  # a missing run fails the job (NotCachedError) instead of being computed

    def to_params(self) -> dict:
        return {"version": VERSION, "pairs": [list(p) for p in self.pairs], "prompts": list(self.prompts),
                "templates": [list(t) for t in self.templates] if self.templates else None, "lexicon": self.lexicon,
                "words": list(self.words) if self.words else None, "vocab": self.vocab, "base": asdict(self.base),
                "seed": self.seed, "resamples": self.resamples, "cached_only": self.cached_only}

    @classmethod
    def from_params(cls, params: dict) -> "ImplicitRequest":
        _check_version(params, "implicit")
        templates = params.get("templates")
        return cls(tuple(tuple(p) for p in params["pairs"]), tuple(params["prompts"]),
                   tuple(tuple(t) for t in templates) if templates else None, params.get("lexicon"),
                   tuple(params["words"]) if params.get("words") else None, params.get("vocab", True),
                   _config(SearchConfig, params.get("base")), params.get("seed", 0), params.get("resamples", 9999),
                   bool(params.get("cached_only")))

    def job_key(self) -> str:
        """The identity of the tables it produces (computing or only reading the runs gives the same tables)."""
        return "implicit:" + _digest({**self.to_params(), "cached_only": None})

    def n_runs(self) -> int:
        per_prompt = int(bool(self.vocab)) + int(self.lexicon is not None) + int(bool(self.words))
        return len(self.pairs) * len(self.prompts) * 2 * per_prompt

    def named_words(self) -> list[str] | None:
        return list(dict.fromkeys(w.strip() for w in self.words or () if w and w.strip())) or None

    def resolve(self, home=None) -> list[RunRequest]:
        """Every run its tables need, in the order engine.workflows.implicit.run_implicit asks for them."""
        lexicon = load_lexicon(self.lexicon, home=home) if self.lexicon else None
        named, runs = self.named_words(), []
        for sides in self.side_configs():
            for prompt in self.prompts:
                for config in sides:
                    if self.vocab:
                        runs.append(RunRequest.resolve(config, prompt, None, "vocab"))
                    if lexicon is not None:
                        runs.append(RunRequest.resolve(config, prompt, lexicon.reply_words(), f"lexicon:{lexicon.name}"))
                    if named:
                        runs.append(RunRequest.resolve(config, prompt, named, "words"))
        return runs

    def side_configs(self) -> list[tuple[SearchConfig, SearchConfig]]:
        """Each pair's (A, B) search settings (engine.workflows.runner.side_config)."""
        templates = self.templates or (("auto", "auto"),) * len(self.pairs)
        return [(side_config(a, ta, self.base), side_config(b, tb, self.base))
                for (a, b), (ta, tb) in zip(self.pairs, templates)]

    def label(self) -> str:
        return "implicit " + " ".join(f"{a} -> {b}" for a, b in self.pairs)


@dataclass(frozen=True)
class TrainRequest:
    """A training job: the training config's own fields, as JSON."""

    config: dict

    def to_params(self) -> dict:
        return {"version": VERSION, "config": self.config}

    @classmethod
    def from_params(cls, params: dict) -> "TrainRequest":
        _check_version(params, "train")
        return cls(params.get("config") or {})


@dataclass
class SweepTaskRequest:
    """One sweep task (kind "sweep_task"): one model and one block of prompts, with its pending runs (every
    candidate set of each prompt); `staging` is the folder a local job's worker writes each run to as
    Parquet (engine.sweeps.run imports them)."""

    model: str
    prompts: tuple[str, ...]
    key: str  # hash of every run key of the task, pending or not
    requests: list[RunRequest] = field(default_factory=list)  # the pending runs
    n_requests: int = 0  # pending or not
    staging: str | None = None

    kind = "sweep_task"

    @property
    def label(self) -> str:
        shown = ", ".join(self.prompts[:2]) + (f" +{len(self.prompts) - 2}" if len(self.prompts) > 2 else "")
        return f"{self.model} | {shown}"

    def to_params(self) -> dict:
        """Enough to resolve the same runs in a worker: their shared settings and each run's prompt and candidates."""
        first = self.requests[0] if self.requests else None
        task = {"model": self.model, "prompts": list(self.prompts), "key": self.key,
                "config": asdict(first.config) if first else None, "n_requests": self.n_requests,
                "requests": [{"prompt": r.prompt_key or r.prompt_text, "words": list(r.words) if r.words else None,
                              "candidates": r.candidates} for r in self.requests]}
        return {"version": VERSION, "task": task, "staging": self.staging}

    @classmethod
    def from_params(cls, params: dict) -> "SweepTaskRequest":
        _check_version(params, "sweep task")
        task = params["task"]
        config = _config(SearchConfig, task["config"]) if task["config"] else None
        requests = [RunRequest.resolve(config, r["prompt"], r["words"], r["candidates"]) for r in task["requests"]]
        return cls(task["model"], tuple(task["prompts"]), task["key"], requests,
                   task.get("n_requests", len(requests)), params.get("staging"))

    def job_key(self) -> str:
        return f"sweep-task:{self.key}"
