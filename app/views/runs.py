"""Runs: everything in the DuckDB cache; filter, export, delete, and import score tables computed elsewhere."""
from __future__ import annotations

import streamlit as st

from app import ui
from app.ui.messages import public_safe
from app.ui.uploads import uploaded_file
from engine.policy import ServerPolicy
from engine.reports.tables import rankings_metadata, rankings_of_runs, run_metadata
from engine.options import IMPORT_LAYOUTS as LAYOUTS, SCORE_KINDS
from engine.workflows.importer import import_scores
from engine.prompts import FRAMINGS
from engine.sweeps.progress import list_sweeps

SHOWN = ["run_id", "status", "source", "model_id", "family", "score_kind", "candidates", "prompt_key", "prompt_text",
         "n_scores", "revision", "template", "dtype", "quantization", "vocab_filter", "head_status", "device",
         "seconds", "created_at", "error"]

policy = ServerPolicy.from_env()
st.title("Runs")
where = "" if policy.public else f" `{ui.cache().path}`"  # no server paths on a public server
st.caption(f"Every search and import in the cache{where}. Select rows to export their rankings"
           + (" or delete them." if policy.allow_delete else "."))

tab_runs, tab_jobs, tab_import = st.tabs(["Cached runs", "Jobs", "Import score tables"], key="tab",
                                         bind="query-params")
with tab_jobs:
    ui.jobs_table(allow_cancel=not policy.public)  # on a public server, visitors cancel only their own page's jobs
    for sweep in list_sweeps()[:10]:  # `valuescope sweep` runs from the command line; its driver records progress
        models = f"{len(sweep.models)} models" if policy.public else ", ".join(sweep.models)[:200]  # no server paths
        st.progress(sweep.finished / max(sweep.tasks, 1), text=f"{sweep.line()} ({sweep.backend}, {sweep.status}): "
                    f"{models} x {sweep.n_prompts} prompts")

# ---- import -------------------------------------------------------------------------------------
with tab_import:
    st.markdown(
        "Bring in scores computed elsewhere, one file per model, as **CSV or Parquet**:\n"
        "- **wide**: a `response` column (the reply), then one column per prompt key (`greatest_ever_one`, …), "
        "one score per cell;\n"
        "- **long**: columns `response, prompt, score`.\n\n"
        "A prompt may be a battery key, a battery question or your own key (then give its framing). Each (model, prompt) "
        "becomes one run, marked *imported*.")
    upload = st.file_uploader("Score table", type=["csv", "parquet", "pq"], key="import_file",
                              max_upload_size=policy.max_upload_mb)
    i1, i2, i3, i4 = st.columns(4)
    with i1:
        family = st.text_input("Family (required)", key="import_family", placeholder="llama, gemma, qwen…",
                               help="The base-model family: the Values page compares families.")
        model = st.text_input("Model name", key="import_model", placeholder="default: the file name",
                              help="How the model is listed; default: the file's name without its suffix.")
    with i2:
        layout = st.selectbox("Layout", LAYOUTS, key="import_layout", help="auto: long when the columns are "
                              "response, prompt, score; else wide.")
        score_kind = st.selectbox("Scores are", SCORE_KINDS, key="import_kind",
                                  help="reward: a reward model's scores; logprob: log-probabilities of a causal LM.")
    with i3:
        framing = st.selectbox("Framing of non-battery prompts", [None, *FRAMINGS], key="import_framing",
                               format_func=lambda f: "none (battery keys only)" if f is None else f,
                               help="Battery keys carry their framing; other prompt keys need one.")
        revision = st.text_input("Revision", key="import_revision", placeholder="if known",
                                 help="The model's exact revision, recorded with every run.")
    with i4:
        replace = st.checkbox("Replace earlier imports of this model", key="import_replace",
                              help="Overwrite this model's imported scores for the same prompts.")
        do_import = st.button("Import", type="primary", icon=":material/upload:", disabled=upload is None)
    if do_import and upload is not None:
        with ui.guard("Import") as g, uploaded_file(upload) as path:  # the copy is removed once imported
            results = import_scores(ui.cache(), path, family=family, model=model.strip() or None,
                                    framing=framing, layout=layout, score_kind=score_kind,
                                    revision=revision.strip() or None, replace=replace, source=f"upload:{path.name}")
        if not g.failed:
            for r in results:
                if r.unchanged:
                    st.info(f"{r.path.name}: already imported as model `{r.model_id}` ({r.family}); nothing changed.",
                            icon=":material/info:")
                else:
                    st.success(f"Imported `{r.model_id}` ({r.family}, {r.layout} table): {len(r.prompts)} prompt(s) x "
                               f"{r.n_responses} responses" + (f", replacing {r.replaced} run(s)" if r.replaced else "")
                               + ".", icon=":material/check_circle:")

# ---- cached runs --------------------------------------------------------------------------------
with tab_runs:
    runs = ui.public_safe_table(ui.cache().list_runs())  # no server paths (trained checkpoints) in public mode
    if runs.empty:
        st.info("No runs cached yet: run a search on Token search, or import score tables.", icon=":material/info:")
        st.stop()
    f1, f2, f3, f4 = st.columns([3, 2, 2, 3])
    with f1:
        models = st.multiselect("Model", sorted(runs["model_id"].unique()), key="rmodels", bind="query-params",
                                placeholder="all")
    with f2:
        statuses = st.multiselect("Status", sorted(runs["status"].unique()), key="rstatus", bind="query-params",
                                  placeholder="all")
    with f3:
        sources = st.multiselect("Source", sorted(runs["source"].dropna().unique()), key="rsource",
                                 bind="query-params", placeholder="all")
    with f4:
        query = st.text_input("Prompt contains", key="rq", bind="query-params", placeholder="e.g. greatest")
    shown = runs
    if models:
        shown = shown[shown["model_id"].isin(models)]
    if statuses:
        shown = shown[shown["status"].isin(statuses)]
    if sources:
        shown = shown[shown["source"].isin(sources)]
    if query:
        text = shown["prompt_text"].fillna("") + " " + shown["prompt_key"].fillna("")
        shown = shown[text.str.contains(query, case=False, regex=False)]
    shown = shown.sort_values("created_at", ascending=False).reset_index(drop=True)

    st.caption(f"{len(shown):,} of {len(runs):,} runs. Tick rows to export" + (" or delete them." if policy.allow_delete else " them."))
    event = st.dataframe(
        shown[SHOWN], key="runs_table", on_select="rerun", selection_mode="multi-row", hide_index=True,
        width="stretch", height=min(420, 38 + 35 * len(shown)),
        column_config={"run_id": st.column_config.TextColumn("run id", pinned=True),
                       "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
                       "n_scores": st.column_config.NumberColumn("scores", format="%d"),
                       "created_at": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm")})
    rows = [i for i in event.selection.rows if i < len(shown)] if event is not None else []
    selected = shown.iloc[rows]
    done = selected[selected["status"] == "done"]

    a1, a2, a3 = st.columns(3)
    with a1:
        ui.download_csv("Runs table CSV", shown[SHOWN], {"table": "runs", "filters": dict(st.query_params)},
                           ui.file_name("runs", f"{len(shown)}-runs"), key="dl-runs")
    with a2:
        # Tables are built on click; whether each ranking fits a spreadsheet is checked once per run
        # (ui.ranking_summary, kept per run), not on every rerun.
        summaries = {run_id: ui.ranking_summary(run_id) for run_id in done["run_id"]}
        unfit = next((s.unfit for s in summaries.values() if s.unfit), None)
        if len(done) == 1:
            run_id = done.iloc[0]["run_id"]
            run = summaries[run_id].run
            ui.download_csv(
                "Ranking CSV", lambda: ui.ranking_export(run_id)[0], run_metadata(run),
                ui.file_name("ranking", run["model_id"], run.get("prompt_key") or run.get("prompt_text"), run_id[:8]),
                key="dl-ranking", rows=summaries[run_id].n, unfit=unfit,
                cli=f"valuescope export {run_id[:12]} --out ranking.xlsx")
        elif len(done) > 1:
            chosen = [s.run for s in summaries.values()]
            ui.download_csv(f"Rankings of {len(done)} runs CSV",
                            lambda: rankings_of_runs([(run, ui.run_scores(run["run_id"])) for run in chosen])[0],
                            rankings_metadata(chosen),
                            ui.file_name("rankings", f"{len(done)}-runs", "-".join(sorted(done["model_id"].unique()))),
                            key="dl-rankings", parquet=True, rows=sum(s.n for s in summaries.values()), unfit=unfit,
                            cli="valuescope export <run id> --out ranking.csv, once per run")
        else:
            st.caption("Select completed runs to export their rankings.")
    with a3:
        if len(selected) and policy.allow_delete:  # public mode: nobody deletes what others computed
            with st.popover(f"Delete {len(selected)} run(s)…", icon=":material/delete:"):
                st.markdown(f"Delete **{len(selected)}** run(s) and their scores from the cache? This cannot be undone.")
                if st.button("Delete", type="primary", key="confirm_delete"):
                    with ui.guard("Delete"):
                        for run_id in selected["run_id"]:
                            ui.cache().delete_run(run_id)
                            ui.forget_run(run_id)
                        st.session_state.pop("runs_table", None)
                        st.toast(f"Deleted {len(selected)} run(s).", icon=":material/delete:")
                        st.rerun()

    if len(selected) == 1:
        run = selected.iloc[0].to_dict()
        with st.container(border=True):
            st.markdown(f"**{run['model_id']}** · {run.get('prompt_text') or ''}")
            st.caption(ui.settings_line(run))
            if run["status"] == "done":
                scores = ui.run_scores(run["run_id"])
                c_top, c_bottom = st.columns(2)
                c_top.dataframe(scores.head(10)[["rank", "text", "score"]], hide_index=True, width="stretch")
                c_bottom.dataframe(scores.tail(10).iloc[::-1][["rank", "text", "score"]], hide_index=True, width="stretch")
            elif run.get("error"):
                st.error(public_safe(run["error"]), icon=":material/error:")
