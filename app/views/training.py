"""Training: the page that issue 5/6 fills (reward-model training from a base model). Until then it says
what will be here, and links to what already works."""
from __future__ import annotations

import streamlit as st

st.title("Training")
st.info("This page arrives with the next milestone (issue 5/6). Nothing here runs yet.", icon=":material/construction:")

st.markdown(
    """
**What will be here**

The ICLR 2026 paper shows that reward models inherit value biases from the base model they were trained from. This
page will let you reproduce that on a small scale:

- **Train** a reward model (a scalar head on a causal LM, Bradley–Terry loss) on human preference pairs, for
  example Anthropic's HH-RLHF *harmless-base* split, starting from base models of different families.
- **Follow** training: loss and preference accuracy on held-out pairs, and checkpoints saved along the way.
- **Compare** each checkpoint's token rankings and Big Two / Moral Foundations category ranks with its base
  model's, to see how much of the base model's value profile survives training.
- Every trained checkpoint becomes a model id you can use on **Token search**, **Values** and **Runs**, with its
  training settings recorded for reproducibility.
"""
)

st.markdown("**Meanwhile**")
c1, c2, c3 = st.columns(3)
c1.page_link("views/token_search.py", label="Token search: rank every token", icon=":material/search:")
c2.page_link("views/values.py", label="Values: category ranks by family", icon=":material/psychology:")
c3.page_link("views/base_models.py", label="Base models: implicit reward", icon=":material/compare_arrows:")
