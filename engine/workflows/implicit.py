"""Implicit reward models between two causal LMs, run over prompts: each side's log-prob runs come from
the cache (computed when missing), then engine.analysis.implicit joins and summarises them (the method
is stated there).

A worker hands its result to the app and the CLI as a folder: one Parquet file per table (dtypes kept)
and `result.json` for the rest (prompts, lexicon, settings, notes); never a pickle."""
from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from engine.analysis.implicit import (battery_mean, category_summary, exact_string_mwlr, join_exact_strings,
                                      join_on_words, join_replies, named_word_comparison, pair_label, top_bottom,
                                      variant_mean_mwlr)
from engine.analysis.lexicons import Lexicon
from engine.analysis.words import normalize_series
from engine.configs import SearchConfig
from engine.errors import InputError
from engine.prompts import framing_of, resolve_prompt
from engine.workflows.runner import side_config


@dataclass
class ImplicitResult:
    """Tables of one implicit-RM request (any of them None when not asked for). Long tables carry
    pair, model_a, model_b, prompt_key, prompt, framing; see the module docstring for the columns."""

    pairs: pd.DataFrame  # one row per pair: models, families, revisions, tokenizer hashes, templates used
    prompts: list[tuple[str, str]]  # (prompt key, text); a free prompt's key is its text
    runs: pd.DataFrame  # every cached run used: side, model, prompt, candidates, run_id, template, from_cache
    vocab: pd.DataFrame | None = None  # per (pair, prompt, word)
    vocab_mean: pd.DataFrame | None = None  # per (pair, word), mean over prompts
    lexicon_words: pd.DataFrame | None = None  # per (pair, prompt, lexicon word)
    lexicon_mean: pd.DataFrame | None = None
    named: pd.DataFrame | None = None  # per (pair, prompt, named word)
    named_summary: pd.DataFrame | None = None
    category_summary: pd.DataFrame | None = None
    category_medians: pd.DataFrame | None = None
    category_tests: pd.DataFrame | None = None
    lexicon: Lexicon | None = None
    words: list[str] | None = None
    vocab_filter: str = "all"
    seed: int = 0
    resamples: int = 9999
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


Log = Callable[[str], None]


def run_implicit(
    runner,
    pairs: Sequence[tuple[str, str]],
    prompts: Sequence[str],
    lexicon: Lexicon | None = None,
    words: Sequence[str] | None = None,
    vocab: bool = True,
    templates: Sequence[tuple[str, str]] | None = None,
    base: SearchConfig | None = None,
    seed: int = 0,
    resamples: int = 9999,
    log: Log | None = None,
    progress_for: Callable[[str], Callable[[int, int], None]] | None = None,
) -> ImplicitResult:
    """Implicit RMs for each (model A, model B) pair over `prompts` (battery keys or free text).

    Gets each model's log-prob runs from `runner` (engine.workflows.runner.Runner: cached in DuckDB, computed
    when missing): the whole vocabulary (`vocab`), the lexicon's words and the named `words`, then
    joins and summarises them. `templates`: one (template A, template B) per pair, "auto" = the rule
    of `implicit_template`. `base` supplies dtype, device, batch size and vocab_filter.
    """
    started = time.perf_counter()
    if not pairs:
        raise InputError("Name at least one pair of models (model A, model B).")
    if not (vocab or lexicon is not None or words):
        raise InputError("Nothing to compare: ask for the vocabulary, a lexicon or named words.")
    templates = list(templates or [("auto", "auto")] * len(pairs))
    if len(templates) != len(pairs):
        raise InputError(f"{len(templates)} template pairs for {len(pairs)} model pairs.")
    named_words = list(dict.fromkeys(w.strip() for w in (words or []) if w and w.strip())) or None
    lexicon_words = lexicon.reply_words() if lexicon is not None else None
    resolved = [resolve_prompt(p) for p in prompts]
    prompt_list = [(key or text, text) for key, text in resolved]
    if len({k for k, _ in prompt_list}) != len(prompt_list):
        raise InputError("A prompt is given twice.")
    base = base or SearchConfig()
    say = log or (lambda message: None)
    word_maps: dict = {}  # (tokenizer hash, vocab filter) -> token id -> normalised word
    run_rows: list[dict] = []
    pair_rows: list[dict] = []
    vocab_parts, lexicon_parts, named_parts = [], [], []

    def fetch(label: str, config: SearchConfig, side: str, prompt: str, key: str, cand_words, candidates):
        t0 = time.perf_counter()
        # Runner.run answers from the cache when it can; the progress bar only shows for computed runs
        bar = progress_for(f"{config.model[:24]} {candidates} {key[:24]}") if progress_for else None
        result = runner.run(config, prompt, cand_words, candidates, progress=bar)
        run = result.run
        run_rows.append({"pair": label, "side": side, "model": config.model, "prompt_key": key, "candidates": run["candidates"],
                         "run_id": run["run_id"], "template": run["template"], "revision": run["revision"],
                         "tokenizer_hash": run["tokenizer_hash"], "family": run["family"], "dtype": run["dtype"],
                         "device": run["device"], "scorer_version": run["scorer_version"],
                         "from_cache": result.from_cache, "seconds": time.perf_counter() - t0})
        return run, result.scores

    def vocab_words(run: dict, scores: pd.DataFrame) -> pd.DataFrame:
        key = (run["tokenizer_hash"], run.get("vocab_filter"))
        mapping = word_maps.get(key)
        ids = scores["token_id"].astype("int64")
        if mapping is None or not ids.isin(mapping.index).all():
            mapping = pd.Series(normalize_series(scores["text"]).to_numpy(), index=ids.to_numpy())
            word_maps[key] = mapping
        return scores.assign(word=mapping.reindex(ids.to_numpy()).to_numpy())

    for (model_a, model_b), (tmpl_a, tmpl_b) in zip(pairs, templates):
        label = pair_label(model_a, model_b)
        configs = {"a": side_config(model_a, tmpl_a, base), "b": side_config(model_b, tmpl_b, base)}
        side_runs: dict[str, dict] = {}
        for key, text in prompt_list:
            t_prompt = time.perf_counter()
            ids = {"pair": label, "model_a": model_a, "model_b": model_b, "prompt_key": key, "prompt": text,
                   "framing": framing_of(key)}
            got: dict[str, dict] = {"a": {}, "b": {}}
            for side, config in configs.items():
                if vocab:
                    run, scores = fetch(label, config, side, text, key, None, "vocab")
                    got[side]["vocab"] = vocab_words(run, scores)
                    side_runs[side] = run
                if lexicon_words is not None:
                    run, got[side]["lexicon"] = fetch(label, config, side, text, key, lexicon_words, f"lexicon:{lexicon.name}")
                    side_runs[side] = run
                if named_words:
                    run, got[side]["named"] = fetch(label, config, side, text, key, named_words, "words")
                    side_runs[side] = run
            if vocab:
                vocab_parts.append(_label(join_on_words(got["a"]["vocab"], got["b"]["vocab"]), ids))
            if lexicon_words is not None:
                lexicon_parts.append(_label(join_replies(got["a"]["lexicon"], got["b"]["lexicon"]), ids))
            if named_words:
                named_parts.append(_label(join_replies(got["a"]["named"], got["b"]["named"]), ids))
            say(f"{label} | {key} | {time.perf_counter() - t_prompt:.1f} s")
        pair_rows.append({"pair": label, "model_a": model_a, "model_b": model_b,
                          **{f"{col}_{s}": side_runs[s][col] for s in ("a", "b")
                             for col in ("family", "revision", "tokenizer_hash", "template", "model_source")}})

    runs = pd.DataFrame(run_rows)
    result = ImplicitResult(pairs=pd.DataFrame(pair_rows), prompts=prompt_list, runs=runs, lexicon=lexicon,
                            words=named_words, vocab_filter=base.vocab_filter, seed=seed, resamples=resamples)
    for pair in result.pairs.itertuples():
        used = runs[runs["pair"] == pair.pair]
        for side in ("a", "b"):
            tmpl = set(used.loc[used["side"] == side, "template"])
            if len(tmpl) > 1:
                result.notes.append(f"{pair.pair}: side {side} used several templates ({', '.join(sorted(tmpl))})")
    if vocab_parts:
        result.vocab = pd.concat(vocab_parts, ignore_index=True)
        result.vocab_mean = battery_mean(result.vocab)
        for pair, grp in result.vocab_mean.groupby("pair", sort=False):
            for s in ("a", "b"):
                several = int((grp[f"n_variants_{s}"] > 1).sum())
                if several:
                    result.notes.append(f"{pair}: {several} of {len(grp)} joined words had several tokens in model {s.upper()}; "
                                        "the most probable token per prompt was kept")
    if lexicon_parts:
        result.lexicon_words = pd.concat(lexicon_parts, ignore_index=True)
        result.lexicon_mean = battery_mean(result.lexicon_words)
        result.category_summary, result.category_medians, result.category_tests = category_summary(
            result.lexicon_words, lexicon, seed=seed, resamples=resamples)
        if result.lexicon_words["framing"].isna().any():
            result.notes.append("prompts outside the battery have no framing: they are left out of the category tests")
    if named_parts:
        result.named = pd.concat(named_parts, ignore_index=True)
        result.named_summary = named_word_comparison(result.named, named_words)
    result.seconds = time.perf_counter() - started
    return result


RESULT_MANIFEST = "result.json"  # written last: a folder without it is not a result


def save_result(result: ImplicitResult, folder: Path) -> Path:
    """The whole result as a folder beside the job's log: each table as `<field>.parquet`, everything
    else in RESULT_MANIFEST (written by the worker, read by the app and the CLI with `load_result`).
    Written under a temporary name and renamed, so a reader never sees half a result."""
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    manifest: dict = {"tables": []}
    for f in fields(result):
        value = getattr(result, f.name)
        if isinstance(value, pd.DataFrame):
            value.to_parquet(partial / f"{f.name}.parquet")
            manifest["tables"].append(f.name)
        elif f.name == "lexicon":
            manifest["lexicon"] = value.as_dict() if value is not None else None
        elif value is None or isinstance(value, (str, int, float, list)):
            manifest[f.name] = value
        else:
            raise TypeError(f"ImplicitResult.{f.name} ({type(value).__name__}) has no file form")
    (partial / RESULT_MANIFEST).write_text(json.dumps(manifest))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return folder


def is_saved_result(path: str | os.PathLike) -> bool:
    """True for a folder `save_result` finished (results of older versions, or half-written ones, are not)."""
    return bool(path) and (Path(path) / RESULT_MANIFEST).is_file()


def load_result(folder: str | os.PathLike) -> ImplicitResult:
    """The result `save_result` wrote to `folder`."""
    folder = Path(folder)
    manifest = json.loads((folder / RESULT_MANIFEST).read_text())
    values = {name: pd.read_parquet(folder / f"{name}.parquet") for name in manifest.pop("tables")}
    lexicon = manifest.pop("lexicon", None)
    values["lexicon"] = Lexicon.from_dict(lexicon) if lexicon is not None else None
    values["prompts"] = [tuple(p) for p in manifest.pop("prompts")]
    return ImplicitResult(**values, **manifest)


def _label(table: pd.DataFrame, ids: dict) -> pd.DataFrame:
    for i, (col, value) in enumerate(ids.items()):
        table.insert(i, col, value)
    return table



def paper_vocabulary(cache, result: ImplicitResult, words: Sequence[str] = ("freedom", "love"),
                     top: int = 15) -> dict[str, pd.DataFrame]:
    """The paper's Fig 3 and Table 1 tables from the vocabulary runs of an implicit request (read back
    from the cache): per prompt, every model's vocabulary joined on exact strings (PAPER_JOIN_RULE),
    then per pair the top/bottom `top` strings by MWLR (Table 1) and the named words' variant-mean
    MWLR (Fig 3). Returns {"paper_top_bottom", "paper_named_words"}."""
    vocab_runs = result.runs[result.runs["candidates"] == "vocab"]
    if vocab_runs.empty:
        raise InputError("The paper's vocabulary join needs the vocabulary runs (leave out --no-vocab).")
    strings, named = [], []
    for key, runs in vocab_runs.groupby("prompt_key", sort=False):
        by_model = {m: cache.scores(run_id)[["text", "score"]]
                    for m, run_id in runs.drop_duplicates("model")[["model", "run_id"]].itertuples(index=False)}
        joined = join_exact_strings(by_model)
        for pair in result.pairs.itertuples():
            table = exact_string_mwlr(joined, pair.model_a, pair.model_b)
            ids = {"pair": pair.pair, "model_a": pair.model_a, "model_b": pair.model_b, "prompt_key": key}
            strings.append(_label(table, dict(ids)))
            named.append(_label(variant_mean_mwlr(table, list(words)), dict(ids)))
    per_string = pd.concat(strings, ignore_index=True)
    return {"paper_top_bottom": top_bottom(per_string, top, by=("pair", "model_a", "model_b", "prompt_key")),
            "paper_named_words": pd.concat(named, ignore_index=True)}
