"""Cached runs: answer a request from DuckDB when it was computed before, else compute and store it.

A `RunRequest` is resolved once from a search config and a prompt: the model spec, the scoring mode,
the template and the candidates. Its key hashes everything that determines the scores (model source,
revision and, for local weights, a fingerprint of their bytes; mode, prompt, template, dtype,
quantisation, candidates, head seed, scorer version) and is computed without loading any model, so a
cached answer costs milliseconds.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from functools import cached_property

import pandas as pd

from engine import SCORER_VERSION
from engine.configs import SearchConfig
from engine.errors import Cancelled
from engine.models.fingerprint import weights_fingerprint
from engine.models.precision_checks import keyed_dtype
from engine.models.registry import CAUSAL_LM, ModelSpec, resolve_spec
from engine.prompts import framing_of, resolve_prompt
from engine.store.db import Cache
from engine.store.records import RunRecord


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
    def resolve(cls, config: SearchConfig, prompt: str, words=None, candidates: str | None = None) -> "RunRequest":
        spec = resolve_spec(config.model, family=config.family, revision=config.revision,
                            trust_remote_code=config.trust_remote_code)
        prompt_key, text = resolve_prompt(prompt)
        return cls(
            config=config, spec=spec, mode=config.mode or ("logprob" if spec.kind == CAUSAL_LM else "reward"),
            template=spec.template if config.template == "auto" else config.template,
            prompt_key=prompt_key, prompt_text=text, candidates=candidates or ("vocab" if words is None else "words"),
            words=tuple(words) if words is not None else None, weights=weights_fingerprint(spec),
        )

    @cached_property
    def key(self) -> str:
        config = self.config
        payload = {
            "source": self.spec.source, "revision": self.spec.revision, "weights": self.weights, "mode": self.mode,
            "template": self.template, "prompt": self.prompt_text,
            "dtype": keyed_dtype(config.dtype, config.device, self.spec),
            "quantization": config.quantization, "candidates": self.candidates,
            "vocab_filter": config.vocab_filter if self.candidates == "vocab" else None,
            "words": hashlib.sha256("\n".join(self.words).encode()).hexdigest() if self.words is not None else None,
            "head_seed": config.head_seed, "scorer": SCORER_VERSION, "device": (config.device or "auto").split(":")[0],
        }
        if self.weights is None:
            del payload["weights"]  # keys of hub and embedded models stay what they were
        if config.compile != "off":
            payload["compile"] = config.compile  # compiled kernels round differently (checked against eager)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

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
    from engine.models.loading import load_model
    from engine.models.sizing import check_fits

    c = request.config
    check_fits(request.spec, c.dtype, c.quantization, c.device)
    return load_model(request.spec, mode=request.mode, dtype=c.dtype, quantization=c.quantization, device=c.device,
                      home=home, head_seed=c.head_seed)


def score_request(lm, request: RunRequest, framing, progress=None, cancel=None) -> pd.DataFrame:
    """The scores of one request with its loaded model (no cache: Runner.run_request and sweep workers)."""
    from engine.scoring.search import score_texts, score_vocabulary, vocab_candidates

    batch_size, compile = request.config.batch_size, request.config.compile
    if request.words is None:
        ids = vocab_candidates(lm.tokenizer, lm.vocab_size, request.config.vocab_filter)
        return score_vocabulary(lm, framing, ids, batch_size, progress, cancel, compile)
    return score_texts(lm, framing, list(request.words), batch_size, progress, cancel, compile)


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

    def run_request(self, request: RunRequest, progress=None, cancel=None, refresh: bool = False) -> RunResult:
        if not refresh:
            hit = self.cached_request(request)
            if hit:
                return hit
        from engine.scoring.templates import build_framing

        lm = self.model(request)
        framing = build_framing(lm.tokenizer, request.prompt_text, request.template, lm.max_length)
        run_id = self.cache.start_run(request.record(lm, framing.template))
        started = time.perf_counter()
        try:
            scores = score_request(lm, request, framing, progress, cancel)
            self.cache.finish_run(run_id, scores, seconds=time.perf_counter() - started)
        except BaseException as exc:
            cancelled = isinstance(exc, (Cancelled, KeyboardInterrupt))
            self.cache.fail_run(run_id, f"{type(exc).__name__}: {exc}", "cancelled" if cancelled else "failed")
            raise
        return RunResult(self.cache.get_run(run_id), self.cache.scores(run_id), False)
