"""Training: reward models trained from several base models on identical preference pairs, and their value
bias followed checkpoint by checkpoint (Christian et al., ICLR 2026, Figs 4-5). Training runs as a job in
its own process (engine/jobs, kind "train"); this page starts it, follows it and shows finished runs."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pandas as pd
import streamlit as st

import engine.jobs as jobs
from app import ui
from engine.models.trained import scan_problems, trained_dir
from engine.policy import ServerPolicy
from engine.reports.contents import training_report
from engine.reports.export import read_metadata, read_table
from engine.reports.training_charts import accuracy_chart, loss_chart, trajectory_chart
from engine.training.config import PRESETS, TrainConfig, preset_config
from engine.training.runlog import read_summary
from engine.training.trajectory import top_movers, training_curves, trajectory_wide
from engine.workflows.requests import TrainRequest

st.title("Training")
st.caption("Train Bradley-Terry reward models from different base models on the same preference pairs, with the same "
           "seed, data order and settings, then rank the Big Two words (Agency, Communion) at every checkpoint: does "
           "each reward model keep its base model's value bias? Every checkpoint becomes a reward model you can use on "
           "**Token search**, **Values** and **Runs** (its alias is `rm-<run>-<base>-step<N>`).")

MAIN_FIELDS = ("bases", "data", "pairs", "max_steps", "learning_rate", "max_length", "eval_pairs", "seed", "prompts", "candidates")
NOT_IN_FORM = ("preset", "run_name", "out")  # the preset is the control above; a run's name and folder are its own
trained_root = trained_dir()


# ---- a training run in progress ----------------------------------------------------------------------
def _run_dir(job) -> Path:
    return trained_root / job.params["config"]["run_name"]


def _curves(run_dir: Path):
    try:
        return training_curves(run_dir)
    except (OSError, ValueError):
        return pd.DataFrame()


@st.fragment(run_every=2.0)
def _live_curves(job_id: str, run_dir: Path) -> None:
    """Loss per step and held-out accuracy per checkpoint so far, redrawn while the job runs."""
    job = jobs.get(job_id, home=ui.home())
    curves = _curves(run_dir)
    if len(curves):
        st.altair_chart(loss_chart(curves), width="stretch")
    if job is not None and not job.live:
        st.rerun()


recent = jobs.list_jobs(kind="train", limit=20, home=ui.home())
live = [j for j in recent if j.live]
for job in live:
    with st.container(border=True):
        st.markdown(f"**Training** `{job.params['config']['run_name']}`: {', '.join(job.params['config']['bases'])}")
        ui.job_progress(job.id)
        _live_curves(job.id, _run_dir(job))
last = recent[0] if recent else None
if last is not None and last.status in ("failed", "interrupted", "cancelled") and last.finished_at and \
        time.time() - last.finished_at < 3600:
    st.warning(f"The last training job ({last.params['config']['run_name']}) ended {last.status}: "
               f"{ui.public_safe(last.error or last.message)}. Checkpoints it finished stay usable.", icon=":material/warning:")

# ---- start a run ---------------------------------------------------------------------------------
with st.expander("Train reward models", expanded=not live):
    preset = st.segmented_control("Preset", list(PRESETS), default="cpu-demo", key="preset", required=True,
                                  bind="query-params",
                                  help="cpu-demo: the two embedded models on real HH-RLHF pairs, minutes per base on a "
                                       "laptop CPU. paper: the authors' recipe (LoRA r=32, lr 1e-5, 2 epochs, "
                                       "max length 1024, bf16) with valuescope's choices, for a GPU and hub models. "
                                       "paper-authors: the same with the authors' own choices (docs/training.md).")
    # Keys per preset (a URL parameter name has no dashes): switching preset starts from its own values.
    prefix, defaults = f"train_{preset}_".replace("-", "_"), dataclasses.asdict(preset_config(preset))
    values = ui.config_widgets(TrainConfig, only=MAIN_FIELDS, prefix=prefix, columns=5, models=[], defaults=defaults,
                               options={"bases": ui.registry_options()})
    with st.expander("All settings"):
        values |= ui.config_widgets(TrainConfig, skip=(*MAIN_FIELDS, *NOT_IN_FORM), prefix=prefix, columns=4,
                                    models=[], defaults=defaults)
    public = ServerPolicy.from_env().public
    start = st.button("Start training", type="primary", icon=":material/model_training:", disabled=public,
                      help="Training is turned off on this public server: run valuescope yourself to train."
                      if public else None)
    if start:
        with ui.guard("Training settings") as g:
            config = preset_config(preset, **values, run_name=time.strftime("run-%Y%m%d-%H%M%S"))
            ui.check_capacity()
            job = jobs.submit("train", TrainRequest(dataclasses.asdict(config)).to_params(), label=f"train {', '.join(config.bases)}",
                              home=ui.home())
        if not g.failed:
            st.toast(f"Training started: {config.run_name}", icon=":material/model_training:")
            time.sleep(0.3)
            st.rerun()


# ---- finished runs ----------------------------------------------------------------------------------
def _runs() -> list[dict]:
    found = []
    folders = sorted(trained_root.glob("*"), key=lambda f: f.stat().st_mtime, reverse=True) if trained_root.is_dir() else []
    for folder in folders:  # newest first
        try:
            summary = read_summary(folder)
        except (OSError, ValueError):
            continue
        found.append({"run": folder.name, "status": summary.get("status"), "bases": ", ".join(summary.get("settings", {})
                      .get("bases", [])), "folder": folder})
    return found


runs = _runs()
st.subheader("Training runs", anchor=False)
for problem in scan_problems(ui.home()):  # found once, when this server first listed the trained checkpoints
    st.warning(ui.public_safe(problem), icon=":material/broken_image:")
if not runs:
    st.info("No training runs yet. The cpu-demo preset trains SmolLM2-135M-Instruct and Gemma 3 270M on 320 real "
            "HH-RLHF pairs; the same from the command line: `valuescope train --preset cpu-demo`.", icon=":material/info:")
    st.stop()
pick = st.selectbox("Run", [r["run"] for r in runs], key="train_run", bind="query-params",
                    format_func=lambda name: next(f"{r['run']} ({r['status']}; {r['bases']})" for r in runs if r["run"] == name))
run_dir = next(r["folder"] for r in runs if r["run"] == pick)


@st.cache_data(show_spinner=False, max_entries=8)
def _tables(folder: str, stamp: float) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Each table of a run with its provenance, as the run wrote them (reread when a file changes)."""
    return {p.stem: (read_table(p), read_metadata(p)) for p in sorted((Path(folder) / "tables").glob("*.csv"))}


tables_dir = run_dir / "tables"
stamp = max((p.stat().st_mtime for p in tables_dir.glob("*.csv")), default=0.0)
provenance = _tables(str(run_dir), stamp)
tables = {name: table for name, (table, _) in provenance.items()}
if "trajectory" not in tables:
    st.info("This run's checkpoints have not been scored yet (the job scores them when training ends, but not "
            f"after a cancel; `valuescope trajectory {run_dir}` does it from the command line).",
            icon=":material/hourglass_empty:")
    st.stop()

st.caption("After Fig 4a: median rank of each Big Two category among the matched words (1 = the reward model's "
           "favourite), by training step, one panel per base (with several seeds: their mean, and a band from min to "
           "max). The words are ranked as valuescope ranks them, not on the paper's scale (docs/training.md).")
st.altair_chart(trajectory_chart(tables["trajectory"]), width="content")
c_table, c_acc = st.columns([3, 2])
with c_table:
    wide = trajectory_wide(tables["trajectory"])
    st.dataframe(wide, hide_index=True, width="stretch", height=300, column_config=ui.number_columns(wide, "%.1f"))
with c_acc:
    st.altair_chart(accuracy_chart(tables["checkpoints"]), width="stretch")
if "data_quantity" in tables and tables["data_quantity"]["variant"].nunique() > 1:
    st.markdown("**Last checkpoint against the number of training pairs** (Fig 4b)")
    st.dataframe(tables["data_quantity"], hide_index=True, width="stretch")
if "word_changes" in tables:
    st.markdown("**Words that rose and fell most from the first to the last checkpoint** (Fig 5)")
    movers = top_movers(tables["word_changes"], 10)
    st.dataframe(movers, hide_index=True, width="stretch", column_config=ui.number_columns(movers, "%.1f"))
with st.expander("Checkpoints (each is a reward model in the registry)"):
    st.dataframe(tables["checkpoints"].drop(columns=["path"], errors="ignore"), hide_index=True, width="stretch")

st.markdown("**Export**")
ui.report_button(lambda: training_report(provenance, movers if "word_changes" in tables else None),
                 ui.file_name("report", "training", pick, ext="html"), key="report-training")
cols = st.columns(4)
for i, (name, (table, meta)) in enumerate(provenance.items()):
    with cols[i % 4]:
        ui.download_csv(f"{name.replace('_', ' ').capitalize()} CSV", table, meta, ui.file_name("training", pick, name),
                        key=f"dl-train-{name}")
