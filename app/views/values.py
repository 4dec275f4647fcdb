"""Values: which lexicon categories (Big Two, Moral Foundations, your own dictionary) each model ranks high."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import engine.jobs as jobs
from app import ui
from app.ui.presets import paper_preset_selector
from engine.analysis.intervals import group_differences
from engine.analysis.lexicons import BUILTIN_LEXICONS, load_lexicon
from engine.analysis.stats import FAMILY_TEST_DOC, MIXED_DOC, TAU_DOC
from engine.analysis.values import RANK_DOC
from engine.analysis.words import DEFAULT_VARIANT_POLICY, NORMALIZATION, VARIANT_POLICIES, VARIANT_POLICY_DOC
from engine.configs import AnalyzeConfig, SearchConfig, field_help

from engine.policy import ServerPolicy, check_search_config
from engine.prompts import BATTERY
from engine.reports.analysis import analysis_tables
from engine.reports.charts import median_rank_chart
from engine.reports.contents import analysis_report
from engine.workflows.analyze import plan_units
from engine.workflows.requests import SearchRequest, ValuesRequest

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
           "places it; groups are compared with permutation tests and bootstrap intervals.")

BASES = {"vocab": "the whole vocabulary (every token scored; variants of a word merged as chosen below)",
         "lexicon": "the lexicon's words, each scored as the whole reply",
         "words": "named or imported words (typed on another page, or imported score tables)"}
PROMPT_SCOPES = {"cached": "prompts already in the cache", "one": "one prompt", "positive": "the positive framing",
                 "negative": "the negative framing", "battery": "the whole battery (54 prompts)"}
runs_done = ui.cache().list_runs(status="done")
paper_preset_selector()  # a chosen paper preset shows its figures and stops the page here

# ---- what to compare: models, lexicon, prompts, candidate basis -------------------------------------
cached_models = sorted(runs_done["model_id"].unique()) if not runs_done.empty else []
checkpoints = ui.checkpoint_aliases()  # trained checkpoints: shown by alias, chosen only when asked for
c_models, c_lex = st.columns([2, 1])
with c_models:
    chosen_models = st.multiselect(
        "Models", list(dict.fromkeys([*cached_models, *ui.registry_options()])), default=[m for m in cached_models if m not in checkpoints] or None,
        format_func=lambda m: checkpoints.get(m, m),
        key="vmodels", bind="query-params", accept_new_options=True,
        placeholder="Pick models, or type a Hugging Face id or a local folder",
        help="Models in the cache or the registry; type an id or folder and press Enter to add one. "
             "Families come from the registry or the model's name.")
with c_lex:
    lexicon_name = st.selectbox("Lexicon", [*BUILTIN_LEXICONS, UPLOAD], key="lexicon", bind="query-params",
                                help="Word lists with categories:\n\n" + "\n".join(f"- `{k}`: {v}" for k, v in LEXICON_LABELS.items()))
c_scope, c_prompt, c_basis = st.columns([1, 1, 1])
with c_scope:
    # No format_func on bound widgets: the formatted label would become the URL's value
    scope = st.selectbox("Prompts", list(PROMPT_SCOPES), key="vscope", bind="query-params",
                         index=0 if not runs_done.empty else 4,
                         help="The paper's design is the whole battery: 54 prompts, 27 per framing.\n\n"
                              + "\n".join(f"- `{k}`: {v}" for k, v in PROMPT_SCOPES.items()))
with c_prompt:
    one_prompt = st.selectbox("Battery prompt", list(BATTERY), key="vprompt", bind="query-params",
                              disabled=scope != "one", help=BATTERY[st.session_state.get("vprompt") or next(iter(BATTERY))].text)
with c_basis:
    basis = st.selectbox("Candidates (the basis of the ranking)", list(BASES), key="basis", bind="query-params",
                         help="What was scored as replies; only runs of this basis are analysed, whatever ran last:"
                              "\n\n" + "\n".join(f"- `{k}`: {v}" for k, v in BASES.items()))
c_group, c_chart, _ = st.columns([1, 1, 2])
with c_group:
    group = st.segmented_control("Colour by", ["model", "family"], default="model", key="group",
                                 bind="query-params", required=True)
with c_chart:
    chart_kind = st.segmented_control("Chart", ["boxplot", "violin"], default="boxplot", key="chart",
                                      bind="query-params", required=True)

with st.expander("Analysis settings: variants, families, tests, scoring settings for new runs…"):
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
        word_scope = st.selectbox("Word scope (tau, top words)", ["lexicon", "all"], key="scope", bind="query-params",
                                  help=field_help(AnalyzeConfig, "word_scope"))
        top_k = int(st.number_input("Top / bottom words", 1, 100, 10, key="topk", bind="query-params"))
    with a3:
        family_options = sorted(runs_done.loc[runs_done["model_id"].isin(chosen_models), "family"].fillna("unknown").unique()) \
            if not runs_done.empty else []
        families = st.multiselect("Families to compare", family_options, max_selections=2, key="families",
                                  bind="query-params", placeholder="the two present",
                                  help=field_help(AnalyzeConfig, "families") + " diff = A - B.")
        confidence = st.select_slider("Interval confidence", [0.8, 0.9, 0.95, 0.99], value=0.95, key="conf",
                                      bind="query-params", format_func=lambda c: f"{c:.0%}")
    with a4:
        resamples = int(st.number_input("Resamples (permutation, bootstrap)", 99, 99_999, 9_999, step=1000,
                                        key="resamples", bind="query-params"))
        seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key="seed", bind="query-params"))
    st.caption("Scoring settings for runs computed from this page (cached runs are used whatever their settings):")
    search_settings = ui.config_widgets(SearchConfig, skip=("model",), prefix="v_", models=chosen_models)

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

candidates = {"vocab": "vocab", "lexicon": f"lexicon:{lexicon.name}", "words": "words"}[basis]
if scope == "cached":
    known = runs_done[runs_done["model_id"].isin(chosen_models) & (runs_done["candidates"] == candidates)] \
        if not runs_done.empty else runs_done
    prompts = list(dict.fromkeys(known["prompt_key"].fillna(known["prompt_text"]))) if len(known) else []
elif scope == "one":
    prompts = [one_prompt]
else:
    prompts = [k for k, p in BATTERY.items() if scope == "battery" or p.framing == scope]
cached_units, missing_units = plan_units(runs_done, chosen_models, prompts, candidates) if not runs_done.empty \
    else ([], [(m, p) for m in chosen_models for p in prompts])

# ---- compute what is missing, as one job ------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=64)
def _values_key(request: ValuesRequest, home: str) -> str:
    return request.job_key(home)  # resolving every (model, prompt) reads model configs: once per choice


values_request = ValuesRequest(tuple(chosen_models), SearchRequest(
    SearchConfig(model=chosen_models[0], **search_settings), tuple(prompts) or (one_prompt,),
    lexicon=lexicon_ref if basis == "lexicon" else None))
with ui.guard("Models") as g:  # a model name that is no model, or one this server refuses, is named here
    for model in chosen_models:  # the server's policy first: resolving a refused path would probe the disk
        check_search_config(SearchConfig(model=model, **search_settings))
    job_key = _values_key(values_request, ui.home())
if g.failed:
    st.stop()
job = ui.live_job(job_key)
c_status, c_button = st.columns([4, 1], vertical_alignment="center")
with c_status:
    st.markdown(f"**{len(cached_units)} of {len(cached_units) + len(missing_units)}** (model, prompt) runs with "
                f"candidates `{candidates}` are in the cache" + (f"; {len(missing_units)} to compute." if missing_units else "."))
with c_button:
    compute = st.button("Compute missing runs", type="primary", icon=":material/play_arrow:", width="stretch",
                        disabled=not missing_units or basis == "words" or bool(job and job.live),
                        help="One job scores every missing (model, prompt); runs already cached are reused. "
                             "Named / imported words cannot be computed here: type them on Token search or Base "
                             "models, or import them on Runs." if basis != "words" else
                             "Named or imported words come from Token search, Base models or Runs.")
if compute:
    with ui.guard("Compute"):
        ui.check_capacity(job_key)
        job = jobs.submit(values_request.kind, values_request.to_params(), key=job_key, home=ui.home(),
                          label=f"values: {len(missing_units)} runs of {len(chosen_models)} models")
        st.session_state.setdefault("computed_jobs", set()).add(job.id)
if job is not None and job.live:
    ui.job_progress(job.id)
    st.stop()
if job is not None and job.status == "failed" and missing_units:
    if job.error_code is not None and job.error_code.is_user_error:  # a setting to change, not a fault of the engine
        st.warning(ui.public_safe(ui.failure(job)), icon=":material/warning:")
    else:
        st.error(ui.public_safe(ui.failure(job)), icon=":material/error:")
elif job is not None and job.status == "done" and job.id in st.session_state.get("computed_jobs", set()):
    fresh = sum(not r.get("from_cache") for r in (job.result or {}).get("runs", []))
    st.success(f"Computed {fresh} run(s) in {job.elapsed_s():.0f} s; {len((job.result or {}).get('runs', [])) - fresh} "
               "came from the cache.", icon=":material/check:")
if not cached_units:
    st.info("Nothing to analyse yet for this choice: press **Compute missing runs** (or run searches on Token search, "
            "import score tables on Runs).", icon=":material/info:")
    st.stop()


@st.cache_data(show_spinner=False, max_entries=8)
def _analyse(home: str, generation: str, config: AnalyzeConfig, ref: str, sha: str | None):
    """engine.workflows.analyze.run_analysis, memoised until the cache's runs change (`generation`)."""
    from engine.workflows.analyze import run_analysis  # scipy/statsmodels: loaded once the page has runs to analyse

    return run_analysis(ui.cache(), config, home=home, lexicon=_lexicon(ref, home), tool="valuescope app (Values page)")


@st.cache_data(show_spinner="Bootstrapping the intervals…", max_entries=16)
def _differences(medians: pd.DataFrame, group_col: str, groups: tuple, value: str, confidence: float, resamples: int,
                 seed: int) -> pd.DataFrame:
    unit = "places" if value == "median_rank" else "(fraction of the ranking)"
    data = medians.assign(framing=medians["framing"].fillna("no framing"))
    return group_differences(data, group_col, groups, value, ["framing", "category"], confidence=confidence,
                             resamples=resamples, seed=seed, unit=unit, what="{category} words ({framing} prompts)")


analysed_models = list(dict.fromkeys(m for m, _ in cached_units))
analysed_prompts = list(dict.fromkeys(p for _, p in cached_units))
config = AnalyzeConfig(lexicon=lexicon_ref, models=analysed_models, prompts=analysed_prompts,
                       families=families if len(families) == 2 else None, candidates=[candidates], variants=policy,
                       word_scope=word_scope, seed=seed, resamples=resamples, top_k=top_k)
generation = f"{len(runs_done)}:{runs_done['finished_at'].max()}"
with st.spinner("Analysing: ranking the lexicon's words for every model and prompt…"), ui.guard("Analysis") as g:
    analysis = _analyse(ui.home(), generation, config, lexicon_ref, lexicon.sha256)
if g.failed:
    st.stop()
result, runs, meta = analysis.result, analysis.runs, analysis.metadata
st.markdown(f"**Analysed:** {len(analysed_models)} model(s) x {len(analysed_prompts)} prompt(s) · **candidates:** "
            f"`{candidates}`, {BASES[basis]} · **lexicon:** {lexicon.name} · **variants:** {policy}")

per_model = runs.drop_duplicates("model_id")
revisions = ", ".join(f"{m} ({f}, {r or 'revision unknown'})" for m, f, r in
                      per_model[["model_id", "family", "revision"]].itertuples(index=False))
st.caption(f"**Lexicon** {lexicon.describe()} · **models** {revisions} · **normalisation** {NORMALIZATION} · "
           f"**ranks** {RANK_DOC}")
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
    chart = median_rank_chart(medians, lexicon.categories, group_col, value)
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

# ---- differences with intervals -----------------------------------------------------------------
st.subheader("Differences with confidence intervals", anchor=False)
by_family = result.families is not None
pair_options = list(result.families) if by_family else list(pd.unique(result.medians["model_id"]))
if len(pair_options) < 2:
    st.info("Differences need two families or two models with runs.", icon=":material/info:")
    differences = None
else:
    if not by_family:
        c_a, c_b, _ = st.columns([1, 1, 2])
        with c_a:
            side_a = st.selectbox("Model A", pair_options, key="diff_a", bind="query-params")
        with c_b:
            side_b = st.selectbox("Model B", [m for m in pair_options if m != side_a], key="diff_b", bind="query-params")
    else:
        side_a, side_b = pair_options
    differences = _differences(result.medians, "family" if by_family else "model_id", (side_a, side_b), value,
                               confidence, resamples, seed)
    unit = "places" if value == "median_rank" else "of the ranking (fraction)"
    st.caption(f"{side_a} minus {side_b}: mean over (model, prompt) units of the category's median rank, per framing; "
               f"negative = {side_a} ranks the category higher. {differences.attrs['method']}.")
    ui.show_differences(differences, "category", f"{side_a} minus {side_b}: {value.replace('_', ' ')} ({unit}; "
                        f"< 0: {side_a} ranks higher)", facet="framing", y_order=category_order,
                        facet_order=framing_order)

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
          for stem, (table, extra) in analysis_tables(result, seed, resamples, top_k, with_differences=False).items()]
if differences is not None:
    tables.append(("Differences", "differences", differences,
                   {"method": differences.attrs["method"], "seed": seed, "resamples": resamples, "confidence": confidence}))
cols = st.columns(2)  # a CSV, its provenance and an .xlsx per table: two tables per row keep them on one line
for i, (label, stem, table, extra) in enumerate(t for t in tables if t[2] is not None):
    with cols[i % 2]:
        ui.download_csv(f"{label} CSV", table, {"table": stem, **meta, **extra}, ui.file_name(stem, *tag),
                           key=f"dl-{stem}")
