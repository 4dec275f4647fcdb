"""valuescope dashboard: `streamlit run app/streamlit_app.py` from the repository root.

Pages are thin views over engine/; each lives in app/pages/ and keeps its state in the URL.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="valuescope", page_icon=":material/balance:", layout="wide",
                   menu_items={"About": "valuescope: which human values does a reward model or language model prefer? "
                                        "Christian et al., ICLR 2026 and FAccT 2025."})

page = st.navigation(
    {
        "Explore": [
            st.Page(PAGES / "token_search.py", title="Token search", icon=":material/search:", url_path="search", default=True),
            st.Page(PAGES / "values.py", title="Values", icon=":material/psychology:", url_path="values"),
            st.Page(PAGES / "base_models.py", title="Base models (implicit RM)", icon=":material/compare_arrows:",
                    url_path="base-models"),
        ],
        "Manage": [
            st.Page(PAGES / "training.py", title="Training", icon=":material/model_training:", url_path="training"),
            st.Page(PAGES / "runs.py", title="Runs", icon=":material/table_view:", url_path="runs"),
        ],
    }
)
with st.sidebar:
    st.caption("Which human values does a reward model prefer? Scores every token or lexicon word as the whole reply. "
               "Christian et al., ICLR 2026 · FAccT 2025.")
page.run()
