"""Form widgets generated from the engine's config dataclasses, and download buttons."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path, PurePath

import pandas as pd
import streamlit as st

from engine.config_fields import FieldSpec, field_specs, parse_value
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
                   models: list[str] | None = None, defaults: dict | None = None, only: tuple[str, ...] | None = None,
                   options: dict[str, list] | None = None) -> dict:
    """One widget per dataclass field (engine.config_fields: the same reading of a field as the CLI's options),
    its help text and choices from the field, each bound to the URL query string (parameter = prefix + field
    name), except `trust_remote_code`, which is never read from the URL and only offered for `models` on the
    operator's allow-list (default: the Token search page's model picker, session key "models").
    `defaults`: starting values other than the dataclass's (a preset's). `only`: these fields, in this order,
    instead of all but `skip`. `options`: suggestions for list fields (field -> values; others may be typed).
    Returns field -> value."""
    values = {}
    specs = [s for s in field_specs(cls) if s.name not in skip]
    if only is not None:
        by_name = {s.name: s for s in specs}
        specs = [by_name[name] for name in only]
    if models is None:
        models = st.session_state.get(prefix + "models") or []
    cols = st.columns(columns)
    for i, spec in enumerate(specs):
        with cols[i % columns]:
            values[spec.name] = field_widget(spec, prefix + spec.name, models, (defaults or {}).get(spec.name, spec.default),
                                             (options or {}).get(spec.name))
    return values


def field_widget(spec: FieldSpec, key: str, models: list[str] | None = None, default=None, options: list | None = None):
    """The widget of one settings field, returning a value of the field's type (None = auto). A list field with
    `options` is a multiselect of them that also takes typed values (repeated URL parameters)."""
    label, help_text = _label(spec.name), spec.help
    if spec.name == REMOTE_CODE:
        return remote_code_checkbox(key, help_text, models)
    if options is not None and spec.kind.startswith("list"):
        default = list(default or [])
        picked = st.multiselect(label, list(dict.fromkeys([*default, *options])), default=default, help=help_text,
                                key=key, accept_new_options=True, bind="query-params")
        return [parse_value(spec, str(v))[0] for v in picked] if spec.kind == "list[int]" else list(picked)
    if spec.choices:
        options = [None, *spec.choices] if spec.optional else list(spec.choices)
        return st.selectbox(label, options, index=options.index(default) if default in options else 0, help=help_text,
                            key=key, format_func=lambda v: "auto" if v is None else str(v), bind="query-params")
    if spec.kind == "bool":
        return st.checkbox(label, value=bool(default), help=help_text, key=key, bind="query-params")
    if spec.kind in ("int", "float"):
        number = int if spec.kind == "int" else float
        value = st.number_input(label, value=None if default is None else number(default), step=1 if number is int else None,
                                min_value=1 if (spec.optional and number is int) else None, help=help_text, key=key,
                                placeholder="auto", bind="query-params", format=None if number is int else "%g")
        return None if value is None else number(value)
    shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else \
        json.dumps(default) if isinstance(default, dict) else (default or "")
    text = st.text_input(label, value=shown, help=help_text, key=key, placeholder="auto" if spec.optional else None,
                         bind="query-params")
    if spec.kind == "str":
        return text.strip() or (None if spec.optional else "")
    return parse_value(spec, text)


_UNCHECKED = object()
# Above these sizes a file is not built inside the page (the click would hang with nothing on screen):
# the button is replaced by the size and the command that writes the file.
XLSX_MAX_ROWS_IN_APP = 100_000  # a 262k-row ranking takes about 15 s as .xlsx
CSV_MAX_BYTES_IN_APP = 200 * 2**20


def estimated_csv_bytes(table: pd.DataFrame) -> int:
    """The CSV's size, from the first 2,000 rows (exact for smaller tables)."""
    head = table.head(2000)
    return int(len(csv_bytes(head)) * max(1.0, len(table) / max(1, len(head))))


def download_csv(label: str, table, metadata: dict, name: str, key: str | None = None, help: str | None = None,
                 cli: str | None = None, parquet: bool = False, rows: int | None = None, unfit=_UNCHECKED) -> None:
    """Download buttons for one table: `label` gives `<name>.csv` (exact text, header on line 1, opens with
    pandas.read_csv), "Provenance" its settings (`<name>.meta.json`), then an .xlsx for spreadsheets (text
    never becomes a formula; sheet "provenance" holds the settings) and, with `parquet`, a Parquet file
    (provenance in its metadata). Files are built only when clicked, and a click does not rerun the page.
    Tables too large to build in the page show their size and `cli`, the command that writes them.
    `table` may be a function that builds the table on click; then give its `rows` and `unfit`
    (engine.reports.spreadsheet.unfit_reason, None when it fits) so that nothing is built before."""
    stem = PurePath(name).stem
    key = key or f"dl-{stem}"
    lazy = callable(table)
    build = table if lazy else (lambda: table)
    n_rows = len(table) if rows is None else rows
    rows_text = f"{n_rows:,} rows"
    size = None if lazy else estimated_csv_bytes(table)
    unfit = (None if lazy else unfit_reason(table)) if unfit is _UNCHECKED else unfit
    unfit = unfit or (f"{rows_text}: too slow to build in the browser (over {XLSX_MAX_ROWS_IN_APP:,} rows)"
                      if n_rows > XLSX_MAX_ROWS_IN_APP else None)
    how = f"; write it with `{cli}`" if cli else ""
    about = f", about {size / 2**20:,.1f} MB" if size is not None else ""
    with st.container(horizontal=True, gap="small"):
        if size is not None and size > CSV_MAX_BYTES_IN_APP:
            st.caption(f"{label}: about {size / 2**20:,.0f} MB ({rows_text}), too large to build in the page{how}.")
        else:
            st.download_button(label, lambda: csv_bytes(build()), file_name=f"{stem}.csv", mime="text/csv",
                               key=key, on_click="ignore", icon=":material/download:",
                               help=help or f"{stem}.csv ({rows_text}{about}; text exact, for pandas, R, DuckDB). "
                                            "Its settings are in the Provenance file.")
        st.download_button("Provenance", lambda: provenance_json(build(), metadata, "csv"),
                           file_name=f"{stem}{SIDECAR_SUFFIX}", mime="application/json", key=f"{key}-meta",
                           on_click="ignore", icon=":material/info:",
                           help=f"{stem}{SIDECAR_SUFFIX}: the models, revisions, prompts and methods behind the table")
        st.download_button(f"{label.removesuffix(' CSV')} .xlsx",
                           lambda: _xlsx(build(), metadata), file_name=f"{stem}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           key=f"{key}-xlsx", on_click="ignore", icon=":material/table:", disabled=unfit is not None,
                           help=f"Not as a spreadsheet here: {unfit}{how}" if unfit else
                           f"{stem}.xlsx ({rows_text}) for spreadsheets: text stays text, never a formula; settings on "
                           "the second sheet")
        if parquet:
            st.download_button(f"{label.removesuffix(' CSV')} Parquet", lambda: _parquet(build(), metadata, stem),
                               file_name=f"{stem}.parquet", mime="application/vnd.apache.parquet", key=f"{key}-parquet",
                               on_click="ignore", icon=":material/dataset:",
                               help=f"{stem}.parquet ({rows_text}): compact and typed; provenance in the file's metadata")


def _parquet(table: pd.DataFrame, metadata: dict, stem: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return write_table(table, Path(folder) / f"{stem}.parquet", metadata).read_bytes()


def _xlsx(table: pd.DataFrame, metadata: dict) -> bytes:
    return xlsx_bytes(table, provenance(table, metadata, "xlsx"))
