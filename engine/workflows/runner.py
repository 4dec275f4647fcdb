"""Cached runs: answer a request from DuckDB when it was computed before, else compute and store it.

A request's key hashes everything that determines its scores (model source and revision, mode,
prompt, template, dtype, quantisation, candidates, scorer version), and is computed without
loading any model, so a cached answer costs milliseconds.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass

import pandas as pd

from engine import SCORER_VERSION
from engine.store.db import Cache
from engine.configs import SearchConfig
from engine.prompts import framing_of, resolve_prompt
from engine.models.registry import CAUSAL_LM, ModelSpec, resolve_spec



@dataclass
class RunResult:
    run: dict  # the runs row
    scores: pd.DataFrame  # ranked, best first
    from_cache: bool


def spec_for(config: SearchConfig) -> ModelSpec:
    return resolve_spec(config.model, family=config.family, revision=config.revision,
                        trust_remote_code=config.trust_remote_code)


def mode_for(config: SearchConfig, spec: ModelSpec) -> str:
    return config.mode or ("logprob" if spec.kind == CAUSAL_LM else "reward")


def template_for(config: SearchConfig, spec: ModelSpec) -> str:
    return spec.template if config.template == "auto" else config.template


def request_key(config: SearchConfig, prompt_text: str, candidates: str, words: list[str] | None = None) -> str:
    spec = spec_for(config)
    payload = {
        "source": spec.source, "revision": spec.revision, "mode": mode_for(config, spec),
        "template": template_for(config, spec), "prompt": prompt_text, "dtype": config.dtype,
        "quantization": config.quantization, "candidates": candidates,
        "vocab_filter": config.vocab_filter if candidates == "vocab" else None,
        "words": hashlib.sha256("\n".join(words).encode()).hexdigest() if words is not None else None,
        "head_seed": config.head_seed, "scorer": SCORER_VERSION, "device": (config.device or "auto").split(":")[0],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


class Runner:
    """Serves runs from the cache, loading each model at most once per Runner."""

    def __init__(self, cache: Cache | None = None, home=None, model_loader=None):
        self.cache = cache or Cache(home)
        self.home = home
        self._models: dict = {}
        self._model_loader = model_loader  # the app passes a process-wide cached loader

    def model(self, config: SearchConfig):
        spec = spec_for(config)
        key = (spec, mode_for(config, spec), config.dtype, config.quantization, config.device, config.head_seed)
        if key not in self._models:
            if self._model_loader is not None:
                self._models[key] = self._model_loader(*key)
            else:
                from engine.models.loading import load_model

                self._models[key] = load_model(spec, mode=key[1], dtype=config.dtype, quantization=config.quantization,
                                               device=config.device, home=self.home, head_seed=config.head_seed)
        return self._models[key]

    def cached(self, config: SearchConfig, prompt: str, words: list[str] | None = None,
               candidates: str | None = None) -> RunResult | None:
        _, text = resolve_prompt(prompt)
        candidates = candidates or ("vocab" if words is None else "words")
        run = self.cache.find_done(request_key(config, text, candidates, words))
        return RunResult(run, self.cache.scores(run["run_id"]), True) if run else None

    def run(self, config: SearchConfig, prompt: str, words: list[str] | None = None, candidates: str | None = None,
            progress=None, cancel=None, refresh: bool = False) -> RunResult:
        """Scores of every vocabulary token (words=None) or of each word, for one prompt."""
        prompt_key, text = resolve_prompt(prompt)
        candidates = candidates or ("vocab" if words is None else "words")
        key = request_key(config, text, candidates, words)
        if not refresh:
            hit = self.cache.find_done(key)
            if hit:
                return RunResult(hit, self.cache.scores(hit["run_id"]), True)
        from engine.scoring.search import score_texts, score_vocabulary, vocab_candidates
        from engine.scoring.templates import build_framing

        lm = self.model(config)
        framing = build_framing(lm.tokenizer, text, template_for(config, lm.spec))
        spec = lm.spec
        meta = {
            "request_key": key, "model_id": config.model, "model_source": spec.source, "family": spec.family,
            "model_kind": spec.kind, "score_kind": "reward" if lm.mode == "reward" else "logprob",
            "revision": lm.revision, "tokenizer_hash": lm.tokenizer_hash, "prompt_key": prompt_key,
            "prompt_text": text, "framing": framing_of(prompt_key), "template": framing.template,
            "dtype": lm.dtype, "quantization": lm.quantization, "candidates": candidates,
            "vocab_filter": config.vocab_filter if candidates == "vocab" else None, "head_status": lm.head_status,
            "scorer_version": SCORER_VERSION, "source": "computed", "device": lm.device,
            "params": {**asdict(config), "prompt": text, "n_words": len(words) if words is not None else None},
        }
        run_id = self.cache.start_run(meta)
        started = time.perf_counter()
        try:
            if words is None:
                ids = vocab_candidates(lm.tokenizer, lm.vocab_size, config.vocab_filter)
                scores = score_vocabulary(lm, framing, ids, config.batch_size, progress, cancel)
            else:
                scores = score_texts(lm, framing, words, config.batch_size, progress, cancel)
            self.cache.finish_run(run_id, scores, seconds=time.perf_counter() - started)
        except BaseException as exc:
            cancelled = type(exc).__name__ in ("SearchCancelled", "KeyboardInterrupt")
            self.cache.fail_run(run_id, f"{type(exc).__name__}: {exc}", "cancelled" if cancelled else "failed")
            raise
        return RunResult(self.cache.get_run(run_id), self.cache.scores(run_id), False)
