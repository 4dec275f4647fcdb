"""A sweep's plan: (model, prompt block) tasks, each a list of RunRequests, idempotent by request key.

A task (engine.workflows.requests.SweepTaskRequest) is keyed by a hash of its request keys, so planning
the same sweep again gives the same tasks; a request whose run the cache already holds as done is left
out of its task, and a task with no request left is finished. Torch-free: planning resolves requests without loading any model.
"""
from __future__ import annotations

import dataclasses
import hashlib

from engine.analysis.lexicons import load_lexicon
from engine.configs import SearchConfig, SweepConfig
from engine.errors import InputError
from engine.prompts import BATTERY, resolve_prompt
from engine.workflows.requests import SweepTaskRequest
from engine.workflows.runner import RunRequest


def split_list(text: str | None, option: str) -> list[str]:
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    if text is not None and not items:
        raise InputError(f"{option} holds nothing: give comma-separated values.")
    return list(dict.fromkeys(items))


def sweep_prompts(sweep: SweepConfig) -> list[str]:
    if sweep.battery == bool(sweep.prompts):
        raise InputError("Give --battery or --prompts K1,K2 (one of them).")
    prompts = list(BATTERY) if sweep.battery else split_list(sweep.prompts, "--prompts")
    for prompt in prompts:
        resolve_prompt(prompt)  # an unknown key fails here, before any work
    return prompts


def candidate_sets(sweep: SweepConfig, home=None) -> list[tuple[tuple[str, ...] | None, str | None]]:
    """(words or None for the vocabulary, candidates label) of each candidate set the sweep scores."""
    sets = []
    if sweep.vocab or not sweep.lexicon:
        sets.append((None, None))
    if sweep.lexicon:
        lexicon = load_lexicon(sweep.lexicon, home=home)
        sets.append((tuple(lexicon.reply_words()), f"lexicon:{lexicon.name}"))
    return sets


def plan_sweep(sweep: SweepConfig, base: SearchConfig, done=lambda key: False, home=None) -> list[SweepTaskRequest]:
    """Every (model, prompt block) task of the sweep, with the requests `done(request_key)` says are missing."""
    models = split_list(sweep.models, "--models")
    prompts = sweep_prompts(sweep)
    sets = candidate_sets(sweep, home)
    tasks = []
    for model in models:
        config = dataclasses.replace(base, model=model)
        for start in range(0, len(prompts), sweep.block):
            block = tuple(prompts[start:start + sweep.block])
            requests = [RunRequest.resolve(config, p, words, label) for p in block for words, label in sets]
            key = hashlib.sha256("\n".join(sorted(r.key for r in requests)).encode()).hexdigest()[:16]
            pending = [r for r in requests if not done(r.key)]
            tasks.append(SweepTaskRequest(model, block, key, pending, len(requests)))
    return tasks


def sweep_id(tasks: list[SweepTaskRequest]) -> str:
    """Same sweep, same id (re-runs update one progress record)."""
    return hashlib.sha256("\n".join(t.key for t in tasks).encode()).hexdigest()[:12]
