"""One run's best and worst replies, and where given words rank in it, answered inside DuckDB.

A page comparing two rankings needs a few dozen rows of each, not the 50k-262k rows of a vocabulary
run: the extremes are two `ORDER BY ... LIMIT k` queries, and a word's rank is read from DuckDB's
window ranking of the run after a join on ASCII letters and digits has narrowed the texts to those that
can normalise to the word. The ranking is the cache's (engine.store.records.rank_scores): rank 1 = highest score, ties
broken by token id, or by text when a run has no token ids.
"""
from __future__ import annotations

import pandas as pd

from engine.analysis.words import normalize_token
from engine.errors import NotFoundError

EXTREME_COLUMNS = ["rank", "text", "score"]


def _tiebreak(con, run_id: str) -> tuple[int, str]:
    """(replies in the run, the column that breaks score ties)."""
    n, with_ids = con.execute("SELECT count(*), count(token_id) FROM scores WHERE run_id = ?", [run_id]).fetchall()[0]
    return n, "token_id" if n and with_ids == n else "text"


def ranked_extremes(cache, run_id: str, k: int) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    """(replies ranked, the best k best first, the worst k worst first), each with rank, text, score."""
    run = cache.get_run(run_id)
    if run["status"] != "done":
        raise NotFoundError(f"Run {run['run_id']} is {run['status']}, not done: it has no complete scores.")
    with cache.connect() as con:
        n, tiebreak = _tiebreak(con, run["run_id"])
        sql = "SELECT text, score FROM scores WHERE run_id = ? ORDER BY score {}, {} {} LIMIT ?"
        top = con.execute(sql.format("DESC", tiebreak, "ASC"), [run["run_id"], k]).df()
        bottom = con.execute(sql.format("ASC", tiebreak, "DESC"), [run["run_id"], k]).df()
    top.insert(0, "rank", range(1, len(top) + 1))
    bottom.insert(0, "rank", range(n, n - len(bottom), -1))
    return n, top[EXTREME_COLUMNS], bottom[EXTREME_COLUMNS]


def match_key(text: str) -> str:
    """What a reply is matched on across rankings: its word (engine.analysis.words), or, for a reply that
    normalises to nothing (whitespace, non-ASCII only), its exact text."""
    return normalize_token(text) or text


def _letters_and_digits(word: str) -> str:
    return "".join(ch for ch in word if ch.isascii() and ch.isalnum())


def best_ranks(cache, run_id: str, keys: list[str]) -> pd.DataFrame:
    """For each match key (`match_key`), the best-ranked reply of the run that has it: key, rank, text, score
    (rank NaN when none has it)."""
    keys = list(dict.fromkeys(keys))
    is_word = [normalize_token(key) == key for key in keys]
    wanted = pd.DataFrame({"key": keys, "is_word": is_word,
                           "alnum": [_letters_and_digits(key) if word else None for key, word in zip(keys, is_word)]})
    with cache.connect() as con:
        _, tiebreak = _tiebreak(con, run_id)
        con.register("wanted_keys", wanted)
        # A text that normalises to a word has exactly the word's ASCII letters and digits (normalising only
        # lowercases ASCII and drops or respaces the rest): an equality join on them narrows the texts to a
        # few candidates, which match_key then decides.
        found = con.execute(
            f"WITH ranked AS (SELECT text, score, row_number() OVER (ORDER BY score DESC, {tiebreak}) AS rank "
            "FROM scores WHERE run_id = ?) "
            "SELECT w.key, r.rank, r.text, r.score FROM ranked r JOIN wanted_keys w "
            "ON w.is_word AND lower(regexp_replace(r.text, '[^A-Za-z0-9]', '', 'g')) = w.alnum "
            "UNION ALL SELECT w.key, r.rank, r.text, r.score FROM ranked r JOIN wanted_keys w "
            "ON NOT w.is_word AND r.text = w.key", [run_id]).df()
        con.unregister("wanted_keys")
    found = found[[match_key(text) == key for text, key in zip(found["text"], found["key"])]]
    best = found.sort_values("rank").drop_duplicates("key").set_index("key")
    return best.reindex(keys).rename_axis("key").reset_index()
