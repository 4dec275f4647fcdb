"""Base models (implicit RM): how two causal LMs differ reply by reply, r = log pi_B - log pi_A and MWLR."""
from __future__ import annotations

import dataclasses

import altair as alt
import pandas as pd
import streamlit as st

import engine.jobs as jobs
from app import ui
from engine.configs import SearchConfig
from engine.errors import ErrorCode
from engine.policy import check_model_name, check_search_config
from engine.analysis.intervals import group_differences
from engine.analysis.lexicons import BUILTIN_LEXICONS
from engine.analysis.words import NORMALIZATION
from engine.prompts import BATTERY, resolve_prompt
from engine.options import TEMPLATES
from engine.reports.charts import named_words_chart
from engine.workflows.implicit import is_saved_result, load_result
from engine.workflows.requests import ImplicitRequest

NO_LEXICON = "none"
BATTERY_ALL = "battery"
ONE_PROMPT = "one prompt"

st.title("Base models (implicit RM)")
st.caption("Two causal LMs define an implicit reward model: r(y|x) = log πB(y|x) − log πA(y|x). MWLR weights that "
           "log-ratio by the mean probability of the reply, so replies both models find unlikely do not dominate. "
           "Positive: model B gives the reply more probability than model A.")

try:
    from engine.analysis.implicit import (BATTERY_MEAN_DOC, CATEGORY_TEST_DOC, IMPLICIT_DOC, JOIN_RULE, REPLY_RULE,
                                          SIGN_DOC, top_bottom)
    from engine.reports.implicit import OUTPUT_FILES, implicit_metadata, output_tables
    from engine.reports.contents import implicit_report
except ImportError as exc:  # the engine module is optional for the rest of the app
    st.warning(f"The implicit-RM engine is not available in this installation ({exc}).", icon=":material/warning:")
    st.stop()

@st.cache_data(show_spinner=False, max_entries=4)
def _load_result(artifact: str):
    """The tables a finished implicit job saved (engine.workflows.implicit.load_result), memoised by file."""
    return load_result(artifact)


# ---- inputs ---------------------------------------------------------------------------------------
def _options(key: str) -> list[str]:
    """Registry aliases plus the model typed in (from the URL or this session), so it stays listed."""
    extra = [v for v in (st.query_params.get(key), st.session_state.get(key)) if v]
    return list(dict.fromkeys([*ui.registry_options(), *extra]))


def _pick_battery() -> None:
    key = st.session_state.get("b_battery_pick")
    if key:
        st.session_state["bprompt"] = BATTERY[key].text


if "bprompt" not in st.session_state and "bprompt" not in st.query_params:
    st.session_state["bprompt"] = BATTERY["greatest_ever_one"].text

c_a, c_b, c_scope = st.columns([3, 3, 2])
with c_a:
    model_a = st.selectbox("Model A (πA)", _options("model_a"), index=0, key="model_a", bind="query-params", accept_new_options=True,
                           help="A causal LM: registry alias, Hugging Face id or local folder (type and press Enter).")
    template_a = st.selectbox("Template A", ["auto", *TEMPLATES], key="template_a", bind="query-params",
                              help="auto: the raw prompt (plain) for pretrained models, the chat template for instruct ones.")
with c_b:
    model_b = st.selectbox("Model B (πB)", _options("model_b"), index=1, key="model_b", bind="query-params", accept_new_options=True,
                           help="Positive MWLR: B gives the reply more probability than A.")
    template_b = st.selectbox("Template B", ["auto", *TEMPLATES], key="template_b", bind="query-params")
with c_scope:
    scope = st.segmented_control("Prompts", [ONE_PROMPT, BATTERY_ALL], default=ONE_PROMPT, key="bscope",
                                 bind="query-params", required=True,
                                 help="One prompt, or battery means over the 54 battery prompts (108 searches per kind).")
    lexicon_name = st.selectbox("Lexicon", [NO_LEXICON, *BUILTIN_LEXICONS], index=1, key="blexicon",
                                bind="query-params", help="Score the lexicon's words as whole replies and summarise "
                                                          "its categories.")

if scope == ONE_PROMPT:
    p1, p2 = st.columns([2, 3])
    with p1:
        st.selectbox("Battery prompt", list(BATTERY), index=None, key="b_battery_pick", on_change=_pick_battery,
                     format_func=lambda k: BATTERY[k].text, placeholder="Pick one of the 54 battery prompts…")
    with p2:
        prompt = st.text_input("Prompt", key="bprompt", bind="query-params")
else:
    prompt = None

w1, w2, w3, w4 = st.columns([4, 1, 1.3, 1.3], vertical_alignment="bottom")
with w1:
    words_text = st.text_input("Named words", "freedom, love, money, power, family, success", key="bwords",
                               bind="query-params", help="Comma-separated words compared in the lollipop chart.")
with w2:
    top_n = int(st.number_input("Top / bottom", 1, 100, 15, key="btop", bind="query-params"))
with w3:
    use_vocab = st.checkbox("Vocabulary", True, key="bvocab", bind="query-params",
                            help="Join the two vocabularies on normalised words (the most probable token per word).")
with w4:
    run_clicked = st.button("Compute", type="primary", icon=":material/play_arrow:", width="stretch")

with st.expander("Settings: dtype, vocabulary filter, batch size, device, permutation test…"):
    settings = ui.config_widgets(SearchConfig, skip=("model", "mode", "template", "revision", "family", "head_seed",
                                                        "trust_remote_code", "method"), prefix="b_")
    s1, s2 = st.columns(2)
    resamples = int(s1.number_input("Permutation resamples", 99, 99_999, 9_999, step=1000, key="bresamples",
                                    bind="query-params"))
    seed = int(s2.number_input("Seed", 0, 2**31 - 1, 0, key="bseed", bind="query-params"))

words = list(dict.fromkeys(w.strip() for w in (words_text or "").split(",") if w.strip()))
lexicon_ref = None if lexicon_name == NO_LEXICON else lexicon_name

# ---- validation ----------------------------------------------------------------------------------
problems = []
for label, name in (("Model A", model_a), ("Model B", model_b)):
    try:
        check_model_name(name or "")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"{label}: {ui.friendly_message(exc)}")
if model_a and model_a == model_b:
    problems.append("Pick two different models.")
if scope == ONE_PROMPT:
    try:
        resolve_prompt(prompt or "")
    except ValueError as exc:
        problems.append(str(exc))
if not (use_vocab or lexicon_ref or words):
    problems.append("Nothing to compare: keep the whole vocabulary, pick a lexicon or name some words.")
if problems:
    for problem in problems:
        st.error(problem, icon=":material/error:")
    st.stop()

prompts = tuple(BATTERY) if scope == BATTERY_ALL else (prompt,)
base = SearchConfig(**settings)
request = ImplicitRequest(((model_a, model_b),), prompts, ((template_a, template_b),), lexicon_ref, tuple(words) or None,
                          use_vocab, base, seed, resamples)
key = request.job_key()
if run_clicked:
    with ui.guard("Compute"):
        for model in (model_a, model_b):
            check_search_config(dataclasses.replace(base, model=model))
        ui.check_capacity(key)
        jobs.submit("implicit", request.to_params(), key=key, label=request.label(), home=ui.home())

job = jobs.latest_for_key(key, home=ui.home())
if job is not None and job.live:
    st.info(f"{'Reading' if job.params.get('cached_only') else 'Computing'} {request.n_runs()} log-prob runs (those in "
            "the cache are read, not recomputed)…", icon=":material/hourglass_top:")
    ui.job_progress(job.id)
    st.stop()
try:
    runs = request.resolve(ui.home())
    found = ui.cache().find_done_many(r.key for r in runs)
except Exception as exc:  # noqa: BLE001 - a user error as one message, a bug with its traceback
    ui.show_error(exc)
    st.stop()
missing = [r for r in runs if r.key not in found]
# A read-only job that met a missing run: the cache changed under it, not an error to show (read again below).
cache_changed = job is not None and job.status == "failed" and job.error_code is ErrorCode.NOT_CACHED
if job is not None and job.status == "failed" and not cache_changed:
    st.error(ui.public_safe(ui.failure(job)), icon=":material/error:")
elif job is not None and job.status in ("cancelled", "interrupted"):
    st.info(ui.public_safe(ui.failure(job)), icon=":material/cancel:")
if missing:
    st.info(f"{len(missing)} of the {len(runs)} log-prob runs this needs are not in the cache. Press **Compute** to run "
            "them: it loads both models (the embedded ones work offline; their first use converts them, up to a minute "
            "or two).", icon=":material/hourglass_empty:")
    st.stop()
# Every run is cached: the tables come from the newest finished job over exactly these runs, else from a
# read-only job (no model loads) started here.
current = sorted(run["run_id"] for run in found.values())
usable = (job is not None and job.status == "done" and is_saved_result((job.result or {}).get("artifact", ""))
          and sorted({r["run_id"] for r in job.result.get("runs", [])}) == current)
if not usable:
    newest_run = max(run["finished_at"].timestamp() for run in found.values())
    if job is not None and job.status == "failed" and not cache_changed and (job.finished_at or 0) > newest_run:
        st.stop()  # its error is shown above; Compute retries
    with ui.guard("Reading the cache") as g:  # a reader is a worker too: within the server's job limit
        ui.check_capacity(key)
        job = jobs.submit("implicit", dataclasses.replace(request, cached_only=True).to_params(), key=key,
                          label=f"{request.label()} (from the cache)", home=ui.home())
    if g.failed:
        st.stop()
    st.info(f"Reading {len(runs)} cached log-prob runs…", icon=":material/hourglass_top:")
    ui.job_progress(job.id)
    st.stop()
result = _load_result(job.result["artifact"])

# ---- results --------------------------------------------------------------------------------------
pair = result.pairs.iloc[0]
st.caption(
    f"**A** `{pair['model_a']}` ({pair['family_a']}, revision `{pair['revision_a']}`, template `{pair['template_a']}`) · "
    f"**B** `{pair['model_b']}` ({pair['family_b']}, revision `{pair['revision_b']}`, template `{pair['template_b']}`) · "
    f"**prompts** {len(result.prompts)} · **vocabulary** {result.vocab_filter} · **dtype** "
    f"{', '.join(sorted(set(result.runs['dtype'].dropna())))} · **normalisation** {NORMALIZATION}")
with st.expander("Definitions" + (f" and {len(result.notes)} note(s)" if result.notes else "")):
    st.markdown(f"- {IMPLICIT_DOC}.\n- {SIGN_DOC}." + (f"\n- {BATTERY_MEAN_DOC}." if len(result.prompts) > 1 else "")
                + "".join(f"\n- {note}" for note in result.notes))

value_cols = ["word", "mwlr", "log_ratio", "logp_a", "logp_b"]
fmt = {c: st.column_config.NumberColumn(c, format="%.4g") for c in ("mwlr", "log_ratio", "logp_a", "logp_b")}


def top_bottom_view(mean: pd.DataFrame, extra: list[str], what: str) -> None:
    tb = top_bottom(mean, top_n)
    cols = value_cols + [c for c in extra if c in tb.columns]
    left, right = st.columns(2)
    with left:
        st.markdown(f"**B favours** (`{model_b}` over `{model_a}`): top {top_n} {what}")
        st.dataframe(tb[tb["end"] == "top"][cols], hide_index=True, width="stretch", column_config=fmt)
    with right:
        st.markdown(f"**A favours** (`{model_a}` over `{model_b}`): bottom {top_n} {what}")
        st.dataframe(tb[tb["end"] == "bottom"][cols], hide_index=True, width="stretch", column_config=fmt)


tabs = [t for t, ok in (("Vocabulary words", result.vocab_mean is not None),
                        ("Lexicon words", result.lexicon_mean is not None)) if ok]
if tabs:
    st.subheader("Top and bottom words by MWLR", anchor=False)
    for tab, name in zip(st.tabs(tabs), tabs):
        with tab:
            if name == "Vocabulary words":
                st.caption(JOIN_RULE)
                top_bottom_view(result.vocab_mean, ["token_a", "token_b"], "words")
            else:
                st.caption(REPLY_RULE)
                top_bottom_view(result.lexicon_mean, ["n_tokens_a", "n_tokens_b"], "lexicon words")

if result.named_summary is not None:
    st.subheader("Named words", anchor=False)
    named_factor, named_note = ui.axis_scale(result.named_summary["mwlr"])
    named = result.named_summary
    c_chart, c_table = st.columns([3, 2])
    with c_chart:
        st.altair_chart(named_words_chart(named, model_a, model_b, words, named_factor, named_note), width="stretch")
    with c_table:
        st.dataframe(named[["word", "mwlr", "log_ratio", "logp_a", "logp_b", "favours"]], hide_index=True,
                     width="stretch", column_config=fmt)

if result.category_summary is not None:
    st.subheader("Categories", anchor=False)
    st.caption(f"{result.lexicon.describe()}: mean MWLR of each category's words (whole-word log-probabilities), "
               "and tests between categories on per-prompt median MWLR ranks.")
    cs = result.category_summary
    cs_factor, cs_note = ui.axis_scale(cs["mean_mwlr"])
    bars = alt.Chart(cs.assign(mean_mwlr_shown=cs["mean_mwlr"] * cs_factor)).mark_bar().encode(
        x=alt.X("category:N", sort=list(result.lexicon.categories), title=None,
                axis=alt.Axis(labelAngle=0 if len(result.lexicon.categories) <= 4 else -30)),
        xOffset="framing:N", y=alt.Y("mean_mwlr_shown:Q", title=f"mean MWLR{' ' + cs_note if cs_note else ''} (positive: B favours)",
                                       axis=alt.Axis(format="~g")),
        color=alt.Color("framing:N", legend=alt.Legend(orient="top")),
        tooltip=["category:N", "framing:N", alt.Tooltip("mean_mwlr:Q", format=".4g"),
                 alt.Tooltip("share_positive:Q", format=".0%"), "n_words:Q", "n_prompts:Q"])
    c_chart, c_table = st.columns([2, 3])
    with c_chart:
        st.altair_chart(bars.properties(height=300), width="stretch")
    with c_table:
        shown_cs = cs.drop(columns=["pair", "model_a", "model_b"])
        st.dataframe(shown_cs, hide_index=True, width="stretch",
                     column_config={**ui.number_columns(shown_cs),
                                    "share_positive": st.column_config.NumberColumn("share_positive", format="percent")})
    tests = result.category_tests
    if tests is not None and len(tests):
        st.caption(CATEGORY_TEST_DOC.format(resamples=result.resamples, seed=result.seed,
                                            n_tested=tests.attrs.get("n_tested", 0)))
        shown_tests = tests.drop(columns=["pair"])
        st.dataframe(shown_tests, hide_index=True, width="stretch",
                     column_config={**ui.number_columns(shown_tests),
                                    **{c: st.column_config.NumberColumn(c, format="%.4f") for c in ("p_perm", "p_bonferroni")}})

if result.category_medians is not None and result.category_medians["category"].nunique() >= 2:
    st.subheader("Category differences with confidence intervals", anchor=False)
    present = [c for c in result.lexicon.categories if c in set(result.category_medians["category"])]
    c_a, c_b, _ = st.columns([1, 1, 2])
    with c_a:
        cat_a = st.selectbox("Category A", present, key="bcat_a", bind="query-params")
    with c_b:
        cat_b = st.selectbox("Category B", [c for c in present if c != cat_a], key="bcat_b", bind="query-params")
    units = result.category_medians.assign(framing=result.category_medians["framing"].fillna("no framing"))
    factor, scale_note = ui.axis_scale(units["mean_mwlr"])
    mwlr_diffs = group_differences(units.assign(mean_mwlr=units["mean_mwlr"] * factor), "category", (cat_a, cat_b),
                                   "mean_mwlr", ["framing"], resamples=result.resamples, seed=result.seed,
                                   unit=scale_note or "", what="MWLR on {framing} prompts", lower_is_better=False,
                                   verb="words get an")
    st.caption(f"{cat_a} minus {cat_b}: per prompt, the mean MWLR of the category's words; positive = B "
               f"(`{model_b}`) favours {cat_a} words more, relative to A, than {cat_b} words. Units are prompts. "
               f"{mwlr_diffs.attrs['method']}.")
    ui.show_differences(mwlr_diffs, "framing", f"{cat_a} minus {cat_b}: mean MWLR{' ' + scale_note if scale_note else ''}")

st.subheader("Export", anchor=False)
meta = implicit_metadata(result, tool="valuescope app (Base models page)", top=top_n)
tables = output_tables(result, top_n)
ui.report_button(lambda: implicit_report(tables, meta), ui.file_name("report", "implicit", model_a, model_b, ext="html"),
                 key="report-implicit")
DIFFERENCES_ROW = "one framing: category A minus category B of per-prompt mean MWLR, with its bootstrap interval"
if result.category_medians is not None and result.category_medians["category"].nunique() >= 2:
    tables["category_differences"] = (mwlr_diffs, {"method": mwlr_diffs.attrs["method"], "mwlr_multiplied_by": factor})
cols = st.columns(2)  # a CSV, its provenance and an .xlsx per table: two tables per row keep them on one line
pair_tag = f"{ui.slug(model_a, 24)}-vs-{ui.slug(model_b, 24)}"
scope_tag = "battery" if len(result.prompts) > 1 else (result.prompts[0][0] if result.prompts[0][0] in BATTERY else result.prompts[0][1])
for i, (stem, (table, extra)) in enumerate(tables.items()):
    with cols[i % 2]:
        ui.download_csv(f"{stem.replace('_', ' ').capitalize()} CSV", table,
                           {"table": f"{stem}: {OUTPUT_FILES.get(stem, DIFFERENCES_ROW)}", **meta, **extra},
                           ui.file_name("implicit", stem.replace("_", "-"), pair_tag, scope_tag), key=f"dl-{stem}")
