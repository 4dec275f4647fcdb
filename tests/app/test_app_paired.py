"""Token search shows two models' top and bottom words side by side once two chosen models are cached."""
from __future__ import annotations

import pytest

from engine.reports.paired import paired_words
from engine.store.db import Cache
from helpers import app, cached_tiny_search, make_tiny_model_dir, texts

pytest.importorskip("streamlit")
PROMPT = "What, in one word, is the greatest thing ever?"


def test_two_cached_models_are_shown_side_by_side_with_shared_words_marked(tmp_path):
    folders = [make_tiny_model_dir(tmp_path / name, "llama", seed=seed) for name, seed in (("a", 0), ("b", 3))]
    runs = [cached_tiny_search(folder, PROMPT).run for folder in folders]
    at = app(models=[str(f) for f in folders], prompt=PROMPT, mode="logprob", k="5")
    assert "Two models side by side" in texts(at.subheader), texts(at.subheader)
    assert (at.selectbox(key="paired_a").value, at.selectbox(key="paired_b").value) == tuple(map(str, folders))
    shown = {key: frame.value for key, frame in zip(("top-a", "top-b", "bottom-a", "bottom-b"), at.dataframe[-4:])}
    expected, _ = paired_words(Cache(), runs[0]["run_id"], runs[1]["run_id"], 5)
    for key, table in shown.items():
        name, side = key.split("-")
        want = expected[expected["list"] == name]
        assert list(table.columns) == ["rank", "token", "score", f"rank in {'B' if side == 'a' else 'A'}", "in both"]
        assert table["rank"].tolist() == want[f"{side}_rank"].tolist()
        assert table["in both"].tolist() == want[f"{side}_in_both"].tolist()
        assert table.iloc[:, 3].tolist() == want[f"{side}_rank_in_other"].tolist()
    assert any(label.startswith("Paired words CSV") for label in (b.label for b in at.get("download_button")))
    only_one = app(models=[str(folders[0])], prompt=PROMPT, mode="logprob")
    assert "Two models side by side" not in texts(only_one.subheader)
