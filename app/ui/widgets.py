"""Form widgets generated from the engine's config dataclasses, and download buttons."""
from __future__ import annotations

import dataclasses
import functools

import pandas as pd
import streamlit as st

from engine.configs import SearchConfig
from engine.reports.export import csv_bytes

def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def config_widgets(cls=SearchConfig, skip: tuple[str, ...] = ("model",), prefix: str = "", columns: int = 3) -> dict:
    """One widget per dataclass field, its help text and choices from the field's metadata, each
    bound to the URL query string (parameter = prefix + field name). Returns field -> value."""
    values = {}
    fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
    cols = st.columns(columns)
    for i, f in enumerate(fields):
        meta, key = f.metadata, prefix + f.name
        help_text = meta.get("help")
        with cols[i % columns]:
            choices = meta.get("choices")
            if choices:
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
    """A download button for a table, as CSV with a `# key: value` header of the settings behind it.
    The CSV is written only when clicked (a 262k-token ranking takes a second), and the click does
    not rerun the page."""

    st.download_button(label, functools.partial(csv_bytes, table, metadata), file_name=name, mime="text/csv",
                       key=key, on_click="ignore", icon=":material/download:",
                       help=help or f"{name}: {len(table):,} rows, settings in the # header lines")


