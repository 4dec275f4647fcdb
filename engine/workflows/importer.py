"""Import score tables computed elsewhere into the cache, as runs marked `source = 'imported'`.

Two layouts, CSV or Parquet, one file per model:
- wide: first column `response` (the reply text), then one column per prompt key
  (`greatest_ever_one`, ...), one score per cell;
- long: columns `response, prompt, score`.
A prompt may be a battery key (its framing comes from the key), a battery question text (mapped to its
key), or any other key, which then needs a framing from the user (`framing="positive"` for all of
them, or {"my_key": "negative"} per key). Each (model, prompt) becomes one run with candidates='words'.

Validation (a ValueError naming the file): empty file, no `response` column, a column name given twice
(read from the file's own header, before pandas would rename the copy `name.1`), empty responses,
duplicate responses within a prompt, missing or non-numeric scores, empty or NUL prompt keys, unknown
prompt keys without a framing (reading and cell checks: engine/workflows/score_tables.py). A file is
imported in one transaction: all its runs or none. A directory is checked whole before anything is
written.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.options import SCORE_KINDS
from engine.prompts import BATTERY, BATTERY_BY_TEXT, FRAMINGS, resolve_prompt
from engine.errors import InputError, MissingFileError
from engine.workflows.score_tables import IMPORT_SUFFIXES, no_duplicates, numbers_of, read_score_table, responses_of


@dataclass
class PreparedFile:
    """One validated file, ready to write: its runs as (meta, scores) pairs."""

    path: Path
    model_id: str
    layout: str
    runs: list[tuple[dict, pd.DataFrame]]
    n_responses: int
    replace_run_ids: list[str] = field(default_factory=list)
    unchanged: bool = False


@dataclass
class ImportResult:
    path: Path
    model_id: str
    family: str
    layout: str
    prompts: list[str]
    n_responses: int
    run_ids: list[str]
    replaced: int
    unchanged: bool  # the same file was imported before: nothing written


def import_scores(
    cache,
    path: str | os.PathLike,
    family: str,
    model: str | None = None,
    framing: str | dict[str, str] | None = None,
    layout: str = "auto",
    score_kind: str = "reward",
    model_kind: str | None = None,
    revision: str | None = None,
    replace: bool = False,
    source: str | None = None,
) -> list[ImportResult]:
    """Import a file, or every .csv/.parquet file of a directory (model name = file stem), into `cache`.
    `source`: what to record as the scores' origin (default: the file's absolute path)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MissingFileError(f"No such file or directory: {path}")
    if not family or not str(family).strip():
        raise InputError("Give the model family (--family), e.g. llama or gemma: the analysis compares families.")
    if score_kind not in SCORE_KINDS:
        raise InputError(f"Unknown score kind {score_kind!r}: use {' or '.join(SCORE_KINDS)}.")
    files = _files(path)
    if model and len(files) > 1:
        raise InputError(f"--model names one model, but {path} holds {len(files)} files: leave it out to use each file's stem.")
    defaults, per_key = _framing_options(framing)

    prepared = []
    for file in files:
        model_id = (model or file.stem).strip()
        table = read_score_table(file, layout)
        prepared.append(_prepare(file, table, model_id, str(family).strip(), defaults, per_key,
                                 score_kind, model_kind, revision, source))
    seen: dict[str, Path] = {}
    for item in prepared:
        if item.model_id in seen:
            raise InputError(f"{item.path.name} and {seen[item.model_id].name} would both be model {item.model_id!r}.")
        seen[item.model_id] = item.path
        _check_existing(cache, item, str(family).strip(), replace)

    results = []
    for item in prepared:
        run_ids = [] if item.unchanged else cache.save_runs(item.runs, item.replace_run_ids)
        results.append(ImportResult(
            path=item.path, model_id=item.model_id, family=str(family).strip(), layout=item.layout,
            prompts=[meta["prompt_key"] for meta, _ in item.runs], n_responses=item.n_responses,
            run_ids=run_ids, replaced=0 if item.unchanged else len(item.replace_run_ids), unchanged=item.unchanged,
        ))
    return results


# ---- reading and validating -----------------------------------------------------------------------


def _prepare(path, loaded, model_id, family, defaults, per_key, score_kind, model_kind, revision,
             source=None) -> PreparedFile:
    layout, df = loaded
    if not model_id:
        raise InputError(f"{path.name}: empty model name.")
    responses = responses_of(df["response"], path)
    if layout == "wide":
        bad = [c for c in df.columns if c != "response" and (not c or c.lower().startswith("unnamed:"))]
        if bad:
            raise InputError(f"{path.name}: a column has no name (an exported index?); every column after `response` must be a prompt key.")
        no_duplicates(responses, path, "")
        per_prompt = {col: pd.DataFrame({"text": responses, "score": numbers_of(df[col], path, col)}) for col in df.columns if col != "response"}
    else:
        prompts = df["prompt"].astype(str).str.strip()
        if (prompts == "").any() or df["prompt"].isna().any():
            row = int(np.flatnonzero((prompts == "").to_numpy() | df["prompt"].isna().to_numpy())[0])
            raise InputError(f"{path.name}: empty prompt on row {row + 2}.")
        scores = numbers_of(df["score"], path, "score")
        per_prompt = {}
        for prompt in pd.unique(prompts):
            mask = (prompts == prompt).to_numpy()
            part = pd.DataFrame({"text": responses[mask].to_numpy(), "score": scores[mask].to_numpy()})
            no_duplicates(part["text"], path, f" for prompt {prompt!r}")
            per_prompt[prompt] = part

    resolved = _resolve_prompts(list(per_prompt), defaults, per_key, path)
    keys = [k for k, _, _ in resolved.values()]
    if len(set(keys)) != len(keys):
        raise InputError(f"{path.name}: two columns name the same prompt ({', '.join(k for k in keys if keys.count(k) > 1)}).")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    runs = []
    for column, frame in per_prompt.items():
        key, text, framing = resolved[column]
        meta = {
            "request_key": "import:" + hashlib.sha256(f"{model_id}|{family}|{key}|{framing}|{digest}".encode()).hexdigest()[:32],
            "model_id": model_id, "model_source": source or str(path.resolve()), "family": family,
            "model_kind": model_kind or ("reward_model" if score_kind == "reward" else "causal_lm"),
            "score_kind": score_kind, "revision": revision, "prompt_key": key, "prompt_text": text,
            "framing": framing, "candidates": "words", "head_status": "n/a", "scorer_version": "import",
            "source": "imported", "device": None,
            "params": {"file": source or str(path.resolve()), "sha256": digest, "layout": layout, "column": column},
        }
        runs.append((meta, frame.assign(token_id=None, first_token_score=None, n_tokens=None)))
    n_responses = len(responses) if layout == "wide" else int(responses.nunique())  # long: distinct replies
    return PreparedFile(path=path, model_id=model_id, layout=layout, runs=runs, n_responses=n_responses)


def _resolve_prompts(columns, defaults, per_key, path) -> dict[str, tuple[str, str, str]]:
    """column -> (prompt key, prompt text, framing)."""
    out, unknown = {}, []
    for column in columns:
        try:
            resolve_prompt(column)  # an empty or NUL prompt is refused here as everywhere
        except InputError as exc:
            raise InputError(f"{path.name}: prompt {column!r}: {exc}") from None
        battery = BATTERY.get(column) or BATTERY_BY_TEXT.get(column)
        if battery:
            if column in per_key and per_key[column] != battery.framing:
                raise InputError(f"{path.name}: {column} is a battery prompt with {battery.framing} framing; "
                                 f"it cannot be given {per_key[column]}.")
            out[column] = (battery.key, battery.text, battery.framing)
        elif column in per_key or defaults:
            out[column] = (column, column, per_key.get(column, defaults))
        else:
            unknown.append(column)
    if unknown:
        listed = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise InputError(
            f"{path.name}: prompt key(s) not in the 54-prompt battery: {listed}. Give their framing with "
            "--framing positive|negative (all of them) or --framing KEY=positive|negative."
        )
    return out


def _framing_options(framing) -> tuple[str | None, dict[str, str]]:
    """Accept None, "positive", {"key": "negative"}, or a list of such strings ("key=negative")."""
    default, per_key = None, {}
    if framing is None:
        return default, per_key
    items = framing.items() if isinstance(framing, dict) else None
    if items is None:
        items = []
        for entry in [framing] if isinstance(framing, str) else list(framing):
            key, sep, value = str(entry).rpartition("=")
            items.append((key.strip() if sep else None, value.strip()))
    for key, value in items:
        if value not in FRAMINGS:
            raise InputError(f"Unknown framing {value!r}: use {' or '.join(FRAMINGS)}.")
        if key is None:
            if default is not None and default != value:
                raise InputError("Give one default framing; use KEY=framing for prompt-specific ones.")
            default = value
        else:
            per_key[key] = value
    return default, per_key


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMPORT_SUFFIXES)
    if not files:
        raise InputError(f"{path} holds no .csv or .parquet file to import.")
    return files


def _check_existing(cache, item: PreparedFile, family: str, replace: bool) -> None:
    """Same file again: nothing to do. Same model with other scores: only with replace=True."""
    existing = cache.list_runs(model_id=item.model_id)
    if existing.empty:
        return
    computed = existing[existing["source"] != "imported"]
    if not computed.empty:
        raise InputError(f"{item.path.name}: model id {item.model_id!r} already names computed runs; "
                         "import under another --model name.")
    new_keys = {meta["request_key"] for meta, _ in item.runs}
    done = existing[existing["status"] == "done"]
    if new_keys <= set(done["request_key"]) and len(done) == len(new_keys):
        item.unchanged = True
        return
    prompts = {meta["prompt_key"] for meta, _ in item.runs}
    clashing = existing[existing["prompt_key"].isin(prompts) | (existing["status"] != "done")]
    kept = existing.drop(clashing.index)
    if not replace and len(clashing[clashing["status"] == "done"]):
        raise InputError(
            f"{item.path.name}: model {item.model_id!r} already has imported scores for "
            f"{clashing['prompt_key'].nunique()} of these prompts; pass --replace to overwrite them."
        )
    other_family = kept[kept["family"] != family]
    if len(other_family):
        raise InputError(f"{item.path.name}: model {item.model_id!r} is already imported as family "
                         f"{other_family['family'].iloc[0]!r}; use the same --family or --replace all its prompts.")
    item.replace_run_ids = list(clashing["run_id"])
