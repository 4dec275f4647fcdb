"""The paper presets on the Values page: one selector; when a preset is chosen, its figures (engine
workflow engine/workflows/paper_preset.py, the same as `valuescope analyze --preset`) replace the page's
own analysis."""
from __future__ import annotations

import streamlit as st

from app.ui.messages import guard
from app.ui.resources import cache, home
from engine.analysis.paper_stats import STARS_DOC
from engine.analysis.stats import FAMILY_TESTS
from engine.analysis.paper_training import FIG4B_DOC
from engine.workflows.paper_preset import PRESETS, preset_fig4b, run_preset

NO_PRESET = "none"


@st.cache_data(show_spinner="Reproducing the paper's figures…", max_entries=4)
def _preset_panels(home_path: str, preset: str, n_runs: int):
    # n_runs: a new import changes the key, so the figures are recomputed then.
    return [(r.figure.name, r.figure.title, r.panels, r.analysis.notes) for r in run_preset(cache(), preset, home=home_path)]


def paper_preset_selector() -> None:
    """A 'Paper preset' selector; with a preset chosen, show its figures and stop the page there."""
    preset = st.segmented_control("Paper preset", [NO_PRESET, *PRESETS], default=NO_PRESET, key="preset",
                                  bind="query-params", required=True,
                                  help="Reproduce a paper's figures from its published data, with the paper's own "
                                       "statistics (import it first: `valuescope import --paper iclr2026`).")
    if preset == NO_PRESET:
        return
    n_runs = len(cache().list_runs(status="done"))
    with guard("The preset could not run"):
        for name, title, panels, notes in _preset_panels(home(), preset, n_runs):
            st.subheader(f"{name}: {title}")
            st.dataframe(panels, hide_index=True)
            st.caption("Values: mean over (model, prompt) of each category's median rank (1 = best); diff = gemma - "
                       f"llama. {FAMILY_TESTS['welch'][1]}; Bonferroni over the panels shown; "
                       f"{STARS_DOC}. ci_low/ci_high: {panels.attrs.get('intervals')}.")
            for note in notes:
                st.caption(f"note: {note}")
        points = preset_fig4b(preset, home=home())
        if points is not None:
            st.subheader("Fig 4b: data quantity")
            st.dataframe(points, hide_index=True)
            st.caption(f"{FIG4B_DOC}. The paper's 13K point is left out: its table is the 27K run's.")
    st.stop()
