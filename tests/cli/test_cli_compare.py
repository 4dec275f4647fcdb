"""`valuescope compare`: two models' top and bottom words for one prompt, written as a CSV that pandas opens."""
import numpy as np
import pandas as pd

from engine.cli import main
from engine.reports.export import read_metadata
from engine.reports.paired import PAIRED_COLUMNS
from engine.store.rank_lookup import match_key
from engine.prompts import BATTERY
from engine.store.db import Cache

WORDS = ["love", "peace", "money", "war", "hate", "joy", "power", "care", "truth", "freedom"]


def _vocabulary_run(cache, model: str, seed: int):
    """A cached vocabulary run of 400 replies: words with case and space variants, punctuation, non-ASCII."""
    rng = np.random.default_rng(seed)
    texts = [f"{' ' * (i % 2)}{WORDS[i % len(WORDS)].capitalize() if i % 3 else WORDS[i % len(WORDS)]}{i // 60 or ''}"
             for i in range(380)] + ["!", "\n", "é", " ", "❤", *(f"x{i}é" for i in range(15))]
    frame = pd.DataFrame({"token_id": np.arange(len(texts)), "text": texts, "score": rng.normal(size=len(texts))})
    run_id = cache.save_run({"request_key": model, "model_id": model, "prompt_key": "greatest_ever_one",
                             "prompt_text": BATTERY["greatest_ever_one"].text, "candidates": "vocab"}, frame)
    return cache.scores(run_id)


def test_compare_writes_the_paired_table_as_a_plain_csv(tmp_path, capsys):
    a, b = "model-a", "model-b"
    runs = [_vocabulary_run(Cache(), model, seed) for model, seed in ((a, 0), (b, 1))]
    out = tmp_path / "paired.csv"
    assert main(["compare", "--models", f"{a},{b}", "--prompt", "greatest_ever_one", "--top", "5",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == PAIRED_COLUMNS and len(table) == 10
    assert list(table["list"]) == ["top"] * 5 + ["bottom"] * 5
    best_a = runs[0].iloc[0]
    assert table.at[0, "a_token"] == best_a["text"] and table.at[0, "a_rank"] == 1
    assert set(table.loc[5:, "b_rank"]) == set(range(len(runs[1]) - 4, len(runs[1]) + 1))
    # each word's rank in the other model: the best rank of any of its tokens there, from the whole ranking
    scores_b = runs[1]
    best_b = scores_b.assign(key=scores_b["text"].map(match_key)).groupby("key")["rank"].min()
    expected = [best_b.get(match_key(token)) for token in runs[0].set_index("rank").loc[table["a_rank"], "text"]]
    assert table["a_rank_in_other"].tolist() == expected
    meta = read_metadata(out)
    assert (meta["model_a"], meta["model_b"], meta["k"]) == (str(a), str(b), 5)
    capsys.readouterr()
    assert main(["compare", "--models", f"{a},nothing", "--prompt", "greatest_ever_one"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
