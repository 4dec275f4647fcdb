"""Home: what valuescope shows, the three steps of a comparison, the pages, and what a first run costs."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

EXAMPLE = Path(__file__).resolve().parent.parent / "assets" / "values-example.png"

# Old links to Token search were "/?models=...": send them on, every parameter and repetition kept.
if any(name in st.query_params for name in ("models", "prompt", "words")):
    st.switch_page("views/token_search.py", query_params={k: st.query_params.get_all(k) for k in st.query_params})

st.title("valuescope")
st.markdown(
    "**Which human values does a reward model or a language model prefer, and did it inherit them from its "
    "base model?** valuescope scores words as whole replies to value-laden prompts, ranks the words of value "
    "lexicons (Big Two, Moral Foundations) and compares models and families with confidence intervals, as in "
    "Christian et al. (FAccT 2025; ICLR 2026).")

c_steps, c_picture = st.columns([1, 1], gap="large")
with c_steps:
    st.subheader("A comparison in three steps", anchor=False)
    st.markdown(
        "1. **Pick models and prompts** on *Values*: two or more models (two families for the paper's comparison), "
        "a lexicon, and the prompts: one, a framing, or the whole 54-prompt battery.\n"
        "2. **Compute what is missing**: one job scores every (model, prompt) not yet in the cache and shows its "
        "progress; cached runs are reused, so the second time is instant.\n"
        "3. **Read the differences**: per category, A minus B with a bootstrap interval and a one-line verdict; "
        "export every table as CSV with its provenance.")
    st.subheader("Pages", anchor=False)
    st.page_link("views/values.py", label="Values: rank lexicon categories, compare models and families",
                 icon=":material/psychology:")
    st.page_link("views/token_search.py", label="Token search: every token of the vocabulary as the reply to one prompt",
                 icon=":material/search:")
    st.page_link("views/base_models.py", label="Base models: implicit reward models between two causal LMs (MWLR)",
                 icon=":material/compare_arrows:")
    st.page_link("views/training.py", label="Training: fine-tune reward models from base models (TRL + LoRA)",
                 icon=":material/model_training:")
    st.page_link("views/runs.py", label="Runs: what the cache holds; import score tables; export",
                 icon=":material/table_view:")
    st.subheader("What the first run costs", anchor=False)
    st.markdown(
        "The two embedded models work offline. Their first use converts the packaged weights once (measured on 2 CPU "
        "cores: SmolLM2 38 s, Gemma 3 102 s). Scoring the whole vocabulary for all 54 battery prompts then took "
        "73 s (SmolLM2, 49,152 tokens) and 200 s (Gemma 3, 262,144 tokens) on the same machine; scoring only a "
        "lexicon's words is faster on large vocabularies. Everything is cached: a rerun reads the cache in seconds.")
with c_picture:
    st.subheader("What you get", anchor=False)
    if EXAMPLE.exists():
        st.image(str(EXAMPLE), caption="The Values page on three synthetic demo reward models of two families "
                                       "(tests/helpers.py): median ranks per category, and family differences "
                                       "with 95% intervals and a verdict.")
