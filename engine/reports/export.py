"""Write any ranking or summary table to CSV or Parquet, with the settings that produced it.

CSV files start with `# key: value` lines; read them back with `read_table` (or pandas'
`read_csv(path, skiprows=N)`: not `comment="#"`, which would cut tokens such as "#" short);
Parquet files carry the same pairs in the schema's key-value metadata under `valuescope.*`.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from engine.errors import InputError


def _flat(value) -> str:
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return "" if value is None else str(value).replace("\n", " ")


def csv_bytes(df: pd.DataFrame, metadata: dict | None = None) -> bytes:
    """CSV text with a commented metadata header, as bytes (for files and download buttons)."""
    buf = io.StringIO()
    for key, value in (metadata or {}).items():
        buf.write(f"# {key}: {_flat(value)}\n")
    # Quote every text field: tokens can be a lone '\r', a quote or a comma.
    df.to_csv(buf, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return buf.getvalue().encode("utf-8")


def write_table(df: pd.DataFrame, path: str | Path, metadata: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        path.write_bytes(csv_bytes(df, metadata))
    elif suffix in (".parquet", ".pq"):
        table = pa.Table.from_pandas(df, preserve_index=False)
        extra = {f"valuescope.{k}".encode(): _flat(v).encode() for k, v in (metadata or {}).items()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
        pq.write_table(table, path)
    else:
        raise InputError(f"Cannot write {path.name}: use a .csv or .parquet file name.")
    return path


def read_metadata(path: str | Path) -> dict:
    """The metadata header of a file written by `write_table`."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        meta = {}
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.startswith("# "):
                    break
                key, _, value = line[2:].rstrip("\n").partition(": ")
                meta[key] = value
        return meta
    raw = pq.read_schema(path).metadata or {}
    return {k.decode()[len("valuescope."):]: v.decode() for k, v in raw.items() if k.startswith(b"valuescope.")}


def read_table(path: str | Path) -> pd.DataFrame:
    """A table written by `write_table`, without its metadata header (tokens stay exactly as written)."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return pd.read_parquet(path)
    return pd.read_csv(path, skiprows=len(read_metadata(path)), keep_default_na=False, na_values=[""])
