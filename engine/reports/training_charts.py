"""Altair charts of training trajectories, shared by the CLI (saved to files) and the app (shown).

`trajectory_chart`: Fig 4a, median rank of each Big Two category vs training step, one panel per
base (rank 1 = the reward model's favourite word, drawn at the top); with several seeds, their mean
and a min-to-max band. Steps are 0, 1, 2, 4, ..., so the
x axis is symlog. `save_chart` writes PNG when vl-convert-python is installed, else HTML.
"""
from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

CATEGORY_COLORS = {"Agency": "#d95f02", "Communion": "#1b9e77"}


def trajectory_chart(trajectory: pd.DataFrame, value: str = "median_rank", title: str | None = None):
    """Line chart of `category_trajectory(...)` output: x = step, y = `value`, colour = category, panel = base.
    With several seeds the line is their mean and a band spans their min to max."""
    keys = ["base", "variant", "step", "category"]
    data = (trajectory.groupby(keys, sort=False, observed=True)[value]
            .agg(value="mean", low="min", high="max", n_seeds="count").reset_index())
    data["panel"] = data["base"].astype(str) + data["variant"].map(lambda v: "" if v == "all" else f" ({v})")
    categories = list(dict.fromkeys(data["category"]))
    colors = [CATEGORY_COLORS.get(c, "#7570b3") for c in categories]
    label = "median rank (1 = best)" if value == "median_rank" else "median rank / words ranked"
    seeds = int(data["n_seeds"].max())
    base = alt.Chart(data).encode(
        x=alt.X("step:Q", scale=alt.Scale(type="symlog"), title="training step", axis=_step_axis(data)),
        y=alt.Y("value:Q", scale=alt.Scale(reverse=True, zero=False),
                title=label + (f", mean of {seeds} seeds (band: min to max)" if seeds > 1 else "")),
        color=alt.Color("category:N", scale=alt.Scale(domain=categories, range=colors), title="Big Two"),
        tooltip=["base", "variant", "step", "category", alt.Tooltip("value:Q", format=".1f", title=value),
                 alt.Tooltip("low:Q", format=".1f", title="min over seeds"),
                 alt.Tooltip("high:Q", format=".1f", title="max over seeds"), "n_seeds"],
    )
    chart = base.mark_line() + base.mark_point(filled=True)
    if seeds > 1:
        chart = base.mark_area(opacity=0.2).encode(y="low:Q", y2="high:Q") + chart
    chart = chart.properties(width=320, height=220)
    chart = chart.facet(column=alt.Column("panel:N", title=None, sort=list(dict.fromkeys(data["panel"]))))  # run order
    return chart.properties(title=title or "Big Two median rank vs training step")


def accuracy_chart(checkpoints: pd.DataFrame):
    """Held-out preference accuracy vs step, one line per base (and data variant)."""
    data = checkpoints.dropna(subset=["eval_accuracy"]).copy()
    data["run"] = data["base"].astype(str) + data["variant"].map(lambda v: "" if v == "all" else f" ({v})")
    if "seed" in data and data["seed"].nunique() > 1:
        data["run"] += " seed " + data["seed"].astype(str)
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("step:Q", scale=alt.Scale(type="symlog"), title="training step", axis=_step_axis(data)),
        y=alt.Y("eval_accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="held-out accuracy"),
        color=alt.Color("run:N", title=None), tooltip=["run", "step", alt.Tooltip("eval_accuracy:Q", format=".3f")],
    ).properties(width=320, height=220, title="Held-out preference accuracy")


def loss_chart(curves: pd.DataFrame):
    """Training loss per optimiser step (the live view while a run trains), one line per run."""
    return alt.Chart(curves.dropna(subset=["loss"])).mark_line().encode(
        x=alt.X("step:Q", title="optimiser step"), y=alt.Y("loss:Q", title="training loss", scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", title=None), tooltip=["run", "step", alt.Tooltip("loss:Q", format=".4f")],
    ).properties(height=200)


def _step_axis(data: pd.DataFrame):
    """Ticks at the checkpoint steps (0, 1, 2, 4, ...) rather than the symlog scale's own crowded ones."""
    return alt.Axis(values=sorted(int(s) for s in data["step"].unique()), labelOverlap="greedy")


def save_chart(chart, path_without_suffix) -> Path:
    """PNG (needs vl-convert-python) or, without it, a self-contained HTML file. Returns the path written."""
    stem = Path(path_without_suffix)
    stem.parent.mkdir(parents=True, exist_ok=True)
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        path = stem.with_suffix(".html")
        chart.save(str(path))
        return path
    path = stem.with_suffix(".png")
    chart.save(str(path), scale_factor=2)
    return path
