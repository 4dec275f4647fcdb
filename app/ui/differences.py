"""The differences view shared by Values and Base models: A minus B per panel with its interval, a one-line
verdict and one reading per panel (engine.analysis.intervals computes them)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from engine.analysis.intervals import verdict


def show_differences(table: pd.DataFrame, y: str, x_title: str, facet: str | None = None, y_order=None,
                     facet_order=None, x_format: str = "~g") -> None:
    """Point = diff, bar = interval, one row per `y` value, one column per `facet` value; then the verdict
    and the readings."""
    st.markdown(f"**Verdict:** {verdict(table)}")
    shown = table.dropna(subset=["diff"])
    tooltip = [f"{y}:N", alt.Tooltip("diff:Q", format=".3~f"), alt.Tooltip("ci_low:Q", format=".3~f"),
               alt.Tooltip("ci_high:Q", format=".3~f"), "n_a:Q", "n_b:Q", "method:N"]
    y_axis = alt.Y(f"{y}:N", sort=y_order, title=None, axis=alt.Axis(labelLimit=200))
    zero = alt.Chart().mark_rule(color="#888", strokeDash=[4, 3]).encode(x=alt.datum(0))
    bars = alt.Chart().mark_rule(strokeWidth=3, color="#4c78a8").encode(
        y=y_axis, x=alt.X("ci_low:Q", title=x_title, axis=alt.Axis(format=x_format)), x2="ci_high:Q", tooltip=tooltip)
    points = alt.Chart().mark_point(filled=True, size=90, color="#1f3b57", opacity=1).encode(
        y=y_axis, x="diff:Q", tooltip=tooltip)
    height = 34 * max(1, shown[y].nunique()) + 20
    if facet and facet in shown:
        width = max(260, 1000 // max(1, shown[facet].nunique()) - 120)
        chart = alt.layer(zero, bars, points, data=shown).properties(width=width, height=height).facet(
            column=alt.Column(f"{facet}:N", title=None, sort=facet_order, header=alt.Header(labelFontSize=13)))
    else:
        chart = alt.layer(zero, bars, points, data=shown).properties(width=700, height=height)
    st.altair_chart(chart, width="content")
    st.markdown("\n".join(f"- {text}" for text in table["reading"]))
