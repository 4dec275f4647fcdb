"""The paired view of two models' top and bottom words: shared words marked, cross ranks right."""
import numpy as np
import pandas as pd
import pytest

from engine.errors import InputError
from engine.reports.paired import PAIRED_COLUMNS, paired_words
from engine.store.db import Cache
from engine.store.rank_lookup import best_ranks, ranked_extremes


def _run(cache, model, texts, scores, prompt="What is best?"):
    frame = pd.DataFrame({"token_id": np.arange(len(texts)), "text": texts, "score": scores})
    return cache.save_run({"request_key": model, "model_id": model, "prompt_text": prompt, "candidates": "vocab"},
                          frame)


@pytest.fixture
def two_runs():
    cache = Cache()
    # a: love > Peace > money > war > hate;  b: ' peace' > joy > ' love' > ' Love' (variant) > hate > war
    a = _run(cache, "a", ["love", "Peace", "money", "war", "hate"], [5.0, 4.0, 3.0, 2.0, 1.0])
    b = _run(cache, "b", [" peace", "joy", " love", " Love", "hate", "war"], [9.0, 8.0, 7.0, 7.5, 6.0, 5.0])
    return cache, a, b


def test_shared_words_are_marked_and_each_word_has_its_rank_in_the_other_model(two_runs):
    cache, a, b = two_runs
    table, meta = paired_words(cache, a, b, k=2)
    assert list(table.columns) == PAIRED_COLUMNS
    top = table[table["list"] == "top"].set_index("position")
    assert list(top["a_word"]) == ["love", "peace"] and list(top["b_word"]) == ["peace", "joy"]
    assert list(top["a_in_both"]) == [False, True] and list(top["b_in_both"]) == [True, False]
    # love's best variant in b is ' Love' (7.5), third in b's ranking; peace is b's first; joy is not in a
    assert list(top["a_rank_in_other"]) == [3, 1]
    assert top["b_rank_in_other"].iloc[0] == 2 and pd.isna(top["b_rank_in_other"].iloc[1])
    bottom = table[table["list"] == "bottom"].set_index("position")
    assert list(bottom["a_word"]) == ["hate", "war"] and list(bottom["a_rank"]) == [5, 4]
    assert list(bottom["b_word"]) == ["war", "hate"] and list(bottom["b_rank"]) == [6, 5]
    assert bottom["a_in_both"].all() and bottom["b_in_both"].all()
    assert list(bottom["a_rank_in_other"]) == [5, 6] and list(bottom["b_rank_in_other"]) == [4, 5]
    assert (meta["model_a"], meta["model_b"], meta["n_a"], meta["n_b"]) == ("a", "b", 5, 6)
    assert "rank_in_other" in meta["method"]


def test_sql_ranks_agree_with_the_cache_ranking_on_a_random_run():
    cache = Cache()
    rng = np.random.default_rng(3)
    texts = [f"w{i % 40}{'!' * (i // 40)}" for i in range(300)]
    scores = np.round(rng.normal(size=300), 1)  # rounded: many ties, broken by token id
    run_id = _run(cache, "m", texts, scores)
    ranked = cache.scores(run_id)
    n, top, bottom = ranked_extremes(cache, run_id, 7)
    assert n == 300
    pd.testing.assert_frame_equal(top, ranked.head(7)[["rank", "text", "score"]].reset_index(drop=True),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(bottom, ranked.tail(7).iloc[::-1][["rank", "text", "score"]].reset_index(drop=True),
                                  check_dtype=False)
    found = best_ranks(cache, run_id, ["w3", "w3!", "absent", "%", "w_"]).set_index("key")
    assert found.at["w3", "rank"] == ranked.loc[ranked["text"] == "w3", "rank"].min()
    assert found.at["w3!", "rank"] == ranked.loc[ranked["text"] == "w3!", "rank"].min()
    assert found[["rank"]].loc[["absent", "%", "w_"]].isna().all().all()  # LIKE wildcards in a word are literal


def test_two_runs_of_different_prompts_are_refused(two_runs):
    cache, a, _ = two_runs
    other = _run(cache, "c", ["love"], [1.0], prompt="What is worst?")
    with pytest.raises(InputError, match="different prompts"):
        paired_words(cache, a, other)
    with pytest.raises(InputError, match="between 1"):
        paired_words(cache, a, a, k=0)
