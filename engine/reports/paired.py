"""Two models' top and bottom words for one prompt, side by side.

For each of two cached runs of the same prompt, the k best and the k worst replies are listed with their
rank (1 = highest score) and score. A reply is matched across the two models by its word (tokens are
normalised as in engine.analysis.words, so ' Love' and 'love' are the same word; a reply that normalises
to nothing is matched by its exact text): `in_both` marks a word that is also in the other model's list
(top with top, bottom with bottom), and `rank_in_other` is the best rank of that word in the other model's
whole ranking (empty when the other model has no reply that is this word). Ranks of two models with
different vocabularies count different numbers of replies: `n_a` and `n_b` in the provenance say how many.
"""
from __future__ import annotations

import pandas as pd

from engine.errors import InputError
from engine.reports.tables import run_metadata
from engine.store.rank_lookup import best_ranks, match_key, ranked_extremes

METHOD = __doc__.strip()
SIDE_COLUMNS = ["token", "word", "rank", "score", "in_both", "rank_in_other"]
PAIRED_COLUMNS = ["list", "position", *(f"{side}_{c}" for side in ("a", "b") for c in SIDE_COLUMNS)]
MAX_K = 1000


def _side(part: pd.DataFrame, other_keys: set, other_ranks: pd.DataFrame) -> pd.DataFrame:
    keys = [match_key(text) for text in part["text"]]
    return pd.DataFrame({"token": part["text"].to_numpy(dtype=object), "word": keys,
                         "rank": part["rank"].to_numpy(), "score": part["score"].to_numpy(),
                         "in_both": [key in other_keys for key in keys],
                         "rank_in_other": other_ranks.set_index("key")["rank"].reindex(keys).astype("Int64").to_numpy()})


def paired_words(cache, run_a: str, run_b: str, k: int = 10) -> tuple[pd.DataFrame, dict]:
    """The side-by-side table (PAIRED_COLUMNS: one row per list and position) and its provenance."""
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be between 1 and {MAX_K}, not {k}.")
    runs = [cache.get_run(run_a), cache.get_run(run_b)]
    if runs[0]["run_id"] == runs[1]["run_id"]:
        raise InputError("Pick two different runs to compare.")
    if runs[0]["prompt_text"] != runs[1]["prompt_text"]:
        raise InputError(f"The two runs answer different prompts ({runs[0]['prompt_text']!r} and "
                         f"{runs[1]['prompt_text']!r}): a paired view compares one prompt.")
    extremes = [ranked_extremes(cache, run["run_id"], k) for run in runs]  # (n, top, bottom) per run
    listed = [sorted({match_key(t) for part in extremes[i][1:] for t in part["text"]}) for i in (0, 1)]
    ranks = [best_ranks(cache, runs[1 - i]["run_id"], listed[i]) for i in (0, 1)]  # each side's words in the other run
    tables = []
    for index, name in ((1, "top"), (2, "bottom")):
        parts = [extremes[0][index], extremes[1][index]]
        keys = [{match_key(text) for text in part["text"]} for part in parts]
        sides = [_side(parts[i], keys[1 - i], ranks[i]).add_prefix(f"{'ab'[i]}_") for i in (0, 1)]
        table = pd.concat(sides, axis=1)  # the shorter list (a vocabulary under k) leaves its cells empty
        table.insert(0, "position", range(1, len(table) + 1))
        table.insert(0, "list", name)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)[PAIRED_COLUMNS]
    metadata = {"method": METHOD, "k": k, "prompt": runs[0]["prompt_text"], "prompt_key": runs[0].get("prompt_key"),
                "model_a": runs[0]["model_id"], "model_b": runs[1]["model_id"], "n_a": extremes[0][0],
                "n_b": extremes[1][0], "run_a": run_metadata(runs[0]), "run_b": run_metadata(runs[1])}
    return table, metadata
