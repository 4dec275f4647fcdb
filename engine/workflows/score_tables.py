"""Reading one score table (CSV or Parquet, wide or long) and checking its cells, for the importer.

CSV cells are read as text, so replies such as "NA" or "null" survive; column names are checked as the
file spells them, before pandas renames a repeated one (`greatest_ever_one.1`). Every error is an
InputError naming the file and, where there is one, the row (row 1 is the header).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from engine.errors import InputError
from engine.options import IMPORT_LAYOUTS as LAYOUTS

IMPORT_SUFFIXES = (".csv", ".parquet", ".pq")
LONG_COLUMNS = ("response", "prompt", "score")
MAX_LISTED = 5


def read_score_table(path: str | os.PathLike, layout: str = "auto") -> tuple[str, pd.DataFrame]:
    """(layout, table) of one file; CSV cells are read as text so replies like "NA" or "null" survive."""
    path = Path(path)
    if layout not in LAYOUTS:
        raise InputError(f"Unknown layout {layout!r}: use {', '.join(LAYOUTS)}.")
    suffix = path.suffix.lower()
    _check_header(path, suffix)
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


def _header_names(path: Path, suffix: str) -> list[str]:
    """Column names as the file spells them (pandas would already have renamed a repeated one)."""
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return next(csv.reader(fh), [])
    return list(pq.read_schema(path).names)


def _check_header(path: Path, suffix: str) -> None:
    if suffix not in IMPORT_SUFFIXES:
        return
    try:
        names = _header_names(path, suffix)
    except (UnicodeDecodeError, csv.Error, OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise InputError(f"{path.name}: cannot read its header as {suffix[1:].upper()}: {exc}") from None
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        key = name.strip().lower() if name.strip().lower() in LONG_COLUMNS else name.strip()
        if key in seen:
            raise InputError(f"{path.name}: column {name.strip()!r} appears twice (columns {seen[key]} and {position}); "
                             "each column name may appear once.")
        seen[key] = position


def responses_of(column: pd.Series, path: Path) -> pd.Series:
    text = column.astype(object)
    empty = text.isna().to_numpy() | (text.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        rows = [str(i + 2) for i in np.flatnonzero(empty)[:MAX_LISTED]]
        raise InputError(f"{path.name}: empty response on row(s) {', '.join(rows)} (row 1 is the header).")
    return text.astype(str).reset_index(drop=True)


def no_duplicates(responses: pd.Series, path: Path, where: str) -> None:
    dupes = responses[responses.duplicated(keep=False)]
    if len(dupes):
        listed = ", ".join(repr(v) for v in pd.unique(dupes)[:MAX_LISTED])
        raise InputError(f"{path.name}: duplicate response(s){where}: {listed}. Each reply may be scored once per prompt.")


def numbers_of(column: pd.Series, path: Path, name: str) -> pd.Series:
    raw = column.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(raw) or (raw.dtype == object and raw.map(lambda v: isinstance(v, (bool, np.bool_))).any()):
        # True/False would pass as 1/0: a flag column is not a score
        raise InputError(f"{path.name}: column {name!r} holds true/false values, not scores.")
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        idx = np.flatnonzero(bad)[:MAX_LISTED]
        cells = ", ".join(f"row {i + 2}: {raw.iloc[i]!r}" for i in idx)
        raise InputError(f"{path.name}: column {name!r} holds missing or non-numeric scores ({cells}).")
    return values
