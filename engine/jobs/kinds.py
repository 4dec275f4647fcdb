"""The engine's job kinds: `function(params, ctx) -> JSON-able result`, run by a worker process (or
by the CLI through run_foreground). Scores go to the DuckDB cache; results name the runs.

params of `search`: {"config": SearchConfig fields, "prompt": text or battery key, "words": [...] or
"lexicon": name/path (else the whole vocabulary), "candidates": optional label, "refresh": bool}.
`battery`: the same with "prompts": [...] (default: the 54-prompt battery) instead of "prompt".
`values`: {"models": [...], "prompts": [...], "config", "lexicon"}: every model x prompt (see run_values).
`implicit`: the arguments of engine.workflows.implicit.run_implicit as JSON: "pairs": [[A, B], ...],
"prompts", "lexicon", "words", "vocab", "templates": [[tA, tB], ...], "base": SearchConfig fields,
"seed", "resamples".
"""
from __future__ import annotations

import pickle
from pathlib import Path

from engine.errors import InputError, NotCachedError


def _plain(value):
    """A DuckDB/pandas value as plain JSON (numpy scalars have .item())."""
    return value.item() if hasattr(value, "item") else value


def run_summary(result) -> dict:
    run = result.run
    fields = ("run_id", "request_key", "model_id", "prompt_key", "prompt_text", "candidates", "n_scores", "seconds")
    return {**{k: _plain(run.get(k)) for k in fields}, "from_cache": result.from_cache}


def _search_request(params: dict, home) -> tuple:
    """(SearchConfig, words or None, candidates label) from a search job's params."""
    from engine.configs import SearchConfig

    config = SearchConfig(**params.get("config", {}))
    words, candidates = params.get("words"), params.get("candidates")
    if params.get("lexicon"):
        if words:
            raise InputError("Give a lexicon or words, not both.")
        from engine.analysis.lexicons import load_lexicon

        lexicon = load_lexicon(params["lexicon"], home=home)
        words, candidates = lexicon.reply_words(), f"lexicon:{lexicon.name}"
    return config, words, candidates


def load_model_stage(runner, request, ctx) -> None:
    """Load the model (stage assembling / converting / loading, whichever comes first)."""
    from engine.models.gguf import pending_conversion

    model = request.config.model
    pending = pending_conversion(request.spec, ctx.home)
    if pending == "assembling":
        ctx.stage("assembling", f"Assembling and converting {model}'s embedded GGUF weights (first use, about 1-2 min)")
    elif pending == "converting":
        ctx.stage("converting", f"Converting the embedded GGUF weights of {model} (first use, about 1-2 min)")
    else:
        ctx.stage("loading", f"Loading {model}")
    runner.model(request)
    ctx.check_cancelled()


def score_one(runner, ctx, request, report, refresh: bool = False, loaded: set | None = None):
    """One request: from the cache when it is there, else load the model (once per `loaded` set) and
    score with `report(done, total)` as progress; the stage turns to "writing" once all are scored."""
    if not refresh:
        hit = runner.cached_request(request)
        if hit is not None:
            return hit
    if loaded is None or request.model_key not in loaded:
        load_model_stage(runner, request, ctx)
        if loaded is not None:
            loaded.add(request.model_key)
    ctx.stage("scoring", f"Scoring {request.config.model}")

    def progress(done: int, total: int) -> None:
        report(done, total)
        if done >= total:
            ctx.stage("writing", "Writing the scores to the cache")

    return runner.run_request(request, progress=progress, cancel=ctx.cancelled, refresh=refresh)


def run_search(params: dict, ctx) -> dict:
    """One model, one prompt: the whole vocabulary, or words / a lexicon's words as replies."""
    from engine.workflows.runner import Runner, RunRequest

    config, words, candidates = _search_request(params, ctx.home)
    runner = Runner(home=ctx.home)
    request = RunRequest.resolve(config, params["prompt"], words, candidates)
    result = score_one(runner, ctx, request,
                       lambda d, t: ctx.progress(d, t, f"Scoring {d:,} of {t:,} candidates"),
                       refresh=bool(params.get("refresh")))
    return run_summary(result)


def run_battery(params: dict, ctx) -> dict:
    """One model, many prompts; progress counts prompts."""
    from engine.prompts import BATTERY
    from engine.workflows.runner import Runner, RunRequest

    config, words, candidates = _search_request(params, ctx.home)
    prompts = list(params.get("prompts") or BATTERY)
    runner, loaded, runs = Runner(home=ctx.home), set(), []
    for i, prompt in enumerate(prompts):
        ctx.check_cancelled()
        what = f"Prompt {i + 1} of {len(prompts)}"
        ctx.progress(i, len(prompts), what)
        result = score_one(runner, ctx, RunRequest.resolve(config, prompt, words, candidates),
                           lambda d, t: ctx.progress(i, len(prompts), f"{what}: {d:,} of {t:,} candidates"),
                           refresh=bool(params.get("refresh")), loaded=loaded)
        runs.append(run_summary(result))
    ctx.progress(len(prompts), len(prompts), f"{len(prompts)} prompts scored")
    return {"runs": runs}


class _ReportingRunner:
    """The runner engine.workflows.implicit.run_implicit calls once per run: reports each run as progress,
    loads each model under a stage, and makes every run cancellable."""

    def __init__(self, runner, ctx, total: int, cached_only: bool = False):
        self.runner, self.ctx, self.total, self.calls, self.loaded = runner, ctx, total, 0, set()
        self.cached_only = cached_only

    def run(self, config, prompt, words=None, candidates=None, progress=None, cancel=None, refresh=False):
        from engine.workflows.runner import RunRequest

        self.ctx.check_cancelled()
        what = f"Run {self.calls + 1} of {self.total}: {config.model}, {candidates or 'vocab'}"
        self.ctx.progress(self.calls, self.total, what)
        if self.cached_only:
            hit = self.runner.cached_request(RunRequest.resolve(config, prompt, words, candidates))
            if hit is None:
                raise NotCachedError(f"{config.model} has no cached {candidates or 'vocab'} run for this prompt.")
            self.calls += 1
            return hit
        result = score_one(self.runner, self.ctx, RunRequest.resolve(config, prompt, words, candidates),
                           lambda d, t: self.ctx.progress(self.calls, self.total, f"{what}: {d:,} of {t:,} candidates"),
                           refresh=refresh, loaded=self.loaded)
        self.calls += 1
        self.ctx.progress(self.calls, self.total, what)
        return result


def run_implicit(params: dict, ctx) -> dict:
    """engine.workflows.implicit.run_implicit over the cache, computing missing runs unless
    params["cached_only"] (then a missing run fails the job with NotCachedError). The whole result is
    saved beside the job's log as a pickle (written by this worker, read by the app); the job's result
    names it and the runs used."""
    from engine.configs import SearchConfig
    from engine.workflows.implicit import run_implicit as implicit
    from engine.workflows.runner import Runner

    pairs = [tuple(p) for p in params["pairs"]]
    prompts = list(params["prompts"])
    lexicon = None
    if params.get("lexicon"):
        from engine.analysis.lexicons import load_lexicon

        lexicon = load_lexicon(params["lexicon"], home=ctx.home)
    words, vocab = params.get("words") or None, params.get("vocab", True)
    per_prompt = int(bool(vocab)) + int(lexicon is not None) + int(bool(words))
    runner = _ReportingRunner(Runner(home=ctx.home), ctx, len(pairs) * len(prompts) * 2 * per_prompt,
                              cached_only=bool(params.get("cached_only")))
    templates = [tuple(t) for t in params["templates"]] if params.get("templates") else None
    result = implicit(runner, pairs, prompts, lexicon=lexicon, words=words, vocab=vocab, templates=templates,
                      base=SearchConfig(**params.get("base", {})), seed=params.get("seed", 0),
                      resamples=params.get("resamples", 9999))
    Path(ctx.log_dir).mkdir(parents=True, exist_ok=True)
    artifact = Path(ctx.log_dir) / f"{ctx.job_id}.implicit.pkl"
    with artifact.open("wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    runs = result.runs[["pair", "side", "model", "prompt_key", "candidates", "run_id", "from_cache"]]
    return {"runs": [{k: _plain(v) for k, v in row.items()} for row in runs.to_dict("records")],
            "notes": result.notes, "seconds": result.seconds, "artifact": str(artifact)}


def run_values(params: dict, ctx) -> dict:
    """The Values page's comparison: every model x every prompt, computing only what the cache lacks.

    params: {"models": [...], "config": SearchConfig fields except the model, "prompts": [...] (battery
    keys or texts), "lexicon": name/path (its words as replies) or absent (the whole vocabulary)}.
    Progress is the fraction of (model, prompt) units done, each unit's share filled by its candidates
    scored; the message names the unit."""
    from engine.workflows.runner import Runner, RunRequest

    models, prompts = list(params["models"]), list(params["prompts"])
    if not models or not prompts:
        raise InputError("Pick at least one model and one prompt.")
    units = [(model, prompt) for model in models for prompt in prompts]
    runner, loaded, runs, scale = Runner(home=ctx.home), set(), [], 1000
    for i, (model, prompt) in enumerate(units):
        ctx.check_cancelled()
        config, words, candidates = _search_request({**params, "config": {**params.get("config", {}), "model": model}},
                                                    ctx.home)
        what = f"Run {i + 1} of {len(units)}: {model}, {prompt[:40]}"
        ctx.progress(i * scale, len(units) * scale, what)
        result = score_one(runner, ctx, RunRequest.resolve(config, prompt, words, candidates),
                           lambda d, t: ctx.progress(i * scale + (scale * d) // max(t, 1), len(units) * scale,
                                                     f"{what}: {d:,} of {t:,} candidates"),
                           refresh=bool(params.get("refresh")), loaded=loaded)
        runs.append(run_summary(result))
    ctx.progress(len(units) * scale, len(units) * scale, f"{len(units)} runs ready")
    return {"runs": runs}
