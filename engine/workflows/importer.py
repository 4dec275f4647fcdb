"""Import score tables computed elsewhere into the cache, as runs marked `source = 'imported'`.

Two layouts, CSV or Parquet, one file per model:
- wide: first column `response` (the reply text), then one column per prompt key
  (`greatest_ever_one`, ...), one score per cell;
- long: columns `response, prompt, score`.
A prompt may be a battery key (its framing comes from the key), a battery question text (mapped to its
key), or any other key, which then needs a framing from the user (`framing="positive"` for all of
them, or {"my_key": "negative"} per key). Each (model, prompt) becomes one run with candidates='words'.

Validation (a ValueError naming the file): empty file, no `response` column, empty responses,
duplicate responses within a prompt, missing or non-numeric scores, unknown prompt keys without a
framing. A file is imported in one transaction: all its runs or none. A directory is checked whole
before anything is written.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.options import IMPORT_LAYOUTS as LAYOUTS, SCORE_KINDS
from engine.prompts import BATTERY, BATTERY_BY_TEXT, FRAMINGS
from engine.errors import InputError, MissingFileError

IMPORT_SUFFIXES = (".csv", ".parquet", ".pq")
LONG_COLUMNS = ("response", "prompt", "score")
_MAX_LISTED = 5


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
) -> list[ImportResult]:
    """Import a file, or every .csv/.parquet file of a directory (model name = file stem), into `cache`."""
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
                                 score_kind, model_kind, revision))
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
def read_score_table(path: str | os.PathLike, layout: str = "auto") -> tuple[str, pd.DataFrame]:
    """(layout, table) of one file; CSV cells are read as text so replies like "NA" or "null" survive."""
    path = Path(path)
    if layout not in LAYOUTS:
        raise InputError(f"Unknown layout {layout!r}: use {', '.join(LAYOUTS)}.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            raise InputError(f"{path.name}: cannot import a {suffix or 'suffix-less'} file; use .csv or .parquet.")
    except pd.errors.EmptyDataError:
        raise InputError(f"{path.name}: the file is empty.") from None
    except (pd.errors.ParserError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise InputError(f"{path.name}: cannot read it as {suffix[1:].upper()}: {exc}") from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty or len(df.columns) == 0:
        raise InputError(f"{path.name}: the file has no rows.")
    lower = [c.lower() for c in df.columns]
    if "response" not in lower:
        raise InputError(f"{path.name}: no `response` column (the reply text); columns: {', '.join(df.columns[:8])}"
                         + (" ..." if len(df.columns) > 8 else ""))
    df = df.rename(columns={c: c.lower() for c in df.columns if c.lower() in LONG_COLUMNS})
    if len(set(df.columns)) != len(df.columns):
        dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
        raise InputError(f"{path.name}: duplicate column(s) {', '.join(dupes)}.")
    if layout == "auto":
        layout = "long" if set(LONG_COLUMNS) <= set(df.columns) else "wide"
    if layout == "long":
        missing = [c for c in LONG_COLUMNS if c not in df.columns]
        extra = [c for c in df.columns if c not in LONG_COLUMNS]
        if missing or extra:
            raise InputError(f"{path.name}: a long table has exactly the columns response, prompt, score"
                             + (f"; missing {', '.join(missing)}" if missing else "")
                             + (f"; unexpected {', '.join(extra)}" if extra else "") + ".")
    elif len(df.columns) < 2:
        raise InputError(f"{path.name}: a wide table needs a `response` column and at least one prompt column.")
    return layout, df


def _prepare(path, loaded, model_id, family, defaults, per_key, score_kind, model_kind, revision) -> PreparedFile:
    layout, df = loaded
    if not model_id:
        raise InputError(f"{path.name}: empty model name.")
    responses = _responses(df["response"], path)
    if layout == "wide":
        bad = [c for c in df.columns if c != "response" and (not c or c.lower().startswith("unnamed:"))]
        if bad:
            raise InputError(f"{path.name}: a column has no name (an exported index?); every column after `response` must be a prompt key.")
        _no_duplicates(responses, path, "")
        per_prompt = {col: pd.DataFrame({"text": responses, "score": _numbers(df[col], path, col)}) for col in df.columns if col != "response"}
    else:
        prompts = df["prompt"].astype(str).str.strip()
        if (prompts == "").any() or df["prompt"].isna().any():
            row = int(np.flatnonzero((prompts == "").to_numpy() | df["prompt"].isna().to_numpy())[0])
            raise InputError(f"{path.name}: empty prompt on row {row + 2}.")
        scores = _numbers(df["score"], path, "score")
        per_prompt = {}
        for prompt in pd.unique(prompts):
            mask = (prompts == prompt).to_numpy()
            part = pd.DataFrame({"text": responses[mask].to_numpy(), "score": scores[mask].to_numpy()})
            _no_duplicates(part["text"], path, f" for prompt {prompt!r}")
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
            "model_id": model_id, "model_source": str(path.resolve()), "family": family,
            "model_kind": model_kind or ("reward_model" if score_kind == "reward" else "causal_lm"),
            "score_kind": score_kind, "revision": revision, "prompt_key": key, "prompt_text": text,
            "framing": framing, "candidates": "words", "head_status": "n/a", "scorer_version": "import",
            "source": "imported", "device": None,
            "params": {"file": str(path.resolve()), "sha256": digest, "layout": layout, "column": column},
        }
        runs.append((meta, frame.assign(token_id=None, first_token_score=None, n_tokens=None)))
    n_responses = len(responses) if layout == "wide" else int(responses.nunique())  # long: distinct replies
    return PreparedFile(path=path, model_id=model_id, layout=layout, runs=runs, n_responses=n_responses)


def _responses(column: pd.Series, path: Path) -> pd.Series:
    text = column.astype(object)
    empty = text.isna().to_numpy() | (text.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        rows = [str(i + 2) for i in np.flatnonzero(empty)[:_MAX_LISTED]]
        raise InputError(f"{path.name}: empty response on row(s) {', '.join(rows)} (row 1 is the header).")
    return text.astype(str).reset_index(drop=True)


def _no_duplicates(responses: pd.Series, path: Path, where: str) -> None:
    dupes = responses[responses.duplicated(keep=False)]
    if len(dupes):
        listed = ", ".join(repr(v) for v in pd.unique(dupes)[:_MAX_LISTED])
        raise InputError(f"{path.name}: duplicate response(s){where}: {listed}. Each reply may be scored once per prompt.")


def _numbers(column: pd.Series, path: Path, name: str) -> pd.Series:
    raw = column.reset_index(drop=True)
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        idx = np.flatnonzero(bad)[:_MAX_LISTED]
        cells = ", ".join(f"row {i + 2}: {raw.iloc[i]!r}" for i in idx)
        raise InputError(f"{path.name}: column {name!r} holds missing or non-numeric scores ({cells}).")
    return values


def _resolve_prompts(columns, defaults, per_key, path) -> dict[str, tuple[str, str, str]]:
    """column -> (prompt key, prompt text, framing)."""
    out, unknown = {}, []
    for column in columns:
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
