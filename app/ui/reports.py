"""The "Download report" button every page carries: one self-contained HTML file of what the page shows
(engine/reports/html.py: interactive charts, sortable tables, embedded CSVs, provenance; no network needed)."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from engine.reports.html import Report, render


def report_button(build: Callable[[], Report], name: str, key: str) -> None:
    """`build` makes the report; it runs only when the button is clicked, and a click does not rerun the page."""
    st.download_button("Download report", lambda: render(build()).encode("utf-8"), file_name=name, mime="text/html",
                       key=key, on_click="ignore", icon=":material/description:",
                       help="One HTML file to open anywhere, offline: interactive charts, sortable tables, each "
                            "chart's data as CSV, and every setting behind the numbers.")
