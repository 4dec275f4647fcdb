"""Altair charts of token searches, value analyses and implicit-RM comparisons, for the HTML reports and
the static site (the training charts are in engine/reports/training_charts.py). Each function takes the
table it draws, so the same table is offered as the chart's data.

Ranks: 1 = best, drawn at the top (reversed y scale).
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

RANK_SCALE = alt.Scale(reverse=True, zero=False)
FRAMING_ORDER = ("positive", "negative", "no framing")


def histogram_bins(scores: pd.Series, bins: int = 50) -> pd.DataFrame:
    """Score histogram as a table: from, to, tokens (what the chart draws, whatever the vocabulary's size)."""
    counts, edges = np.histogram(np.asarray(scores, dtype=float), bins=bins)
    return pd.DataFrame({"from": edges[:-1], "to": edges[1:], "tokens": counts})


def score_histogram(bins: pd.DataFrame, marks: pd.DataFrame | None, kind: str):
    """Bars of `histogram_bins`; a red rule at the score of each chosen word found (`marks`: word, token, rank, score)."""
    bars = alt.Chart(bins).mark_bar(color="#8fa8c8").encode(
        x=alt.X("from:Q", title=f"score ({kind})", scale=alt.Scale(zero=False)), x2="to:Q",
        y=alt.Y("tokens:Q", title="tokens", scale=alt.Scale(zero=True)), y2=alt.datum(0),
        tooltip=[alt.Tooltip("from:Q", format=".3f"), alt.Tooltip("to:Q", format=".3f"), "tokens:Q"])
    layers = [bars]
    found = marks.dropna(subset=["rank"]) if marks is not None and len(marks) else None
    if found is not None and len(found):
        layers.append(alt.Chart(found).mark_rule(color="#d62728", strokeWidth=2).encode(
            x="score:Q", tooltip=["word:N", "token:N", alt.Tooltip("rank:Q", format=","), alt.Tooltip("score:Q", format=".3f")]))
    return alt.layer(*layers).properties(width=560, height=200)


def word_positions_chart(positions: pd.DataFrame, words: list[str]):
    """Rank (log scale) of each chosen word's best token, one colour and shape per model."""
    found = positions.dropna(subset=["rank"])
    return alt.Chart(found).mark_point(filled=True, size=120).encode(
        x=alt.X("rank:Q", scale=alt.Scale(type="log"), title="rank (log scale, 1 = best)"),
        y=alt.Y("word:N", sort=list(words), title=None),
        color=alt.Color("model:N", legend=alt.Legend(orient="bottom")), shape="model:N",
        tooltip=["word:N", "model:N", "token:N", alt.Tooltip("rank:Q", format=","), alt.Tooltip("score:Q", format=".3f"),
                 alt.Tooltip("top_pct:Q", format=".2f", title="top %")],
    ).properties(width=560, height=40 + 32 * len(words))


def _orders(medians: pd.DataFrame, categories: list[str]) -> tuple[list[str], list[str]]:
    present = set(medians["category"])
    return [c for c in categories if c in present], [f for f in FRAMING_ORDER if f in set(medians["framing"])]


def median_rank_chart(medians: pd.DataFrame, categories: list[str], group: str = "model_id",
                      value: str = "median_rank"):
    """Fig 1: box plots of the (model, prompt) median ranks per category, one panel per framing, colour = `group`."""
    category_order, framing_order = _orders(medians, categories)
    palette = alt.Scale(domain=sorted(medians[group].dropna().unique()), scheme="tableau10")
    title = "median rank (1 = best, top)" if value == "median_rank" else "median rank / ranked words (0 = best)"
    base = alt.Chart().encode(
        x=alt.X("category:N", sort=category_order, title=None, axis=alt.Axis(labelAngle=-30 if len(category_order) > 4 else 0)),
        xOffset=alt.XOffset(f"{group}:N"),
        color=alt.Color(f"{group}:N", title=group.removesuffix("_id"), scale=palette, legend=alt.Legend(orient="top", labelLimit=260)))
    box = base.mark_boxplot(extent="min-max", size=18, opacity=0.55, median={"color": "black"}).encode(
        y=alt.Y(f"{value}:Q", scale=RANK_SCALE, title=title))
    points = base.mark_circle(size=28, opacity=0.9).encode(
        y=alt.Y(f"{value}:Q", scale=RANK_SCALE),
        tooltip=["model_id:N", "family:N", "prompt_key:N", "category:N", alt.Tooltip(f"{value}:Q", format=".1f"),
                 alt.Tooltip("n_words:Q", title="words ranked in category")])
    width = max(240, 1060 // max(1, len(framing_order)) - 110)
    return alt.layer(box, points, data=medians).properties(width=width, height=340).facet(
        column=alt.Column("framing:N", title=None, sort=framing_order, header=alt.Header(labelFontSize=13)))


def word_strip_chart(by_word: pd.DataFrame, categories: list[str], group: str = "model_id"):
    """One point per word: its rank averaged over a framing's prompts (`by_word`: group, framing, category, word, rank)."""
    category_order, framing_order = _orders(by_word, categories)
    width = max(240, 1060 // max(1, len(framing_order)) - 110)
    return alt.Chart(by_word).mark_circle(size=26, opacity=0.6).encode(
        x=alt.X("category:N", sort=category_order, title=None, axis=alt.Axis(labelAngle=-30 if len(category_order) > 4 else 0)),
        xOffset=alt.XOffset(f"{group}:N"),
        y=alt.Y("rank:Q", scale=RANK_SCALE, title="mean rank over prompts (1 = best, top)"),
        color=alt.Color(f"{group}:N", title=group.removesuffix("_id"), legend=alt.Legend(orient="top", labelLimit=260)),
        tooltip=["word:N", alt.Tooltip("rank:Q", format=".1f", title="mean rank"), f"{group}:N", "category:N",
                 "framing:N", "n_prompts:Q"],
    ).properties(width=width, height=320).facet(
        column=alt.Column("framing:N", title=None, sort=framing_order, header=alt.Header(labelFontSize=13)))


def tau_cells(tau_summary: pd.DataFrame) -> pd.DataFrame:
    """The symmetric model x model grid of mean Kendall's tau (1 on the diagonal), per framing."""
    parts = []
    for framing, part in tau_summary.groupby("framing", sort=False):
        names = list(dict.fromkeys([*part["model_a"], *part["model_b"]]))
        cols = ["model_a", "model_b", "mean_tau", "n_prompts"]
        parts += [part[cols], part.rename(columns={"model_a": "model_b", "model_b": "model_a"})[cols],
                  pd.DataFrame({"model_a": names, "model_b": names, "mean_tau": 1.0, "n_prompts": pd.NA})]
        parts[-3:] = [p.assign(framing=framing) for p in parts[-3:]]
    return pd.concat(parts, ignore_index=True)


def tau_heatmap(cells: pd.DataFrame):
    """Mean Kendall's tau between models, one panel per framing."""
    names = list(dict.fromkeys(cells["model_a"]))
    base = alt.Chart().encode(x=alt.X("model_a:N", sort=names, title=None, axis=alt.Axis(labelAngle=-25, labelLimit=180)),
                              y=alt.Y("model_b:N", sort=names, title=None, axis=alt.Axis(labelLimit=220)))
    heat = base.mark_rect().encode(
        color=alt.Color("mean_tau:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue"), title="mean tau"),
        tooltip=["model_a:N", "model_b:N", alt.Tooltip("mean_tau:Q", format=".3f"), "n_prompts:Q"])
    labels = base.mark_text(fontSize=13).encode(text=alt.Text("mean_tau:Q", format=".2f"))
    side = max(44, min(90, 420 // max(1, len(names))))
    return alt.layer(heat, labels, data=cells).properties(width=alt.Step(side), height=alt.Step(side)).facet(
        column=alt.Column("framing:N", title=None))


def named_words_chart(named: pd.DataFrame, model_a: str, model_b: str, words: list[str], factor: float = 1.0,
                      note: str = ""):
    """Lollipops of battery-mean MWLR per named word (positive: B favours the word). `factor` and `note`
    rescale tiny MWLR values for the axis (e.g. 1e7 and "(x 10^-7)"); tooltips keep the raw values."""
    data = named.assign(mwlr_shown=named["mwlr"] * factor,
                        favours_model=named["favours"].map({model_a: f"A: {model_a}", model_b: f"B: {model_b}"})
                        .fillna("neither"))
    base = alt.Chart(data).encode(y=alt.Y("word:N", sort=list(words), title=None,
                                          axis=alt.Axis(labelOverlap=False, labelFontSize=13)))
    stems = base.mark_rule(strokeWidth=2, color="#9aa5b1").encode(
        x=alt.X("mwlr_shown:Q", title=f"MWLR{' ' + note if note else ''} (positive: B favours)",
                axis=alt.Axis(format="~g")), x2=alt.datum(0))
    extra = [alt.Tooltip("mwlr_sd:Q", format=".3g", title="SD over prompts"), "n_prompts:Q"] \
        if {"mwlr_sd", "n_prompts"} <= set(data.columns) else []
    heads = base.mark_circle(size=160, opacity=1).encode(
        x="mwlr_shown:Q", color=alt.Color("favours_model:N", title="favoured by",
                                          scale=alt.Scale(domain=[f"A: {model_a}", f"B: {model_b}", "neither"],
                                                          range=["#e45756", "#4c78a8", "#9aa5b1"]),
                                          legend=alt.Legend(orient="top", labelLimit=320)),
        tooltip=["word:N", alt.Tooltip("mwlr:Q", format=".4g"), alt.Tooltip("log_ratio:Q", format=".3f"),
                 alt.Tooltip("logp_a:Q", format=".3f"), alt.Tooltip("logp_b:Q", format=".3f"), *extra])
    zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color="black").encode(x="x:Q")
    return (zero + stems + heads).properties(width=520, height=alt.Step(34))


def category_bars(summary: pd.DataFrame, categories: list[str]):
    """Mean MWLR of each lexicon category's words, per framing (implicit-RM comparison)."""
    return alt.Chart(summary).mark_bar().encode(
        x=alt.X("category:N", sort=list(categories), title=None, axis=alt.Axis(labelAngle=0 if len(categories) <= 4 else -30)),
        xOffset="framing:N", y=alt.Y("mean_mwlr:Q", title="mean MWLR (positive: B favours)", axis=alt.Axis(format=".2~g")),
        color=alt.Color("framing:N", legend=alt.Legend(orient="top")),
        tooltip=["category:N", "framing:N", alt.Tooltip("mean_mwlr:Q", format=".4g"),
                 alt.Tooltip("share_positive:Q", format=".0%"), "n_words:Q", "n_prompts:Q"],
    ).properties(width=420, height=300)
