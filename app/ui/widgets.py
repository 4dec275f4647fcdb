"""Form widgets generated from the engine's config dataclasses, and download buttons."""
from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path, PurePath

import pandas as pd
import streamlit as st

from engine.configs import SearchConfig
from engine.policy import ENV_REMOTE_CODE_MODELS, ServerPolicy
from engine.reports.export import SIDECAR_SUFFIX, csv_bytes, provenance, provenance_json, write_table
from engine.reports.spreadsheet import unfit_reason, xlsx_bytes

REMOTE_CODE = "trust_remote_code"  # never bound to the URL: a shared link must not switch on repository code


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def remote_code_checkbox(key: str, help_text: str, models: list[str] | None, policy: ServerPolicy | None = None) -> bool:
    """The "Trust remote code" box: hidden in public mode, disabled unless every model typed is on the
    operator's allow-list, and True only then (a box ticked before a model was added counts for nothing)."""
    policy = policy or ServerPolicy.from_env()
    if policy.public:
        return False
    models = [m for m in (models or []) if m]
    allowed = bool(models) and all(policy.allows_remote_code(m) for m in models)
    if not allowed:
        not_listed = ", ".join(m for m in models if not policy.allows_remote_code(m)) or "none chosen"
        help_text = (f"{help_text}\n\nOnly for models the operator allows (registry entries that need it, or "
                     f"{ENV_REMOTE_CODE_MODELS}); not allowed here: {not_listed}.")
    ticked = st.checkbox(_label(REMOTE_CODE), value=False, help=help_text, key=key, disabled=not allowed)
    return bool(ticked and allowed)


def config_widgets(cls=SearchConfig, skip: tuple[str, ...] = ("model",), prefix: str = "", columns: int = 3,
                   models: list[str] | None = None) -> dict:
    """One widget per dataclass field, its help text and choices from the field's metadata, each bound to
    the URL query string (parameter = prefix + field name), except `trust_remote_code`, which is never
    read from the URL and only offered for `models` on the operator's allow-list (default: the Token
    search page's model picker, session key "models"). Returns field -> value."""
    values = {}
    fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
    if models is None:
        models = st.session_state.get(prefix + "models") or []
    cols = st.columns(columns)
    for i, f in enumerate(fields):
        meta, key = f.metadata, prefix + f.name
        help_text = meta.get("help")
        with cols[i % columns]:
            choices = meta.get("choices")
            if f.name == REMOTE_CODE:
                values[f.name] = remote_code_checkbox(key, help_text, models)
            elif choices:
                options = list(choices) if f.default is not None else [None, *choices]
                values[f.name] = st.selectbox(
                    _label(f.name), options, index=options.index(f.default), help=help_text, key=key,
                    format_func=lambda v: "auto" if v is None else str(v), bind="query-params")
            elif f.type in (bool, "bool"):
                values[f.name] = st.checkbox(_label(f.name), value=bool(f.default), help=help_text, key=key,
                                             bind="query-params")
            elif "int" in str(f.type):
                values[f.name] = st.number_input(_label(f.name), value=f.default, step=1,
                                                 min_value=1 if f.default is None else 0,
                                                 help=help_text, key=key, placeholder="auto", bind="query-params")
                if values[f.name] is not None:
                    values[f.name] = int(values[f.name])
            else:
                text = st.text_input(_label(f.name), value=f.default or "", help=help_text, key=key,
                                     placeholder="auto", bind="query-params")
                values[f.name] = text.strip() or None
    return values


# Above these sizes a file is not built inside the page (the click would hang with nothing on screen):
# the button is replaced by the size and the command that writes the file.
XLSX_MAX_ROWS_IN_APP = 100_000  # a 262k-row ranking takes about 15 s as .xlsx
CSV_MAX_BYTES_IN_APP = 200 * 2**20


def estimated_csv_bytes(table: pd.DataFrame) -> int:
    """The CSV's size, from the first 2,000 rows (exact for smaller tables)."""
    head = table.head(2000)
    return int(len(csv_bytes(head)) * max(1.0, len(table) / max(1, len(head))))


def download_csv(label: str, table: pd.DataFrame, metadata: dict, name: str, key: str | None = None,
                 help: str | None = None, cli: str | None = None, parquet: bool = False) -> None:
    """Download buttons for one table: `label` gives `<name>.csv` (exact text, header on line 1, opens with
    pandas.read_csv), "Provenance" its settings (`<name>.meta.json`), then an .xlsx for spreadsheets (text
    never becomes a formula; sheet "provenance" holds the settings) and, with `parquet`, a Parquet file
    (provenance in its metadata). Files are built only when clicked, and a click does not rerun the page.
    Tables too large to build in the page show their size and `cli`, the command that writes them."""
    stem = PurePath(name).stem
    key = key or f"dl-{stem}"
    rows = f"{len(table):,} rows"
    size = estimated_csv_bytes(table)
    unfit = unfit_reason(table) or (f"{rows}: too slow to build in the browser (over {XLSX_MAX_ROWS_IN_APP:,} rows)"
                                    if len(table) > XLSX_MAX_ROWS_IN_APP else None)
    how = f"; write it with `{cli}`" if cli else ""
    with st.container(horizontal=True, gap="small"):
        if size > CSV_MAX_BYTES_IN_APP:
            st.caption(f"{label}: about {size / 2**20:,.0f} MB ({rows}), too large to build in the page{how}.")
        else:
            st.download_button(label, functools.partial(csv_bytes, table), file_name=f"{stem}.csv", mime="text/csv",
                               key=key, on_click="ignore", icon=":material/download:",
                               help=help or f"{stem}.csv ({rows}, about {size / 2**20:,.1f} MB; text exact, for pandas, "
                                            "R, DuckDB). Its settings are in the Provenance file.")
        st.download_button("Provenance", functools.partial(provenance_json, table, metadata, "csv"),
                           file_name=f"{stem}{SIDECAR_SUFFIX}", mime="application/json", key=f"{key}-meta",
                           on_click="ignore", icon=":material/info:",
                           help=f"{stem}{SIDECAR_SUFFIX}: the models, revisions, prompts and methods behind the table")
        st.download_button(f"{label.removesuffix(' CSV')} .xlsx",
                           functools.partial(_xlsx, table, metadata), file_name=f"{stem}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           key=f"{key}-xlsx", on_click="ignore", icon=":material/table:", disabled=unfit is not None,
                           help=f"Not as a spreadsheet here: {unfit}{how}" if unfit else
                           f"{stem}.xlsx ({rows}) for spreadsheets: text stays text, never a formula; settings on "
                           "the second sheet")
        if parquet:
            st.download_button(f"{label.removesuffix(' CSV')} Parquet", functools.partial(_parquet, table, metadata, stem),
                               file_name=f"{stem}.parquet", mime="application/vnd.apache.parquet", key=f"{key}-parquet",
                               on_click="ignore", icon=":material/dataset:",
                               help=f"{stem}.parquet ({rows}): compact and typed; provenance in the file's metadata")


def _parquet(table: pd.DataFrame, metadata: dict, stem: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return write_table(table, Path(folder) / f"{stem}.parquet", metadata).read_bytes()


def _xlsx(table: pd.DataFrame, metadata: dict) -> bytes:
    return xlsx_bytes(table, provenance(table, metadata, "xlsx"))
