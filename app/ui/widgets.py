"""Form widgets generated from the engine's config dataclasses, and download buttons."""
from __future__ import annotations

import dataclasses
import functools
from pathlib import PurePath

import pandas as pd
import streamlit as st

from engine.configs import SearchConfig
from engine.policy import ENV_REMOTE_CODE_MODELS, ServerPolicy
from engine.reports.export import csv_bundle, provenance
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


def download_csv(label: str, table: pd.DataFrame, metadata: dict, name: str, key: str | None = None,
                 help: str | None = None) -> None:
    """Two download buttons for a table: `label` gives a zip of the CSV (exact, header on line 1) and its
    provenance (`<name>.meta.json`); the second an .xlsx for spreadsheets (text never becomes a formula;
    sheet "provenance" holds the settings). Files are built only when clicked (a 262k-token ranking takes
    a second as CSV, about 15 s as .xlsx) and a click does not rerun the page."""
    stem = PurePath(name).stem
    rows = f"{len(table):,} rows"
    unfit = unfit_reason(table)
    with st.container(horizontal=True, gap="small"):
        st.download_button(label, functools.partial(csv_bundle, table, metadata, stem), file_name=f"{stem}.zip",
                           mime="application/zip", key=key, on_click="ignore", icon=":material/download:",
                           help=help or f"{stem}.csv ({rows}; text exact, for pandas, R, DuckDB) and {stem}.meta.json "
                                        "(the settings behind it), zipped")
        st.download_button(f"{label.removesuffix(' CSV')} .xlsx",
                           functools.partial(_xlsx, table, metadata), file_name=f"{stem}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           key=f"{key}-xlsx" if key else None, on_click="ignore", icon=":material/table:",
                           disabled=unfit is not None,
                           help=f"Cannot be a spreadsheet: {unfit}" if unfit else
                           f"{stem}.xlsx ({rows}) for spreadsheets: text stays text, never a formula; settings on "
                           "the second sheet")


def _xlsx(table: pd.DataFrame, metadata: dict) -> bytes:
    return xlsx_bytes(table, provenance(table, metadata, "xlsx"))
