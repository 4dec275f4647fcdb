"""Token search: every vocabulary token scored as the entire reply to one prompt, per model."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import ui
from engine.reports.contents import search_report
from engine.reports.tables import run_metadata
from engine.configs import SearchConfig
from engine.analysis.words import NORMALIZATION
from engine.policy import check_model_name
from engine.prompts import BATTERY, resolve_prompt
from engine.workflows.requests import SearchRequest

DEFAULT_PROMPT = BATTERY["greatest_ever_one"].text
MAX_PER_ROW = 3

st.title("Token search")
st.caption("Which single token does each model like most, and least, as the **entire** reply to a prompt? Every token of "
           "the vocabulary is scored: by the reward head for reward models, by its log-probability for causal LMs.")


# ---- inputs ---------------------------------------------------------------------------------------
def _pick_battery() -> None:
    key = st.session_state.get("battery_pick")
    if key:
        st.session_state["prompt"] = BATTERY[key].text


if "prompt" not in st.session_state and "prompt" not in st.query_params:
    st.session_state["prompt"] = DEFAULT_PROMPT

c_prompt, c_battery = st.columns([6, 5])
with c_prompt:
    prompt = st.text_input("Prompt", key="prompt", bind="query-params",
                           placeholder="Type any prompt, e.g. What, in one word, is the greatest thing ever?")
with c_battery:
    st.selectbox("…or pick a battery prompt", list(BATTERY), index=None, key="battery_pick", on_change=_pick_battery,
                 format_func=lambda k: f"{BATTERY[k].text}  ({BATTERY[k].framing})",
                 placeholder="One of the 54 battery prompts…",
                 help="Christian et al.'s battery: 6 adjectives x 3 superlatives x 3 question styles, positive and negative.")

c_models, c_words, c_k, c_run = st.columns([5.4, 3.2, 1.1, 1.9], vertical_alignment="bottom")
with c_models:
    models = st.multiselect(
        "Models", ui.registry_options(), default=list(ui.default_models()), key="models",
        bind="query-params", accept_new_options=True,
        placeholder="Pick from the registry, or type a Hugging Face id or a local folder",
        help="Registry aliases, or type a Hugging Face id (owner/name) or a local model folder and press Enter. "
             "Causal LMs are scored in log-prob mode and reward models by their reward head, unless Mode says "
             "otherwise.\n\n" + "\n".join(f"- {ui.describe_alias(a)}" for a in ui.registry_options()))
with c_words:
    words_text = st.text_input("Where do these words land?", key="words", bind="query-params",
                               placeholder="love, freedom, money",
                               help="Comma-separated words: their best-ranked token in each model's ranking "
                                    "(tokens are matched after normalisation, so ' Love' and 'love' both count).")
with c_k:
    k = int(st.number_input("Top k", 1, 200, 10, key="k", bind="query-params", help="How many best and worst tokens to list."))
with c_run:
    run_clicked = st.button("Run search", type="primary", icon=":material/play_arrow:", width="stretch")

with st.expander("Settings: mode, template, dtype, quantisation, vocabulary, revision…"):
    settings = ui.config_widgets(SearchConfig, skip=("model",), models=models)

words = [w.strip() for w in (words_text or "").split(",") if w.strip()]


# ---- which searches exist -------------------------------------------------------------------------
_resolved: dict = {}  # model -> (SearchRequest, its run), resolved once per rerun


def request_for(model: str):
    if model not in _resolved:
        request = SearchRequest.one(SearchConfig(model=model, **settings), prompt)
        _resolved[model] = request, request.resolve(ui.home())[0]
    return _resolved[model]


errors: dict = st.session_state.setdefault("search_errors", {})  # model -> message of the last Run
computed_here: set = st.session_state.setdefault("computed_here", set())  # request keys this session computed

prompt_ok = bool((prompt or "").strip())
if run_clicked:
    errors.clear()
    if not models:
        st.error("Pick at least one model.", icon=":material/error:")
    if not prompt_ok:
        with ui.guard("Prompt"):
            resolve_prompt(prompt)
    for model in models if prompt_ok else []:
        try:
            check_model_name(model)
            request, run = request_for(model)
            if ui.cached_run(run) is None:
                ui.submit_search(request, [run])
                computed_here.add(run.key)
        except Exception as exc:  # noqa: BLE001 - shown next to the model
            errors[model] = ui.friendly_message(exc)
elif not prompt_ok:
    st.info("Type a prompt, or pick one from the battery.", icon=":material/edit:")
if not models:
    st.info("Pick at least one model: the embedded defaults work offline.", icon=":material/info:")


# ---- results --------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=64)
def histogram(run_id: str, words: tuple[str, ...], kind: str) -> dict:
    """The Vega-Lite spec of one run's score histogram with the chosen words as red lines (built once per
    run and words: Altair validates every chart it builds)."""
    bins, marks = ui.ranking_summary(run_id).bins, ui.word_positions(run_id, list(words), ui.visible_token)
    bars = alt.Chart(bins).mark_bar(color="#8fa8c8").encode(
        x=alt.X("from:Q", title=f"score ({kind})", scale=alt.Scale(zero=False)), x2="to:Q",
        y=alt.Y("count:Q", title="tokens", scale=alt.Scale(zero=True)), y2=alt.datum(0),
        tooltip=[alt.Tooltip("from:Q", format=".3f"), alt.Tooltip("to:Q", format=".3f"), alt.Tooltip("count:Q", title="tokens")])
    layers = [bars]
    found = marks.dropna(subset=["rank"])
    if len(found):
        rule = alt.Chart(found).mark_rule(color="#d62728", strokeWidth=2).encode(
            x="score:Q", tooltip=["word:N", "token:N", alt.Tooltip("rank:Q", format=","),
                                  alt.Tooltip("score:Q", format=".3f")])
        labels = alt.Chart(found).mark_text(align="left", dx=3, y=6, color="#d62728", fontSize=11).encode(
            x="score:Q", text="word:N")
        layers += [rule, labels]
    return alt.layer(*layers).properties(height=200).to_dict()


def show_result(run_id: str) -> pd.DataFrame:
    summary = ui.ranking_summary(run_id)
    run = summary.run
    seconds = run.get("seconds")
    took = f"{seconds:.1f} s" if seconds is not None and pd.notna(seconds) else "unknown time"
    # A result read back from the cache right after this session's job computed it was computed, not cached
    origin = f"computed in {took}" if run.get("request_key") in computed_here \
        else f"from the cache (computed earlier in {took})"
    st.caption(ui.settings_line(run, {"candidates": f"{summary.n:,}", "answer": origin}))
    if str(run.get("head_status") or "").startswith("untrained"):
        st.warning(f"The reward head is {run['head_status']}: these rewards test the pipeline, not a trained reward model.",
                   icon=":material/warning:")
    config = {"rank": st.column_config.NumberColumn("rank", format="localized", width=64),
              "token": st.column_config.TextColumn("token", help="␣ marks a space, ↵ a newline, \\xNN a control character"),
              "score": st.column_config.NumberColumn("score", format="%.3f", width=72)}
    t_top, t_bottom = st.columns(2)
    for col, label, part in ((t_top, f"Top {k}", summary.top.head(k)), (t_bottom, f"Bottom {k}", summary.bottom.head(k))):
        with col:
            st.markdown(f"**{label}**")
            table = part.assign(token=part["text"].map(ui.visible_token))[["rank", "token", "score"]]
            st.dataframe(table, hide_index=True, column_config=config, width="stretch",
                         height=38 + 35 * min(len(table), 15))
    marks = ui.word_positions(run_id, words, ui.visible_token)
    st.markdown("**Score distribution over the vocabulary**" + (" · red lines: the chosen words (hover for details)" if words else ""))
    st.vega_lite_chart(histogram(run_id, tuple(words), run.get("score_kind") or "score"), width="stretch")
    ui.download_csv(
        "Ranking CSV", lambda: ui.ranking_export(run_id)[0], run_metadata(run),
        ui.file_name("ranking", run["model_id"], run.get("prompt_key") or run.get("prompt_text"), run_id[:8]),
        key=f"dl-{run_id}", rows=summary.n, unfit=summary.unfit,
        cli=f"valuescope export {run_id[:12]} --out ranking.xlsx")
    return marks


if models and prompt_ok:
    all_marks, shown_runs = [], {}  # shown_runs: model -> the cached run drawn above, for the sections below
    for start in range(0, len(models), MAX_PER_ROW):
        row = models[start:start + MAX_PER_ROW]
        for model, col in zip(row, st.columns(max(len(row), min(len(models), MAX_PER_ROW)), gap="large", border=True)):
            with col:
                st.subheader(model, anchor=False)
                if model in errors:
                    st.error(errors[model], icon=":material/error:")
                    continue
                try:
                    run = request_for(model)[1]
                    found = ui.cached_run(run)
                    job = None if found is not None else ui.live_job(run.key)
                except Exception as exc:  # noqa: BLE001
                    ui.show_error(exc)
                    continue
                if found is not None:
                    shown_runs[model] = found
                    all_marks.append(show_result(found["run_id"]))
                    continue
                if job is not None and job.live:
                    ui.job_progress(job.id)
                elif job is not None and job.status == "failed":
                    st.error(ui.public_safe(ui.failure(job)), icon=":material/error:")
                elif job is not None and job.status in ("cancelled", "interrupted"):
                    st.info(f"{ui.public_safe(job.message or job.status.capitalize())}. Press **Run search** to start it again.",
                            icon=":material/cancel:")
                else:
                    st.info("Not in the cache yet: press **Run search** to compute it.", icon=":material/hourglass_empty:")

    # Sections over several runs follow; each is one engine/reports call on `shown_runs` (docs/requests.md:
    # what a section must do to keep a page load cheap).
    if shown_runs:
        ui.report_button(lambda: search_report([(run, ui.run_scores(run["run_id"])) for run in shown_runs.values()], words, k),
                         ui.file_name("report", "token-search", prompt[:40], ext="html"), key="report-search")
    if words and all_marks:
        st.subheader("Where the chosen words land", anchor=False)
        st.caption(f"Best-ranked token of each word in each model's ranking (rank 1 = best). Token normalisation: "
                   f"{NORMALIZATION}.")
        table = pd.concat(all_marks, ignore_index=True)
        found = table.dropna(subset=["rank"])
        c_chart, c_table = st.columns([3, 2])
        with c_chart:
            if len(found):
                chart = alt.Chart(found).mark_point(filled=True, size=120).encode(
                    x=alt.X("rank:Q", scale=alt.Scale(type="log"), title="rank (log scale, 1 = best)"),
                    y=alt.Y("word:N", sort=words, title=None),
                    color=alt.Color("model:N", legend=alt.Legend(orient="top", labelLimit=400)),
                    shape="model:N",
                    tooltip=["word:N", "model:N", "token:N", alt.Tooltip("rank:Q", format=","),
                             alt.Tooltip("score:Q", format=".3f"), alt.Tooltip("top_pct:Q", format=".2f", title="top %")])
                # the height includes the legend and the axis (Streamlit fits the chart to it)
                st.altair_chart(chart.properties(height=110 + 40 * len(words)), width="stretch")
        with c_table:
            wide = table.assign(cell=table.apply(
                lambda r: "not a token" if pd.isna(r["rank"]) else f"#{int(r['rank']):,} ({r['token']})", axis=1))
            st.dataframe(wide.pivot(index="word", columns="model", values="cell").reindex(words), width="stretch")
        ui.download_csv("Word positions CSV", table, {"prompt": prompt, "models": models, "normalization": NORMALIZATION,
                                                         "rank": "1 = highest score, over the whole vocabulary"},
                           ui.file_name("word-positions", prompt, "-".join(words)[:30]), key="dl-words")
    ui.paired_view(shown_runs, k)
