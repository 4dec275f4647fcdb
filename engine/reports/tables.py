"""The table a run exports and the provenance that travels with it."""
from __future__ import annotations

import json

import pandas as pd

from engine import __version__

RUN_PROVENANCE = ("run_id", "model_id", "model_source", "family", "revision", "tokenizer_hash", "score_kind",
                  "prompt_key", "prompt_text", "template", "dtype", "quantization", "candidates", "vocab_filter",
                  "head_status", "scorer_version", "source", "device")


def ranking_table(run: dict, scores: pd.DataFrame) -> pd.DataFrame:
    """token_id, token, score, rank for a vocabulary run; word, score, rank (and log-prob details) for words."""
    if run["candidates"] == "vocab":
        return scores.rename(columns={"text": "token"})[["token_id", "token", "score", "rank"]]
    cols = ["text", "score", "rank"] + (["first_token_score", "n_tokens"] if run["score_kind"] == "logprob" else ["n_tokens"])
    return scores[cols].rename(columns={"text": "word"})


def run_metadata(run: dict) -> dict:
    """Everything that determined one run's scores, for the file beside its table (with `scoring`: how the run
    read its rewards, engine.scoring.whole_sequence.run_details, where the run recorded it)."""
    return {k: run.get(k) for k in RUN_PROVENANCE} | {"scoring": scoring_details(run), "rank": "1 = highest score",
                                                      "valuescope_version": __version__}


def scoring_details(run: dict) -> dict | None:
    """The scoring method, path, BOS count, read position, attention, library version and ties of one run."""
    params = run.get("params")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return None
    return params.get("scoring") if isinstance(params, dict) else None


def rankings_of_runs(runs: list[tuple[dict, pd.DataFrame]]) -> tuple[pd.DataFrame, dict]:
    """Several runs' rankings in one long table (run_id, model_id, prompt columns first) and its provenance."""
    parts = []
    for run, scores in runs:
        table = ranking_table(run, scores)
        parts.append(table.assign(run_id=run["run_id"], model_id=run["model_id"], prompt_key=run.get("prompt_key"),
                                  prompt_text=run.get("prompt_text"))[
            ["run_id", "model_id", "prompt_key", "prompt_text", *table.columns]])
    return pd.concat(parts, ignore_index=True), rankings_metadata([run for run, _ in runs])


def rankings_metadata(runs: list[dict]) -> dict:
    """The provenance of `rankings_of_runs` for these runs rows (known before any score is read)."""
    return {"table": "rankings of several runs", "runs": [run["run_id"] for run in runs],
            "rank": "1 = highest score, within each run", "valuescope_version": __version__,
            "models": sorted({run["model_id"] for run in runs}),
            "revisions": sorted({f"{run['model_id']}={run.get('revision')}" for run in runs}),
            "scoring": {run["run_id"]: scoring_details(run) for run in runs}}
