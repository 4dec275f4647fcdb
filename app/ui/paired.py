"""The paired view on Token search: two models' top and bottom words for the page's prompt, side by side
(engine.reports.paired). Shown once two of the chosen models have a cached run; the table is built once
per pair of runs and k (a few DuckDB queries), never from the whole rankings."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui.formatting import file_name, visible_token
from app.ui.messages import guard
from app.ui.resources import cache, home
from app.ui.widgets import download_csv
from engine.reports.paired import paired_words

SHARED_COLOUR = "background-color: #fff3c4"


@st.cache_data(show_spinner=False, max_entries=32)
def _paired(home_path: str, run_a: str, run_b: str, k: int) -> tuple[pd.DataFrame, dict]:
    return paired_words(cache(), run_a, run_b, k)


def _side_table(table: pd.DataFrame, side: str, other: str):
    """One model's list: rank, token, score, its rank in the other model, shared words highlighted."""
    part = table.dropna(subset=[f"{side}_rank"])
    shown = pd.DataFrame({"rank": part[f"{side}_rank"].astype(int), "token": part[f"{side}_token"].map(visible_token),
                          "score": part[f"{side}_score"], f"rank in {other}": pd.to_numeric(part[f"{side}_rank_in_other"]).astype(float),
                          "in both": part[f"{side}_in_both"].astype(bool)})
    return (shown.style.apply(lambda row: [SHARED_COLOUR if row["in both"] else ""] * len(row), axis=1)
            .format({"rank": "{:,}", "score": "{:.3f}", f"rank in {other}": "{:,.0f}"}))


def paired_view(runs: dict[str, dict], k: int) -> None:
    """The section, for the page's models that have a cached run for its prompt (model -> run row, as drawn)."""
    if len(runs) < 2:
        return
    st.subheader("Two models side by side", anchor=False)
    st.caption("The best and worst replies of two models for this prompt. Highlighted: words in both models' lists "
               "(matched after normalisation, so ' Love' and 'love' are one word); *rank in* the other model: that "
               "word's best rank in the other model's whole ranking (None: not one of its replies).")
    names = list(runs)
    c_a, c_b = st.columns(2)
    a = c_a.selectbox("Model A", names, index=0, key="paired_a")
    b = c_b.selectbox("Model B", names, index=1, key="paired_b")
    if a == b:
        st.info("Pick two different models to compare.", icon=":material/compare_arrows:")
        return
    with guard("Paired view") as g:
        table, metadata = _paired(home(), runs[a]["run_id"], runs[b]["run_id"], k)
    if g.failed:
        return
    for name, title in (("top", f"Top {k}"), ("bottom", f"Bottom {k}")):
        part = table[table["list"] == name]
        for column, side, model in zip(st.columns(2), "ab", (a, b)):
            with column:
                st.markdown(f"**{title} of {side.upper()}: {model}**")
                st.dataframe(_side_table(part, side, "B" if side == "a" else "A"), hide_index=True, width="stretch",
                             height=38 + 35 * min(len(part), 15))
    download_csv("Paired words CSV", table, metadata, file_name("paired", a, b, metadata["prompt_key"] or
                                                                metadata["prompt"][:40]), key="dl-paired")
