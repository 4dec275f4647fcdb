"""Reading runs for the value analysis straight from DuckDB (the SQL of the analysis lives here)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.analysis.lexicons import Lexicon
from engine.analysis.words import DEFAULT_VARIANT_POLICY, VARIANT_POLICY_DOC, normalize_token
from engine.errors import InputError


def select_runs(cache, models=None, families=None, prompts=None, candidates=None) -> pd.DataFrame:
    """Completed runs matching the filters, the newest one per (model, prompt).

    `attrs["skipped"]` counts older or alternative runs of the same (model, prompt) that were left out.
    A run without a battery key uses its prompt text as its prompt key.
    """
    runs = cache.list_runs(status="done", model_id=_listify(models), family=_listify(families),
                           candidates=_listify(candidates))
    if runs.empty:
        raise InputError(f"No completed runs in {cache.path} match the filters. `valuescope runs` lists them.")
    runs = runs.copy()
    runs["prompt_key"] = runs["prompt_key"].fillna(runs["prompt_text"])
    if prompts:
        unknown = sorted(set(prompts) - set(runs["prompt_key"]))
        if unknown:
            raise InputError(f"No completed runs for prompt(s) {', '.join(unknown)}.")
        runs = runs[runs["prompt_key"].isin(list(prompts))]
    if models:
        missing = sorted(set(models) - set(runs["model_id"]))
        if missing:
            raise InputError(f"No completed runs for model(s) {', '.join(missing)} with these filters; "
                             f"found: {', '.join(sorted(set(runs['model_id'])))}.")
    runs["family"] = runs["family"].fillna("unknown")
    runs = runs.sort_values(["finished_at", "created_at"], kind="mergesort")
    newest = runs.drop_duplicates(["model_id", "prompt_key"], keep="last").reset_index(drop=True)
    newest.attrs["skipped"] = len(runs) - len(newest)
    return newest


def load_words(cache, runs: pd.DataFrame, policy: str = DEFAULT_VARIANT_POLICY,
               lexicon: Lexicon | None = None, keep_texts: frozenset[str] | None = None) -> pd.DataFrame:
    """Scores of `runs` as words: the same table as `to_words` (plus run columns), built inside DuckDB.

    Why not `to_words(cache.scores_for_runs(...))`: a vocabulary run has ~50k-260k tokens x 54 prompts,
    and turning millions of strings into pandas dominates the time. Here the distinct texts are
    normalised once in Python (`normalize_token`), DuckDB merges variants and returns only integer
    codes and numbers, and the strings come back as pandas categoricals. With a lexicon only texts
    whose word matches it are kept; with `keep_texts` only those exact texts, before normalisation
    (engine.analysis.shared_vocabulary). Same rules as `to_words`: mean/max/all_variants, `n_variants`,
    `text` = best variant (ties: the smallest text). Rows are in run order, then word order.
    """
    if policy not in VARIANT_POLICY_DOC:
        raise InputError(f"Unknown variant policy {policy!r}: use one of {', '.join(VARIANT_POLICY_DOC)}.")
    run_ids = list(dict.fromkeys(runs["run_id"]))
    if not run_ids:
        raise InputError("No runs to read.")
    with cache.connect() as con:
        con.register("wanted_runs", pd.DataFrame({"run_id": run_ids, "run_idx": np.arange(len(run_ids), dtype=np.int32)}))
        texts = con.execute(
            "SELECT DISTINCT s.text FROM scores s JOIN wanted_runs r ON s.run_id = r.run_id"
        ).df()["text"].astype(object)
        texts = np.array(sorted(texts), dtype=object)  # text id order = string order, for the tie-break
        words = np.array([normalize_token(t) for t in texts], dtype=object)
        keep = words != ""
        if keep_texts is not None:
            keep &= np.array([t in keep_texts for t in texts], dtype=bool)
        if lexicon is not None:
            keep &= np.array([bool(lexicon.categories_of(w)) if w else False for w in words], dtype=bool)
        word_codes, word_names = pd.factorize(words[keep])
        text_map = pd.DataFrame({"text": texts[keep], "text_id": np.flatnonzero(keep).astype(np.int32),
                                 "word_id": word_codes.astype(np.int32)})
        con.register("text_map", text_map)
        joined = ("SELECT r.run_idx, m.word_id, m.text_id, s.score FROM scores s "
                  "JOIN wanted_runs r ON s.run_id = r.run_id JOIN text_map m ON s.text = m.text")
        if policy == "all_variants":
            sql = (f"SELECT run_idx, word_id, score, count(*) OVER (PARTITION BY run_idx, word_id) AS n_variants, "
                   f"text_id FROM ({joined}) ORDER BY run_idx, word_id, score DESC, text_id")
        else:
            agg = "avg" if policy == "mean" else "max"
            sql = (f"SELECT run_idx, word_id, {agg}(score) AS score, count(*) AS n_variants, "
                   f"first(text_id ORDER BY score DESC, text_id) AS text_id FROM ({joined}) "
                   f"GROUP BY run_idx, word_id ORDER BY run_idx, word_id")
        codes = con.execute(sql).df()
        for name in ("wanted_runs", "text_map"):
            con.unregister(name)
    info = runs.drop_duplicates("run_id").set_index("run_id").reindex(run_ids)
    out = pd.DataFrame({"run_id": pd.Categorical.from_codes(codes["run_idx"].to_numpy(), categories=run_ids)})
    for column in ("model_id", "family", "revision", "source", "prompt_key", "framing"):
        values = info[column].astype(object).to_numpy() if column in info else np.full(len(run_ids), None, dtype=object)
        out[column] = pd.Categorical(values[codes["run_idx"].to_numpy()])
    out["word"] = pd.Categorical.from_codes(codes["word_id"].to_numpy(), categories=pd.Index(word_names, dtype=object))
    out["score"] = codes["score"].to_numpy(dtype=float)
    out["n_variants"] = codes["n_variants"].to_numpy(dtype=np.int64)
    out["text"] = pd.Categorical.from_codes(
        np.searchsorted(text_map["text_id"].to_numpy(), codes["text_id"].to_numpy()),
        categories=pd.Index(text_map["text"].to_numpy(), dtype=object))
    out["variant_policy"] = policy
    out.attrs["variant_policy"] = policy
    return out


def texts_per_model(cache, runs: pd.DataFrame) -> dict[str, frozenset[str]]:
    """model_id -> the exact texts its runs scored (its vocabulary, for the shared-vocabulary filter)."""
    with cache.connect() as con:
        con.register("wanted_runs", runs[["run_id", "model_id"]].drop_duplicates())
        rows = con.execute("SELECT DISTINCT r.model_id, s.text FROM scores s JOIN wanted_runs r ON s.run_id = r.run_id").df()
        con.unregister("wanted_runs")
    return {str(m): frozenset(g["text"]) for m, g in rows.groupby("model_id", sort=False)}


def _listify(value):
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return None
    return list(value) if isinstance(value, (list, tuple, set)) else value
