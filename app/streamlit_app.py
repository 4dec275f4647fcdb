"""valuescope dashboard: `streamlit run app/streamlit_app.py` from the repository root.

Pages are thin views over engine/; each lives in app/views/ and keeps its state in the URL.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

# Not "pages/": Streamlit treats a pages/ folder beside the main script as an old-style multipage app
# and, in a fresh process, runs a deep link such as /values as that file alone, without this script.
PAGES = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="valuescope", page_icon=":material/balance:", layout="wide",
                   menu_items={"About": "valuescope: which human values does a reward model or language model prefer? "
                                        "Christian et al., ICLR 2026 and FAccT 2025."})

# Less empty space above each page's title, so a 1280x800 window shows the results.
st.html("<style>[data-testid='stMainBlockContainer']{padding-top:2.5rem}</style>")
# Pages along the top: the whole 1280 px width is left for tables and charts.
page = st.navigation(
    [
        st.Page(PAGES / "home.py", title="Home", icon=":material/home:", default=True),
        st.Page(PAGES / "values.py", title="Values", icon=":material/psychology:", url_path="values"),
        st.Page(PAGES / "token_search.py", title="Token search", icon=":material/search:", url_path="search"),
        st.Page(PAGES / "base_models.py", title="Base models (implicit RM)", icon=":material/compare_arrows:",
                url_path="base-models"),
        st.Page(PAGES / "training.py", title="Training", icon=":material/model_training:", url_path="training"),
        st.Page(PAGES / "runs.py", title="Runs", icon=":material/table_view:", url_path="runs"),
    ],
    position="top",
)
# Copy link: the address holds every widget's value (repeated parameters included), so copying it shares
# the view. Read in the browser at click time, after the page has written its latest values to the URL.
st.html("""<button id="vs-copy-link" type="button" title="Copy this view's address (every setting is in it)"
 style="position:fixed;top:0.9rem;right:4.2rem;z-index:999990;font:13px sans-serif;padding:3px 10px;
 border:1px solid #ccc;border-radius:6px;background:#fff;cursor:pointer">Copy link</button>
<script>
const button = document.getElementById("vs-copy-link");
button.onclick = async () => {
  const url = window.location.href;
  try { await navigator.clipboard.writeText(url); button.textContent = "Link copied"; }
  catch (e) { window.prompt("Copy this link:", url); }
  setTimeout(() => { button.textContent = "Copy link"; }, 2000);
};
</script>""", unsafe_allow_javascript=True, width="content")
try:
    page.run()
except Exception as exc:  # the last safety net: a message in the page, the traceback in the server log
    from app.ui import show_error

    show_error(exc, "Something went wrong on this page")
