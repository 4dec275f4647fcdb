"""The spreadsheet-safe form of a table: an .xlsx file whose text cells are text, never formulas.

A spreadsheet evaluates a CSV cell that starts with = + - @ even when it is quoted, so a token such as
`=HYPERLINK(...)` would run as a formula. In .xlsx every cell carries its type: text is stored as text
(openpyxl would store a string starting with "=" as a formula unless told otherwise) and marked with
a quote prefix, so editing the cell does not turn it into one either. Characters XML cannot carry
(control characters; carriage returns, which XML turns into line feeds) are written as `_xHHHH_`, as
Excel writes them, and `_x` followed by four hex digits in the text itself is escaped as `_x005F_`.
The second sheet, "provenance", holds the settings: one row per value, lists one row per item.
"""
from __future__ import annotations

import io
import json
import math
import re
from datetime import datetime

import numpy as np
import pandas as pd

from engine.errors import InputError

MAX_ROWS = 1_048_576 - 1  # a sheet's rows, less the header
MAX_CELL_CHARS = 32_767
TABLE_SHEET, PROVENANCE_SHEET = "table", "provenance"
FILE_FORMAT_KEY = "file_format"  # the provenance's description of the file itself (columns, types, how to read it)
_UNSAFE_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NOT_IN_XML = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")
_LOOKS_ESCAPED = re.compile("_(x[0-9A-Fa-f]{4}_)")
_ESCAPED = re.compile("_x([0-9A-Fa-f]{4})_")
_LIST_ITEM = re.compile(r"^(.*)\[(\d+)\]$")
_CONTINUED = " (continued)"


def escape_text(text: str) -> str:
    return _NOT_IN_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", _LOOKS_ESCAPED.sub(r"_x005F_\1", text))


def unescape_text(text: str) -> str:
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def unfit_reason(df: pd.DataFrame) -> str | None:
    """Why `df` cannot be one sheet (too many rows, or a text cell too long), or None when it can."""
    if len(df) > MAX_ROWS:
        return f"{len(df):,} rows: a spreadsheet holds at most {MAX_ROWS:,}"
    for name in df.columns:
        column = df[name]
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            text = column.dropna().astype(str)
            if not len(text) or text.str.len().max() * len("_x0000_") <= MAX_CELL_CHARS:
                continue  # escaping turns a character into at most 7: every cell fits, without escaping them all
            longest = text.map(lambda v: len(escape_text(v))).max()
            if longest and longest > MAX_CELL_CHARS:
                return f"column {name!r} holds a text of {longest:,} characters: a spreadsheet cell holds at most {MAX_CELL_CHARS:,}"
    return None


def _cell(sheet, value):
    """`value` as a cell value: text escaped and kept as text (a cell object, quote-prefixed, when it could read as
    a formula); numbers and dates as they are; NaN as an empty cell; infinities as the texts "inf" and "-inf"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, (bool, int, float, datetime)):
        return value
    text = escape_text(str(value))
    if not text.startswith(_UNSAFE_START):
        return text  # stored as text as it is: only a leading "=" makes openpyxl write a formula
    from openpyxl.cell import WriteOnlyCell  # openpyxl: only when an .xlsx is written

    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # never "f"
    cell.quotePrefix = True  # and editing the cell in a spreadsheet keeps it text
    return cell


def _provenance_rows(provenance: dict):
    for key, value in provenance.items():
        if isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False)
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield f"{key}[{i}]", item if not isinstance(item, (dict, list)) else str(item)
            continue
        if isinstance(value, str) and len(escape_text(value)) > MAX_CELL_CHARS:
            chunk = MAX_CELL_CHARS // 6  # an escaped character takes up to 7 characters
            for start in range(0, len(value), chunk):
                yield key + (_CONTINUED if start else ""), value[start:start + chunk]
            continue
        yield key, value


def xlsx_bytes(df: pd.DataFrame, provenance: dict) -> bytes:
    """The table on sheet "table" and its provenance on sheet "provenance", as .xlsx bytes."""
    from openpyxl import Workbook  # openpyxl: 1.2 s to import, only when an .xlsx is written

    reason = unfit_reason(df)
    if reason:
        raise InputError(f"Cannot write this table as .xlsx ({reason}): use .csv or .parquet.")
    book = Workbook(write_only=True)
    sheet = book.create_sheet(TABLE_SHEET)
    sheet.append([_cell(sheet, str(c)) for c in df.columns])
    columns = [df[c].astype(object).where(df[c].notna(), None).tolist() for c in df.columns]
    for row in zip(*columns):
        sheet.append([_cell(sheet, v) for v in row])
    notes = book.create_sheet(PROVENANCE_SHEET)
    notes.append([_cell(notes, "key"), _cell(notes, "value")])
    for key, value in _provenance_rows(provenance):
        notes.append([_cell(notes, key), _cell(notes, value)])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _sheet_rows(path, name: str) -> list[tuple]:
    from openpyxl import load_workbook  # openpyxl: only when an .xlsx is read

    book = load_workbook(path, read_only=True, data_only=False)
    try:
        rows = [tuple(unescape_text(v) if isinstance(v, str) else v for v in row)
                for row in book[name].iter_rows(values_only=True)]
    finally:
        book.close()
    return rows


def read_xlsx_provenance(path) -> dict:
    """The provenance sheet as a dict (lists rebuilt from their `key[i]` rows)."""
    meta: dict = {}
    for key, value in _sheet_rows(path, PROVENANCE_SHEET)[1:]:
        item = _LIST_ITEM.match(key)
        if item:
            meta.setdefault(item.group(1), []).append(value)
        elif key.endswith(_CONTINUED):
            meta[key[: -len(_CONTINUED)]] += value
        else:
            meta[key] = value
    if isinstance(meta.get(FILE_FORMAT_KEY), str):  # written as JSON text (a dict in the sidecar)
        meta[FILE_FORMAT_KEY] = json.loads(meta[FILE_FORMAT_KEY])
    return meta


def restore_columns(raw: pd.DataFrame, columns: list[dict]) -> pd.DataFrame:
    """Cells read back (text, or typed values from a spreadsheet; "" or None where empty) with the types and
    missing values `column_info` recorded."""
    out = {}
    for position, info in enumerate(columns):
        cells = raw.iloc[:, position].astype(object).tolist()
        dtype, empty = info["dtype"], [v is None or v == "" for v in cells]
        if dtype in ("bool", "boolean"):
            values = [None if e else v if isinstance(v, bool) else v == "True" for v, e in zip(cells, empty)]
        elif dtype.startswith(("int", "Int", "uint", "UInt")):
            values = [None if e else int(v) for v, e in zip(cells, empty)]
        elif dtype.startswith(("float", "Float")):
            values = [np.nan if e else float(v) for v, e in zip(cells, empty)]
        elif dtype.startswith("datetime"):
            values = pd.to_datetime(pd.Series([None if e else v for v, e in zip(cells, empty)]))
        else:
            missing = info.get("missing")
            rows = set(range(len(cells))) if missing == "empty cells" else set(missing or ())
            values = [None if (e and i in rows) else ("" if v is None else v) for i, (v, e) in enumerate(zip(cells, empty))]
        column = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
        try:
            out[info["name"]] = column.astype(dtype)
        except (TypeError, ValueError):
            out[info["name"]] = column
    return pd.DataFrame(out, index=range(len(raw)))


def read_xlsx(path) -> pd.DataFrame:
    """The table sheet of a file written by `xlsx_bytes`, with its recorded column types."""
    rows = _sheet_rows(path, TABLE_SHEET)
    header, body = rows[0], rows[1:]
    raw = pd.DataFrame([[("" if v is None else v) for v in row] for row in body], columns=range(len(header)))
    columns = read_xlsx_provenance(path).get(FILE_FORMAT_KEY, {}).get("columns")
    if columns is None:
        return raw.set_axis(list(header), axis=1)
    return restore_columns(raw, columns)  # "inf" and "-inf" texts become floats there
