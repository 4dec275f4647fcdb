"""Values: which lexicon categories (Big Two, Moral Foundations, your own dictionary) each model ranks high."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import ui
from app.ui.presets import paper_preset_selector
from engine.analysis.lexicons import BUILTIN_LEXICONS, load_lexicon
from engine.analysis.stats import FAMILY_TEST_DOC, MIXED_DOC, TAU_DOC
from engine.analysis.values import RANK_DOC
from engine.analysis.words import DEFAULT_VARIANT_POLICY, NORMALIZATION, VARIANT_POLICIES, VARIANT_POLICY_DOC
from engine.configs import AnalyzeConfig, field_help
from engine.policy import ServerPolicy
from engine.reports.analysis import analysis_tables
from engine.reports.contents import analysis_report

LEXICON_LABELS = {
    "big_two_nouns": "Big Two nouns (Agency, Communion; the ICLR 2026 list)",
    "big_two": "Big Two dictionary (Agency, Communion; wildcards)",
    "big_two_expanded": "Big Two, expanded (Agency, Communion)",
    "mfd2": "Moral Foundations Dictionary 2.0 (10 categories)",
    "mfd_original": "Moral Foundations Dictionary, original (11 categories)",
    "upload": "upload a LIWC .dic, LIWC-22 .dicx or Category,word .csv dictionary",
}
UPLOAD = "upload"

st.title("Values")
st.caption("Each model's scored replies are matched to a dictionary's words and ranked within each (model, prompt): "
           "rank 1 = the best-scored matched word. A category's median rank per prompt shows how high the model "
           "places it; families are compared with permutation tests.")

runs_done = ui.cache().list_runs(status="done")
if runs_done.empty:
    st.info("No completed runs yet. Run searches on **Token search** (ideally the 54 battery prompts with the CLI: "
            "`python -m engine search --battery`), or import score tables on **Runs**.", icon=":material/info:")
    st.page_link("views/token_search.py", label="Token search", icon=":material/search:")
    st.page_link("views/runs.py", label="Runs: import score tables", icon=":material/table_view:")
    st.stop()
paper_preset_selector()  # a chosen paper preset shows its figures and stops the page here

# ---- inputs ---------------------------------------------------------------------------------------
model_options = sorted(runs_done["model_id"].unique())
checkpoints = ui.checkpoint_aliases()  # trained checkpoints: shown by alias, chosen only when asked for
c_lex, c_models = st.columns([1, 2])
with c_lex:
    lexicon_name = st.selectbox("Lexicon", [*BUILTIN_LEXICONS, UPLOAD], key="lexicon", bind="query-params",
                                help="Word lists with categories:\n\n" + "\n".join(f"- `{k}`: {v}" for k, v in LEXICON_LABELS.items()))
with c_models:
    chosen_models = st.multiselect("Models", model_options, default=[m for m in model_options if m not in checkpoints],
                                   format_func=lambda m: checkpoints.get(m, m), key="vmodels", bind="query-params",
                                   help="Models with completed runs in the cache (the newest run per model and prompt is used).")
c_group, c_chart, _ = st.columns([1, 1, 2])
with c_group:
    group = st.segmented_control("Colour by", ["model", "family"], default="model", key="group",
                                 bind="query-params", required=True)
with c_chart:
    chart_kind = st.segmented_control("Chart", ["boxplot", "violin"], default="boxplot", key="chart",
                                      bind="query-params", required=True)

with st.expander("Analysis settings: variants, candidates, families, permutation test…"):
    a1, a2, a3, a4 = st.columns(4)
    with a1:
        policy = st.selectbox("Token variants", VARIANT_POLICIES, index=VARIANT_POLICIES.index(DEFAULT_VARIANT_POLICY),
                              key="variants", bind="query-params",
                              help="Several tokens can normalise to one word (' Love', 'love'):\n\n"
                                   + "\n".join(f"- `{k}`: {v}" for k, v in VARIANT_POLICY_DOC.items()))
        value = st.selectbox("Value", ["median_rank", "median_rank_pct"], key="value", bind="query-params",
                             help="median_rank: median rank of the category's words; median_rank_pct: the same divided by "
                                  "the number of ranked words (comparable across vocabularies).")
    with a2:
        candidate_options = sorted(runs_done["candidates"].dropna().unique())
        candidates = st.multiselect("Candidates", candidate_options, key="candidates", bind="query-params",
                                    placeholder="all", help="Only runs of these candidate sets: vocab (every token), "
                                    "words (imported or typed replies), lexicon:<name>.")
        word_scope = st.selectbox("Word scope (tau, top words)", ["lexicon", "all"], key="scope", bind="query-params",
                                  help=field_help(AnalyzeConfig, "word_scope"))
    with a3:
        family_options = sorted(runs_done.loc[runs_done["model_id"].isin(chosen_models), "family"].fillna("unknown").unique())
        families = st.multiselect("Families to compare", family_options, max_selections=2, key="families",
                                  bind="query-params", placeholder="the two present",
                                  help=field_help(AnalyzeConfig, "families") + " diff = A - B.")
        top_k = int(st.number_input("Top / bottom words", 1, 100, 10, key="topk", bind="query-params"))
    with a4:
        resamples = int(st.number_input("Permutation resamples", 99, 99_999, 9_999, step=1000, key="resamples",
                                        bind="query-params"))
        seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key="seed", bind="query-params"))

lexicon_ref = lexicon_name
if lexicon_name == UPLOAD:
    upload = st.file_uploader("Dictionary file", type=["dic", "dicx", "csv"],
                              max_upload_size=ServerPolicy.from_env().max_upload_mb,
                              help="LIWC .dic (% header, then word and category ids), LIWC-22 .dicx (DicTerm,<category>,… "
                                   "with X marks) or a two-column Category,word CSV.")
    if upload is None:
        st.info("Upload a dictionary to analyse with it.", icon=":material/upload_file:")
        st.stop()
    lexicon_ref = str(ui.save_upload(upload))


@st.cache_resource(show_spinner=False, max_entries=16)
def _lexicon(ref: str, home: str):
    return load_lexicon(ref, home=home)


with ui.guard("Lexicon") as g:
    lexicon = _lexicon(lexicon_ref, ui.home())
if g.failed:
    st.stop()
if not chosen_models:
    st.info("Pick at least one model.", icon=":material/info:")
    st.stop()


@st.cache_data(show_spinner=False, max_entries=8)
def _analyse(home: str, generation: str, config: AnalyzeConfig, ref: str, sha: str | None):
    """engine.workflows.analyze.run_analysis, memoised until the cache's runs change (`generation`)."""
    from engine.workflows.analyze import run_analysis

    return run_analysis(ui.cache(), config, home=home, lexicon=_lexicon(ref, home), tool="valuescope app (Values page)")


config = AnalyzeConfig(lexicon=lexicon_ref, models=chosen_models, families=families if len(families) == 2 else None,
                       candidates=candidates or None, variants=policy, word_scope=word_scope, seed=seed,
                       resamples=resamples, top_k=top_k)
generation = f"{len(runs_done)}:{runs_done['finished_at'].max()}"
with st.spinner("Analysing: ranking the lexicon's words for every model and prompt…"), ui.guard("Analysis") as g:
    analysis = _analyse(ui.home(), generation, config, lexicon_ref, lexicon.sha256)
if g.failed:
    st.stop()
result, runs, meta = analysis.result, analysis.runs, analysis.metadata

per_model = runs.drop_duplicates("model_id")
revisions = ", ".join(f"{m} ({f}, {r or 'revision unknown'})" for m, f, r in
                      per_model[["model_id", "family", "revision"]].itertuples(index=False))
st.caption(f"**Lexicon** {lexicon.describe()} · **models** {revisions} · **prompts** {runs['prompt_key'].nunique()} · "
           f"**candidates** {', '.join(sorted(set(runs['candidates'].dropna())))} · **variants** {policy} · "
           f"**normalisation** {NORMALIZATION} · **ranks** {RANK_DOC}")
for note in analysis.notes:
    st.caption(f":material/info: {note}")

group_col = "model_id" if group == "model" else "family"
group_title = "model" if group == "model" else "family"
medians = result.medians.assign(framing=result.medians["framing"].fillna("no framing"))
rank_scale = alt.Scale(reverse=True, zero=False)
value_title = "median rank (1 = best, top)" if value == "median_rank" else "median rank / ranked words (0 = best)"
category_order = [c for c in lexicon.categories if c in set(medians["category"])]
framing_order = [f for f in ("positive", "negative", "no framing") if f in set(medians["framing"])]
facet_width = max(240, 1060 // max(1, len(framing_order)) - 110)
groups = sorted(medians[group_col].dropna().unique())
palette = alt.Scale(domain=groups, scheme="tableau10")
labels_angle = -30 if len(category_order) > 4 else 0

# ---- median ranks by category ---------------------------------------------------------------------
st.subheader("Median rank by category", anchor=False)
st.caption(f"One observation per (model, prompt): the median rank of the category's words. Split by the prompt's "
           f"framing; coloured by {group_title}.")
if chart_kind == "boxplot":
    base = alt.Chart().encode(
        x=alt.X("category:N", sort=category_order, title=None, axis=alt.Axis(labelAngle=labels_angle)),
        xOffset=alt.XOffset(f"{group_col}:N"),
        color=alt.Color(f"{group_col}:N", title=group_title, scale=palette, legend=alt.Legend(orient="top", labelLimit=260)))
    box = base.mark_boxplot(extent="min-max", size=18, opacity=0.55, median={"color": "black"}).encode(
        y=alt.Y(f"{value}:Q", scale=rank_scale, title=value_title))
    points = base.mark_circle(size=28, opacity=0.9).encode(
        y=alt.Y(f"{value}:Q", scale=rank_scale),
        tooltip=["model_id:N", "family:N", "prompt_key:N", "category:N", alt.Tooltip(f"{value}:Q", format=".1f"),
                 alt.Tooltip("n_words:Q", title="words ranked in category")])
    chart = alt.layer(box, points, data=medians).properties(width=facet_width, height=340).facet(
        column=alt.Column("framing:N", title=None, sort=framing_order, header=alt.Header(labelFontSize=13)))
else:
    chart = alt.Chart(medians).transform_density(
        value, as_=[value, "density"], groupby=["framing", "category", group_col]
    ).transform_calculate(left="-datum.density").mark_area(orient="horizontal", opacity=0.45).encode(
        y=alt.Y(f"{value}:Q", scale=rank_scale, title=value_title),
        x=alt.X("left:Q", axis=None, title=None), x2="density:Q",
        color=alt.Color(f"{group_col}:N", title=group_title, scale=palette, legend=alt.Legend(orient="top", labelLimit=260)),
        tooltip=[f"{group_col}:N", "category:N", "framing:N"],
    ).properties(width=max(56, min(170, 1000 // max(1, len(category_order)) - 14)), height=260).facet(
        column=alt.Column("category:N", sort=category_order, title=None, header=alt.Header(labelAngle=labels_angle)),
        row=alt.Row("framing:N", title=None, sort=framing_order, header=alt.Header(labelFontSize=13)))
st.altair_chart(chart, width="content")

# ---- words --------------------------------------------------------------------------------------
st.subheader("Words by category", anchor=False)
st.caption("Each point is one word: its rank averaged over the prompts of a framing. Hover to see the word.")
ranks = result.word_ranks.assign(framing=result.word_ranks["framing"].fillna("no framing"))
by_word = (ranks.assign(category=ranks["categories"].str.split("; ")).explode("category")
           .groupby([group_col, "framing", "category", "word"], sort=False)
           .agg(rank=("rank", "mean"), n_prompts=("prompt_key", "nunique")).reset_index())
strip = alt.Chart(by_word).mark_circle(size=26, opacity=0.6).encode(
    x=alt.X("category:N", sort=category_order, title=None,
            axis=alt.Axis(labelAngle=labels_angle)),
    xOffset=alt.XOffset(f"{group_col}:N"),
    y=alt.Y("rank:Q", scale=rank_scale, title="mean rank over prompts (1 = best, top)"),
    color=alt.Color(f"{group_col}:N", title=group_title, scale=palette, legend=alt.Legend(orient="top", labelLimit=260)),
    tooltip=[alt.Tooltip("word:N"), alt.Tooltip("rank:Q", format=".1f", title="mean rank"), f"{group_col}:N",
             "category:N", "framing:N", "n_prompts:Q"],
).properties(width=facet_width, height=320).facet(
    column=alt.Column("framing:N", title=None, sort=framing_order, header=alt.Header(labelFontSize=13)))
st.altair_chart(strip, width="content")

# ---- family comparison and agreement ------------------------------------------------------------
with st.container():
    st.subheader("Family comparison", anchor=False)
    summary = result.family_summary
    if summary is None:
        st.info("The family comparison needs exactly two families: " + "; ".join(result.notes or ["pick two"]),
                icon=":material/info:")
    else:
        fam_a, fam_b = result.families
        st.caption(FAMILY_TEST_DOC.format(resamples=resamples, seed=seed, n_tested=summary.attrs.get("n_tested")))
        shown = summary.drop(columns=["t_welch"])
        if not shown["note"].astype(bool).any():
            shown = shown.drop(columns=["note"])
        fmt = {c: st.column_config.NumberColumn(c, format="%.4f") for c in ("p_perm", "p_bonferroni")}
        fmt.update({c: st.column_config.NumberColumn(c, format="%.2f") for c in (fam_a, fam_b, "diff", "effect_size")})
        st.dataframe(shown, hide_index=True, column_config=fmt, width="stretch")
        with st.expander("Mixed model"):
            st.caption(MIXED_DOC)
            st.dataframe(result.mixed, hide_index=True, width="stretch")
with st.container():
    st.subheader("Agreement between models", anchor=False)
    st.caption(TAU_DOC)
    tau = result.tau_summary
    if tau.empty:
        st.info("Kendall's tau needs at least two models that scored the same prompts.", icon=":material/info:")
    else:
        framings = list(pd.unique(tau["framing"]))
        framing = st.segmented_control("Prompts", framings, default=framings[0], key="tau_framing", required=True,
                                       bind="query-params")
        part = tau[tau["framing"] == framing]
        names = list(dict.fromkeys([*part["model_a"], *part["model_b"]]))
        cells = pd.concat([part[["model_a", "model_b", "mean_tau", "n_prompts"]],
                           part.rename(columns={"model_a": "model_b", "model_b": "model_a"})[["model_a", "model_b", "mean_tau", "n_prompts"]],
                           pd.DataFrame({"model_a": names, "model_b": names, "mean_tau": 1.0, "n_prompts": pd.NA})])
        heat = alt.Chart(cells).mark_rect().encode(
            x=alt.X("model_a:N", sort=names, title=None, axis=alt.Axis(labelAngle=-25, labelLimit=180)),
            y=alt.Y("model_b:N", sort=names, title=None, axis=alt.Axis(labelLimit=220)),
            color=alt.Color("mean_tau:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue"), title="mean tau"),
            tooltip=["model_a:N", "model_b:N", alt.Tooltip("mean_tau:Q", format=".3f"), "n_prompts:Q"])
        labels = alt.Chart(cells).mark_text(fontSize=13).encode(
            x=alt.X("model_a:N", sort=names), y=alt.Y("model_b:N", sort=names), text=alt.Text("mean_tau:Q", format=".2f"))
        side = max(44, min(90, 420 // max(1, len(names))))
        c_heat, c_table = st.columns([1, 1])
        with c_heat:
            st.altair_chart((heat + labels).properties(width=alt.Step(side), height=alt.Step(side)), width="content")
        with c_table:
            st.dataframe(part.drop(columns=["framing"]), hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                                        for c in ("mean_tau", "median_tau", "min_tau", "max_tau")})

with st.expander(f"Top and bottom {top_k} words per model and framing"):
    st.dataframe(result.top_bottom, hide_index=True, width="stretch",
                 column_config={"mean_rank": st.column_config.NumberColumn("mean rank", format="%.1f")})

# ---- exports ------------------------------------------------------------------------------------
st.subheader("Export", anchor=False)
tag = [lexicon.name, policy, f"{len(chosen_models)}-models"]
ui.report_button(lambda: analysis_report(result, meta, seed, resamples, top_k), ui.file_name("report", *tag, ext="html"),
                 key="report-values")
labels = {"median_ranks": "Median ranks", "family_summary": "Family summary", "mixed_model": "Mixed model",
          "word_ranks": "Word ranks", "top_bottom_words": "Top/bottom words", "kendall_tau": "Kendall tau",
          "kendall_tau_summary": "Tau summary"}
tables = [(labels[stem], stem.replace("_", "-"), table, extra)
          for stem, (table, extra) in analysis_tables(result, seed, resamples, top_k).items()]
cols = st.columns(4)
for i, (label, stem, table, extra) in enumerate(t for t in tables if t[2] is not None):
    with cols[i % 4]:
        ui.download_csv(f"{label} CSV", table, {"table": stem, **meta, **extra}, ui.file_name(stem, *tag),
                           key=f"dl-{stem}")
