"""Cached runs: answer a request from DuckDB when it was computed before, else compute and store it.

A `RunRequest` is resolved once from a search config and a prompt: the model spec, the scoring mode,
the template and the candidates. Its key hashes everything that determines the scores, as resolved
(model source, revision and, for local weights, a fingerprint of their bytes; mode, prompt, template,
dtype, quantisation, candidates, head seed, scorer version) and is computed without loading any model,
so a cached answer costs milliseconds, and two requests that resolve alike (a search left on mode and
template "auto", an implicit RM's log-prob "chat" side of the same instruct model) share one run.
`resolve_template` decides "auto" from what is known without loading: the registry's template, "chat"
for an instruct model, a local folder's own tokenizer files. Only a hub model the registry does not
know keeps "auto" (its tokenizer decides at load time; its files may not be here yet, and a key must
not depend on that).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path

import pandas as pd

from engine import SCORER_VERSION
from engine.configs import SearchConfig
from engine.errors import Cancelled, InputError
from engine.models.fingerprint import weights_fingerprint
from engine.models.precision_checks import keyed_dtype
from engine.models.registry import CAUSAL_LM, ModelSpec, resolve_spec
from engine.models.sizing import check_fits
from engine.prompts import framing_of, resolve_prompt
from engine.scoring.templates import build_framing
from engine.store.db import Cache
from engine.store.records import RunRecord


KEY_VERSION = 2  # 2: template and words resolved before hashing (older rows re-keyed by engine.workflows.rekey)


def _folder_chat_template(folder: Path) -> str | None:
    """"chat" or "plain" for a local model folder whose own tokenizer files say; None if they are not there."""
    if (folder / "adapter_config.json").is_file() or not (folder / "tokenizer_config.json").is_file():
        return None  # an adapter's tokenizer comes from its base
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return "chat"
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return None
    return "chat" if config.get("chat_template") else "plain"


def resolve_template(spec: ModelSpec, requested: str | None = "auto") -> str:
    """The template a search scores `spec` with: the one asked for, else the registry's, else "chat" for
    an instruct model (not a user's .gguf file: its variant is a default), else what a local folder's
    tokenizer files say; "auto" only where none of these is known (see the module docstring)."""
    if requested and requested != "auto":
        return requested
    if spec.template != "auto":
        return spec.template
    if spec.variant == "instruct" and not spec.source.startswith("gguf-file:"):
        return "chat"
    folder = Path(spec.source)
    return (folder.is_dir() and _folder_chat_template(folder)) or "auto"


def implicit_template(spec: ModelSpec, requested: str | None = "auto") -> str:
    """The template one side of an implicit RM uses: the caller's choice, else "plain" (the raw prompt) for
    a pretrained model, "chat" for an instruct one, and otherwise as a search would (`resolve_template`)."""
    if requested and requested != "auto":
        return requested
    return {"pretrained": "plain", "instruct": "chat"}.get(spec.variant) or resolve_template(spec)


def side_config(model: str, template: str = "auto", base: SearchConfig | None = None) -> SearchConfig:
    """The search settings of one side of an implicit RM: log-prob mode, template per `implicit_template`."""
    base = base or SearchConfig()
    spec = resolve_spec(model, family=base.family, revision=base.revision, trust_remote_code=base.trust_remote_code)
    return replace(base, model=model, mode="logprob", template=implicit_template(spec, template))


def words_digest(words) -> str:
    """Hash of the replies a run scores: as score_texts scores them, once each, blanks dropped, in any order."""
    unique = sorted({w for w in words if w and w.strip()})
    return hashlib.sha256("\n".join(unique).encode()).hexdigest()


def request_key(payload: dict) -> str:
    """The cache key of a resolved request (RunRequest.key_payload); engine.workflows.rekey uses it too."""
    return hashlib.sha256(json.dumps({**payload, "key_version": KEY_VERSION}, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RunRequest:
    """One model scoring one set of candidates as whole replies to one prompt."""

    config: SearchConfig
    spec: ModelSpec
    mode: str  # reward | logprob
    template: str  # "auto" or a name in engine.options.TEMPLATES; the run records the one used
    prompt_key: str | None  # battery key, or None for free text
    prompt_text: str
    candidates: str  # vocab | words | lexicon:<name>
    words: tuple[str, ...] | None  # None: the vocabulary
    weights: str | None  # fingerprint of local weights; None where the revision pins them

    @classmethod
    def resolve(cls, config: SearchConfig, prompt: str, words=None, candidates: str | None = None,
                weights: str | None = "fingerprint") -> "RunRequest":
        """`weights`: the local weights' fingerprint when it is already known (a stored run's), else computed."""
        spec = resolve_spec(config.model, family=config.family, revision=config.revision,
                            trust_remote_code=config.trust_remote_code)
        prompt_key, text = resolve_prompt(prompt)
        mode = config.mode or ("logprob" if spec.kind == CAUSAL_LM else "reward")
        if config.method == "authors" and mode != "reward":
            raise InputError("--method authors scores reward models: use --mode reward, or the default by_id.")
        return cls(
            config=config, spec=spec, mode=mode,
            template=resolve_template(spec, config.template),
            prompt_key=prompt_key, prompt_text=text, candidates=candidates or ("vocab" if words is None else "words"),
            words=tuple(words) if words is not None else None,
            weights=weights_fingerprint(spec) if weights == "fingerprint" else weights,
        )

    def key_payload(self) -> dict:
        """Everything that determines the scores, resolved (batch size, for one, does not)."""
        config = self.config
        payload = {
            "source": self.spec.source, "revision": self.spec.revision, "weights": self.weights, "mode": self.mode,
            "template": self.template, "prompt": self.prompt_text,
            "dtype": keyed_dtype(self.spec.dtype_for(config.dtype), config.device, self.spec),  # as loaded
            "quantization": config.quantization, "candidates": self.candidates,
            "vocab_filter": config.vocab_filter if self.candidates == "vocab" else None,
            "words": words_digest(self.words) if self.words is not None else None,
            "head_seed": config.head_seed, "scorer": SCORER_VERSION, "device": (config.device or "auto").split(":")[0],
        }
        if self.weights is None:
            del payload["weights"]
        if config.method != "by_id":
            payload["method"] = config.method
        if config.compile != "off":
            payload["compile"] = config.compile  # compiled kernels round differently (checked on the first batch)
        return payload

    @cached_property
    def key(self) -> str:
        return request_key(self.key_payload())

    @property
    def model_key(self) -> tuple:
        """What identifies a loaded model (shared by requests that differ only in prompt or candidates)."""
        c = self.config
        return (self.spec, self.mode, c.dtype, c.quantization, c.device, c.head_seed, self.weights)

    def record(self, lm, template_used: str) -> RunRecord:
        """The runs row of this request computed with the loaded model `lm`."""
        spec = lm.spec
        return RunRecord(
            request_key=self.key, model_id=self.config.model, model_source=spec.source, family=spec.family,
            model_kind=spec.kind, score_kind="reward" if lm.mode == "reward" else "logprob", revision=lm.revision,
            tokenizer_hash=lm.tokenizer_hash, prompt_key=self.prompt_key, prompt_text=self.prompt_text,
            framing=framing_of(self.prompt_key), template=template_used, dtype=lm.dtype, quantization=lm.quantization,
            candidates=self.candidates, vocab_filter=self.config.vocab_filter if self.candidates == "vocab" else None,
            head_status=lm.head_status, scorer_version=SCORER_VERSION, device=lm.device,
            params={**asdict(self.config), "prompt": self.prompt_text, "weights": self.weights,
                    "n_words": len(self.words) if self.words is not None else None},
        )


@dataclass
class RunResult:
    run: dict  # the runs row
    scores: pd.DataFrame  # ranked, best first
    from_cache: bool


def load_for(request: RunRequest, home=None):
    """Load the model a request needs, after checking that its weights fit the free memory
    (engine.models.loading; imports torch)."""
    from engine.models.loading import load_model  # torch: only a run that is computed loads a model

    c = request.config
    check_fits(request.spec, request.spec.dtype_for(c.dtype), c.quantization, c.device)
    return load_model(request.spec, mode=request.mode, dtype=c.dtype, quantization=c.quantization, device=c.device,
                      home=home, head_seed=c.head_seed)


def score_request(lm, request: RunRequest, framing, progress=None, cancel=None) -> pd.DataFrame:
    """The scores of one request with its loaded model (no cache: Runner.run_request and sweep workers)."""
    # torch: only a run that is computed scores
    from engine.scoring.search import score_texts, score_vocabulary, vocab_candidates

    config = request.config
    if request.words is None:
        ids = vocab_candidates(lm.tokenizer, lm.vocab_size, config.vocab_filter)
        return score_vocabulary(lm, framing, ids, config.batch_size, progress, cancel, config.method, config.compile)
    return score_texts(lm, framing, list(request.words), config.batch_size, progress, cancel, config.method,
                       config.compile)


class Runner:
    """Serves runs from the cache, loading each model at most once per Runner (or through `model_loader`,
    a callable taking a RunRequest)."""

    def __init__(self, cache: Cache | None = None, home=None, model_loader=None):
        self.cache = cache or Cache(home)
        self.home = home
        self._models: dict = {}
        self._model_loader = model_loader

    def model(self, request: RunRequest):
        if self._model_loader is not None:
            return self._model_loader(request)
        if request.model_key not in self._models:
            self._models[request.model_key] = load_for(request, self.home)
        return self._models[request.model_key]

    def cached(self, config: SearchConfig, prompt: str, words=None, candidates: str | None = None) -> RunResult | None:
        return self.cached_request(RunRequest.resolve(config, prompt, words, candidates))

    def cached_request(self, request: RunRequest) -> RunResult | None:
        run = self.cache.find_done(request.key)
        return RunResult(run, self.cache.scores(run["run_id"]), True) if run else None

    def run(self, config: SearchConfig, prompt: str, words=None, candidates: str | None = None,
            progress=None, cancel=None, refresh: bool = False) -> RunResult:
        """Scores of every vocabulary token (words=None) or of each word, for one prompt."""
        return self.run_request(RunRequest.resolve(config, prompt, words, candidates), progress, cancel, refresh)

    def run_request(self, request: RunRequest, progress=None, cancel=None, refresh: bool = False,
                    write_progress=None) -> RunResult:
        """`progress(candidates scored, total)` while scoring, `write_progress(rows written, total)` while writing."""
        if not refresh:
            hit = self.cached_request(request)
            if hit:
                return hit

        lm = self.model(request)
        framing = build_framing(lm.tokenizer, request.prompt_text, request.template, lm.max_length)
        record = request.record(lm, framing.template)
        run_id = self.cache.start_run(record)
        started = time.perf_counter()
        try:
            scores = score_request(lm, request, framing, progress, cancel)
            params = {**record.params, "scoring": scores.attrs.get("scoring")}  # how it scored, found while scoring
            self.cache.finish_run(run_id, scores, seconds=time.perf_counter() - started, progress=write_progress,
                                  params=json.dumps(params, sort_keys=True, default=str))
        except BaseException as exc:
            cancelled = isinstance(exc, (Cancelled, KeyboardInterrupt))
            self.cache.fail_run(run_id, f"{type(exc).__name__}: {exc}", "cancelled" if cancelled else "failed")
            raise
        return RunResult(self.cache.get_run(run_id), self.cache.scores(run_id), False)
