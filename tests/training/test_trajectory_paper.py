"""The paper's trajectory method (Fig 4a, Fig 5) on synthetic checkpoint scores: no model needed."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.training.trajectory import medians_by_step, paper_rankings, word_rank_changes

TEXTS = {  # base -> vocabulary (exact decoded strings)
    "gemma": ["success", " success", "Success", "love", " love", "skill", "rock", " ability"],
    "llama": ["success", " success", "love", " love", "Love", "skill", "rock"],
}


def _scored() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, info = [], []
    for base, texts in TEXTS.items():
        for step in (0, 10, 20):
            model_id = f"{base}-step{step}"
            info.append({"model_id": model_id, "base": base, "variant": "v", "n_train_pairs": 100, "seed": 0,
                         "step": step})
            for i, text in enumerate(texts):
                score = (i if step == 0 else -i) + (step / 10) * (text.strip().lower() == "skill")
                rows.append({"model_id": model_id, "family": base, "prompt_key": "greatest_ever_one",
                             "framing": "positive", "text": text, "score": float(score)})
    return pd.DataFrame(rows), pd.DataFrame(info)


def test_paper_rankings_fig4a_shared_strings_every_variant_and_fig5_nouns():
    scored, info = _scored()
    ranked = paper_rankings(scored, info)
    fig4a, fig5 = ranked[ranked["figure"] == "4a"], ranked[ranked["figure"] == "5"]
    # Fig 4a: only strings both bases have ("Success", "Love", " ability" are not shared), each ranked on its own
    one = fig4a[fig4a["model_id"] == "gemma-step10"]
    assert sorted(one["text"].astype(str)) == [" love", " success", "love", "skill", "success"]
    assert one["n_ranked"].iloc[0] == 5  # success, " success", love, " love", skill (rock matches no category)
    assert ranked.attrs["n_shared_strings"] == 6
    assert set(medians_by_step(fig4a)["category"]) == {"Agency", "Communion"}
    # Fig 5: the nouns, one row per word (variants averaged)
    words = fig5[fig5["model_id"] == "llama-step20"].set_index("word")
    assert sorted(words.index) == ["love", "skill", "success"]
    llama = dict(zip(TEXTS["llama"], range(len(TEXTS["llama"]))))
    assert words.loc["love", "score"] == pytest.approx(-(llama["love"] + llama[" love"] + llama["Love"]) / 3)


def test_rank_changes_from_the_first_trained_checkpoint():
    scored, info = _scored()
    fig5 = paper_rankings(scored, info).query("figure == '5'")
    from_head = word_rank_changes(fig5)  # valuescope's view: from step 0 (random head)
    from_training = word_rank_changes(fig5, start="first_trained")
    assert set(from_head["step_first"]) == {0} and set(from_training["step_first"]) == {10}
    assert set(from_training["step_last"]) == {20}
    with pytest.raises(ValueError, match="Unknown start"):
        word_rank_changes(fig5, start="middle")
    with pytest.raises(ValueError, match="No trained checkpoint"):
        word_rank_changes(fig5[fig5["step"] == 0], start="first_trained")
