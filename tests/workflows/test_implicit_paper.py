"""The paper's vocabulary join for implicit RMs (Fig 3, Table 1): exact strings shared by every model,
named words averaged over case and whitespace variants."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.analysis.implicit import join_exact_strings, mwlr
from engine.prompts import BATTERY
from engine.store.db import Cache
from engine.workflows.implicit import ImplicitResult, paper_vocabulary

VOCABS = {  # model -> {text: log-prob}; "love" twice in gemma-a (two token ids), "Love" missing in gemma-b
    "gemma-a": {"love": -2.0, " love": -3.0, "Love": -4.0, "freedom": -5.0, " Freedom": -6.0, "cat": -1.0, "xyz": -9.0},
    "gemma-b": {"love": -2.5, " love": -3.5, "freedom": -5.5, " Freedom": -6.5, "cat": -1.5},
    "llama-it": {"love": -1.0, " love": -2.0, "Love": -3.0, "freedom": -4.0, " Freedom": -7.0, "cat": -2.0, "dog": -1.0},
}


def _result(cache) -> ImplicitResult:
    runs = []
    for model, vocab in VOCABS.items():
        texts, scores = list(vocab), list(vocab.values())
        if model == "gemma-a":
            texts, scores = texts + ["love"], scores + [-8.0]  # a second token decoding to "love": the max is kept
        meta = {"request_key": model, "model_id": model, "family": model.split("-")[0], "prompt_key": "greatest_ever_one",
                "prompt_text": BATTERY["greatest_ever_one"].text, "framing": "positive", "candidates": "vocab",
                "score_kind": "logprob"}
        run_id = cache.save_run(meta, pd.DataFrame({"token_id": range(len(texts)), "text": texts, "score": scores}))
        for side_model, side in ((model, "a" if model.startswith("gemma") else "b"),):
            runs.append({"pair": "", "side": side, "model": side_model, "prompt_key": "greatest_ever_one",
                         "candidates": "vocab", "run_id": run_id})
    pairs = pd.DataFrame([{"pair": f"{g} -> llama-it", "model_a": g, "model_b": "llama-it"} for g in ("gemma-a", "gemma-b")])
    return ImplicitResult(pairs=pairs, prompts=[("greatest_ever_one", BATTERY["greatest_ever_one"].text)],
                          runs=pd.DataFrame(runs))


def test_exact_join_keeps_strings_every_model_has_and_the_best_duplicate():
    joined = join_exact_strings({m: pd.DataFrame({"text": list(v), "score": list(v.values())}) for m, v in VOCABS.items()})
    assert list(joined["text"]) == [" Freedom", " love", "cat", "freedom", "love"]  # no "Love", "xyz", "dog"
    dup = join_exact_strings({"a": pd.DataFrame({"text": ["x", "x"], "score": [-3.0, -1.0]})})
    assert dup["a"].tolist() == [-1.0]


def test_paper_vocabulary_tables(tmp_path):
    cache = Cache(tmp_path)
    tables = paper_vocabulary(cache, _result(cache), words=("Freedom", "love"), top=2)
    named = tables["paper_named_words"].set_index(["pair", "word"])
    a, b = VOCABS["gemma-a"], VOCABS["llama-it"]
    expected_love = np.mean([mwlr(a[t], b[t]) for t in ("love", " love")])  # "Love" is not in gemma-b
    assert named.loc[("gemma-a -> llama-it", "love"), "mwlr"] == pytest.approx(expected_love)
    assert named.loc[("gemma-a -> llama-it", "love"), "n_variants"] == 2
    expected_freedom = np.mean([mwlr(a[t], b[t]) for t in ("freedom", " Freedom")])
    assert named.loc[("gemma-a -> llama-it", "Freedom"), "mwlr"] == pytest.approx(expected_freedom)
    top = tables["paper_top_bottom"]
    first = top[(top["pair"] == "gemma-a -> llama-it") & (top["end"] == "top")]
    values = {t: mwlr(a[t], b[t]) for t in (" Freedom", " love", "cat", "freedom", "love")}
    assert list(first["word"]) == sorted(values, key=lambda t: -values[t])[:2] and len(first) == 2
