"""Write any ranking or summary table to CSV, Parquet or .xlsx, with the settings that produced it.

- CSV (raw, byte-exact): the header row is line 1 and nothing precedes it, so `pandas.read_csv(path)`,
  R's `read.csv`, DuckDB and spreadsheets read the file as it is. Text cells are quoted and written
  exactly (a token may be a lone carriage return, a quote, a comma or `=HYPERLINK(...)`); numbers are
  not quoted; a missing value is an empty, unquoted cell. Plain `pandas.read_csv(path)` reads text such
  as "NA", "null" or "" as NaN: `pandas.read_csv(path, keep_default_na=False)` keeps every token as
  written, and `read_table(path)` restores every column exactly (its types come from the sidecar).
  Spreadsheets evaluate cells starting with = + - @ even when quoted: open the .xlsx form instead.
- The provenance (model, revision, tokenizer hash, prompt, template, dtype, lexicon and its hash, run
  ids...) goes to a JSON sidecar with the same stem: `top.csv` + `top.meta.json`; in Parquet files, to
  the schema's key-value metadata under the key `valuescope`; in .xlsx files, to a second sheet
  (engine/reports/spreadsheet.py, where every text cell is text, never a formula).
"""
from __future__ import annotations

import io
import json
import math
import os
import zipfile
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine import __version__
from engine.errors import InputError
from engine.reports.spreadsheet import FILE_FORMAT_KEY, read_xlsx, read_xlsx_provenance, restore_columns, xlsx_bytes

TABLE_SUFFIXES = (".csv", ".parquet", ".xlsx")
SIDECAR_SUFFIX = ".meta.json"
PARQUET_KEY = b"valuescope"
READING = {
    "csv": "Header on line 1. pandas.read_csv(path, keep_default_na=False) keeps every text cell as written; plain "
           "pandas.read_csv(path) reads text such as 'NA', 'null' or '' as NaN. valuescope's "
           "engine.reports.export.read_table(path) restores every column exactly, with its type. Spreadsheets "
           "evaluate cells that start with = + - @: open the .xlsx export in them, not this file.",
    "parquet": "pandas.read_parquet(path); provenance in the schema metadata under the key 'valuescope'.",
    "xlsx": "Sheet 'table' holds the table, every text cell stored as text (never a formula); characters a "
            "spreadsheet cannot hold (control characters, carriage returns) are written as _xHHHH_, as Excel does. "
            "Sheet 'provenance' holds these settings.",
}


def sidecar_path(path: str | Path) -> Path:
    """`top.csv` -> `top.meta.json`."""
    path = Path(path)
    return path.with_name(path.name[: len(path.name) - len(path.suffix)] + SIDECAR_SUFFIX)


def table_suffix(path: str | Path) -> str:
    """The file's kind from its suffix (".pq" counts as Parquet); InputError for anything else."""
    suffix = Path(path).suffix.lower()
    suffix = ".parquet" if suffix == ".pq" else suffix
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"Cannot write {Path(path).name}: use a file name ending in .csv, .parquet or .xlsx.")
    return suffix


def table_files(stem: str, fmt: str) -> list[str]:
    """The files one table of format `fmt` (csv, parquet, xlsx) writes: `<stem>.<fmt>`, and for CSV its sidecar.
    The one place a format becomes a suffix: writers and the --force checks both use it."""
    if "." + fmt not in TABLE_SUFFIXES:
        raise InputError(f"Unknown table format {fmt!r}: use csv, parquet or xlsx.")
    return [f"{stem}.{fmt}", *([f"{stem}{SIDECAR_SUFFIX}"] if fmt == "csv" else [])]


def table_path(folder: str | Path, stem: str, fmt: str) -> Path:
    """Where the table `stem` of format `fmt` goes in `folder`."""
    return Path(folder) / table_files(stem, fmt)[0]


# ---- provenance -----------------------------------------------------------------------------------
def jsonable(value):
    """`value` as plain JSON: lists for tuples and sets, ISO text for dates, None for NaN and infinities."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Index, pd.Series)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT or isinstance(value, (bool, int, str)):
        return None if value is pd.NA or value is pd.NaT else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def column_info(df: pd.DataFrame) -> list[dict]:
    """Name and type of each column, and for text columns where a missing value (not "") was written as an
    empty cell: "missing": "empty cells", or the rows when the column also holds real empty strings."""
    info = []
    for name in df.columns:
        column = df[name]
        entry = {"name": str(name), "dtype": str(column.dtype)}
        if _is_text(column):
            missing = column.isna().to_numpy()
            if missing.any():
                empty = (column.astype(object) == "").to_numpy()
                entry["missing"] = [int(i) for i in np.flatnonzero(missing)] if empty.any() else "empty cells"
        info.append(entry)
    return info


def provenance(df: pd.DataFrame, metadata: dict | None, fmt: str) -> dict:
    """The settings behind a table, plus how its file is laid out: what the sidecar (or Parquet key) holds."""
    meta = jsonable(dict(metadata or {}))
    meta.setdefault("valuescope_version", __version__)
    meta[FILE_FORMAT_KEY] = {"format": fmt, "rows": len(df), "columns": column_info(df), "reading": READING[fmt]}
    return meta


def provenance_json(df: pd.DataFrame, metadata: dict | None, fmt: str = "csv") -> bytes:
    return json.dumps(provenance(df, metadata, fmt), indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8")


# ---- CSV ------------------------------------------------------------------------------------------
def _is_text(column: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
                or pd.api.types.is_datetime64_any_dtype(column))


def _csv_cells(column: pd.Series) -> list[str]:
    """One column as CSV cells: text quoted (inner quotes doubled), numbers as repr, missing as nothing."""
    values = column.astype(object).where(column.notna(), None).tolist()
    if pd.api.types.is_bool_dtype(column):
        return ["" if v is None else str(bool(v)) for v in values]
    if pd.api.types.is_integer_dtype(column):
        return ["" if v is None else str(int(v)) for v in values]
    if pd.api.types.is_float_dtype(column):
        return ["" if v is None else repr(float(v)) for v in values]
    return ["" if v is None else '"' + str(v).replace('"', '""') + '"' for v in values]


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The table as CSV: header row first, text quoted and exact, numbers unquoted (see the module docstring)."""
    header = ",".join('"' + str(c).replace('"', '""') + '"' for c in df.columns)
    columns = [_csv_cells(df[c]) for c in df.columns]
    lines = [header, *(",".join(row) for row in zip(*columns))]
    return ("\n".join(lines) + "\n").encode("utf-8")


def csv_bundle(df: pd.DataFrame, metadata: dict | None, stem: str) -> bytes:
    """A zip of `<stem>.csv` and `<stem>.meta.json` (for download buttons)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(f"{stem}.csv", csv_bytes(df))
        bundle.writestr(f"{stem}{SIDECAR_SUFFIX}", provenance_json(df, metadata, "csv"))
    return buf.getvalue()


# ---- writing and reading --------------------------------------------------------------------------
def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside `path`, then rename: an interrupted export never leaves half a file under its name."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_table(df: pd.DataFrame, path: str | Path, metadata: dict | None = None) -> Path:
    """Write `df` as .csv (+ .meta.json sidecar), .parquet or .xlsx, chosen by the file's suffix."""
    path = Path(path)
    suffix = table_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        _write_atomically(path, csv_bytes(df))
        _write_atomically(sidecar_path(path), provenance_json(df, metadata, "csv"))
    elif suffix == ".parquet":
        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = json.dumps(provenance(df, metadata, "parquet"), ensure_ascii=False, allow_nan=False).encode()
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), PARQUET_KEY: meta})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        _write_atomically(path, buf.getvalue())
    else:
        _write_atomically(path, xlsx_bytes(df, provenance(df, metadata, "xlsx")))
    return path


def _legacy_header_lines(path: Path) -> list[str]:
    """`# key: value` lines at the top of a CSV written by valuescope before sidecars."""
    lines = []
    with path.open(encoding="utf-8", newline="") as fh:
        for line in fh:
            if not line.startswith("# "):
                break
            lines.append(line)
    return lines


def read_metadata(path: str | Path) -> dict:
    """The provenance of a table written by `write_table`: its sidecar, Parquet metadata or provenance sheet."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        sidecar = sidecar_path(path)
        if sidecar.is_file():
            return json.loads(sidecar.read_text(encoding="utf-8"))
        pairs = (line[2:].rstrip("\r\n").partition(": ") for line in _legacy_header_lines(path))
        return {key: value for key, _, value in pairs}
    if suffix == ".xlsx":
        return read_xlsx_provenance(path)
    raw = pq.read_schema(path).metadata or {}
    if PARQUET_KEY in raw:
        return json.loads(raw[PARQUET_KEY])
    return {k.decode()[len("valuescope."):]: v.decode() for k, v in raw.items() if k.startswith(b"valuescope.")}


def read_table(path: str | Path) -> pd.DataFrame:
    """A table written by `write_table`, exactly as it was written (text, numbers, missing values, types)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return read_xlsx(path)
    if suffix != ".csv":
        return pd.read_parquet(path)
    meta = read_metadata(path)
    columns = meta.get(FILE_FORMAT_KEY, {}).get("columns") if isinstance(meta.get(FILE_FORMAT_KEY), dict) else None
    if columns is None:  # a CSV from elsewhere, or one with `# key: value` lines from an older valuescope
        return pd.read_csv(path, skiprows=len(_legacy_header_lines(path)), keep_default_na=False, na_values=[""])
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return restore_columns(raw, columns)
