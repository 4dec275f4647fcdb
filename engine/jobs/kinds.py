"""The engine's job kinds: `function(params, ctx) -> JSON-able result`, run by a worker process (or
by the CLI through run_foreground). Each parses its typed request (engine.workflows.requests) from
`params`, calls the workflow and returns what it computed: run ids, and for `implicit` the file of
its tables. Scores go to the DuckDB cache.
"""
from __future__ import annotations

from pathlib import Path

from engine.analysis.lexicons import load_lexicon
from engine.errors import NotCachedError
from engine.models.gguf import converted_dir, locate_gguf, pending_conversion
from engine.workflows.implicit import run_implicit as implicit_tables, save_result
from engine.workflows.rekey import open_cache
from engine.workflows.requests import ImplicitRequest, SearchRequest, ValuesRequest
from engine.workflows.runner import Runner, RunRequest


def _plain(value):
    """A DuckDB/pandas value as plain JSON (numpy scalars have .item())."""
    return value.item() if hasattr(value, "item") else value


def run_summary(result) -> dict:
    run = result.run
    fields = ("run_id", "request_key", "model_id", "prompt_key", "prompt_text", "candidates", "n_scores", "seconds")
    return {**{k: _plain(run.get(k)) for k in fields}, "from_cache": result.from_cache}


def load_model_stage(runner, request, ctx, report=None) -> None:
    """Load the model (stage assembling / converting / loading, whichever comes first); a conversion reports
    its progress (engine.models.gguf) to `report(done, total, message)`, by default ctx.progress."""
    model = request.config.model
    pending = pending_conversion(request.spec, ctx.home)
    if pending == "assembling":
        ctx.stage("assembling", f"Assembling the embedded GGUF weights of {model} (first use)")
        locate_gguf(request.spec, ctx.home)
    if pending:
        ctx.stage("converting", f"Converting the embedded GGUF weights of {model} (first use, about 1-2 min)")
        converted_dir(request.spec, ctx.home, progress=report or ctx.progress)
    ctx.stage("loading", f"Loading {model}")
    if pending and report is None:  # the bar showed the conversion's fraction; loading has none
        ctx.progress(0, 0)
    runner.model(request)
    ctx.check_cancelled()


def score_one(runner, ctx, request, report, refresh: bool = False, loaded: set | None = None,
              stage_on_bar: bool = True):
    """One request: from the cache when it is there, else load the model (once per `loaded` set) and
    score with `report(done, total)` as progress; the stage turns to "writing" once all are scored.
    Converting and writing show their own fraction on the bar (`stage_on_bar`), or, in a job whose bar
    counts units, their counts in the message only (JobContext.note)."""
    stage_report = ctx.progress if stage_on_bar else ctx.note
    if not refresh:
        hit = runner.cached_request(request)
        if hit is not None:
            return hit
    if loaded is None or request.model_key not in loaded:
        load_model_stage(runner, request, ctx, None if stage_on_bar else ctx.note)
        if loaded is not None:
            loaded.add(request.model_key)
    ctx.stage("scoring", f"Scoring {request.config.model}")

    def progress(done: int, total: int) -> None:
        report(done, total)
        if done >= total:
            ctx.stage("writing", "Writing the scores to the cache")

    return runner.run_request(request, progress=progress, cancel=ctx.cancelled, refresh=refresh,
                              write_progress=lambda d, t: stage_report(d, t, f"Writing: {d:,} of {t:,} rows"))


def run_search(params: dict, ctx) -> dict:
    """One model, one prompt: the whole vocabulary, or words / a lexicon's words as replies."""
    request = SearchRequest.from_params(params)
    if len(request.prompts) > 1:
        return run_battery(params, ctx)
    run = request.resolve(ctx.home)[0]
    result = score_one(Runner(open_cache(ctx.home), ctx.home), ctx, run,
                       lambda d, t: ctx.progress(d, t, f"Scoring {d:,} of {t:,} candidates"), refresh=request.refresh)
    return run_summary(result)


def run_battery(params: dict, ctx) -> dict:
    """One model, many prompts; progress counts prompts."""
    request = SearchRequest.from_params(params)
    runs, n = request.resolve(ctx.home), len(request.prompts)
    runner, loaded, summaries = Runner(open_cache(ctx.home), ctx.home), set(), []
    for i, run in enumerate(runs):
        ctx.check_cancelled()
        what = f"Prompt {i + 1} of {n}"
        ctx.progress(i, n, what)
        result = score_one(runner, ctx, run, lambda d, t: ctx.progress(i, n, f"{what}: {d:,} of {t:,} candidates"),
                           refresh=request.refresh, loaded=loaded, stage_on_bar=False)
        summaries.append(run_summary(result))
    ctx.progress(n, n, f"{n} prompts scored")
    return {"runs": summaries}


class _ReportingRunner:
    """The runner engine.workflows.implicit.run_implicit calls once per run: reports each run as progress,
    loads each model under a stage, and makes every run cancellable."""

    def __init__(self, runner, ctx, total: int, cached_only: bool = False):
        self.runner, self.ctx, self.total, self.calls, self.loaded = runner, ctx, total, 0, set()
        self.cached_only = cached_only

    def run(self, config, prompt, words=None, candidates=None, progress=None, cancel=None, refresh=False):
        self.ctx.check_cancelled()
        what = f"Run {self.calls + 1} of {self.total}: {config.model}, {candidates or 'vocab'}"
        self.ctx.progress(self.calls, self.total, what)
        request = RunRequest.resolve(config, prompt, words, candidates)
        if self.cached_only:
            hit = self.runner.cached_request(request)
            if hit is None:
                raise NotCachedError(f"{config.model} has no cached {candidates or 'vocab'} run for this prompt.")
            self.calls += 1
            return hit
        result = score_one(self.runner, self.ctx, request,
                           lambda d, t: self.ctx.progress(self.calls, self.total, f"{what}: {d:,} of {t:,} candidates"),
                           refresh=refresh, loaded=self.loaded, stage_on_bar=False)
        self.calls += 1
        self.ctx.progress(self.calls, self.total, what)
        return result


def run_implicit(params: dict, ctx) -> dict:
    """engine.workflows.implicit.run_implicit over the cache, computing missing runs unless the request is
    cached-only (then a missing run fails the job with NotCachedError). The whole result is saved beside
    the job's log as Parquet tables and JSON (engine.workflows.implicit.save_result, read by the app and the
    CLI); the job's result names that folder and the runs used."""
    request = ImplicitRequest.from_params(params)
    lexicon = None
    if request.lexicon:
        lexicon = load_lexicon(request.lexicon, home=ctx.home)
    runner = _ReportingRunner(Runner(open_cache(ctx.home), ctx.home), ctx, request.n_runs(),
                              cached_only=request.cached_only)
    result = implicit_tables(runner, list(request.pairs), list(request.prompts), lexicon=lexicon,
                             words=request.named_words(), vocab=request.vocab,
                             templates=list(request.templates) if request.templates else None, base=request.base,
                             seed=request.seed, resamples=request.resamples)
    artifact = save_result(result, Path(ctx.log_dir) / f"{ctx.job_id}.implicit")
    runs = result.runs[["pair", "side", "model", "prompt_key", "candidates", "run_id", "from_cache"]]
    return {"runs": [{k: _plain(v) for k, v in row.items()} for row in runs.to_dict("records")],
            "notes": result.notes, "seconds": result.seconds, "artifact": str(artifact)}


def run_values(params: dict, ctx) -> dict:
    """The Values page's comparison (ValuesRequest): every model x every prompt, computing only what the
    cache lacks. Progress is the fraction of (model, prompt) units done, each unit's share filled by its
    candidates scored; the message names the unit."""
    request = ValuesRequest.from_params(params)
    units = request.resolve(ctx.home)
    runner, loaded, runs, scale = Runner(open_cache(ctx.home), ctx.home), set(), [], 1000
    total = len(units) * scale
    for i, run in enumerate(units):
        ctx.check_cancelled()
        what = f"Run {i + 1} of {len(units)}: {run.config.model}, {(run.prompt_key or run.prompt_text)[:40]}"
        ctx.progress(i * scale, total, what)
        result = score_one(runner, ctx, run,
                           lambda d, t: ctx.progress(i * scale + (scale * d) // max(t, 1), total,
                                                     f"{what}: {d:,} of {t:,} candidates"),
                           refresh=request.search.refresh, loaded=loaded, stage_on_bar=False)
        runs.append(run_summary(result))
    ctx.progress(total, total, f"{len(units)} runs ready")
    return {"runs": runs}
