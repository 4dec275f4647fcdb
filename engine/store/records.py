"""One `runs` row as a dataclass (the column list, the insert statement and new rows derive from it), and the
checks and ranking of the rows of `scores`."""
from __future__ import annotations

import dataclasses
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from engine.errors import InputError


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class RunRecord:
    """What one run scored and how (the `runs` table; see engine/store/migrations.py for each column)."""

    request_key: str
    model_id: str
    model_source: str | None = None
    family: str | None = None
    model_kind: str | None = None
    score_kind: str | None = None
    revision: str | None = None
    tokenizer_hash: str | None = None
    prompt_key: str | None = None
    prompt_text: str | None = None
    framing: str | None = None
    template: str | None = None
    dtype: str | None = None
    quantization: str | None = None
    candidates: str | None = None
    vocab_filter: str | None = None
    head_status: str | None = None
    scorer_version: str | None = None
    source: str = "computed"
    status: str = "running"
    error: str | None = None
    pid: int | None = field(default_factory=os.getpid)
    pid_started_at: float | None = None  # the process's start time: tells a reused PID from the run's process
    n_scores: int | None = None
    seconds: float | None = None
    device: str | None = None
    created_at: datetime = field(default_factory=utc_now)
    finished_at: datetime | None = None
    # JSON of the full request, for reproduction; computed runs add `scoring`, how the rewards were read
    # (engine.scoring.whole_sequence.run_details), when they finish
    params: str | dict | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    @classmethod
    def from_meta(cls, meta: dict) -> "RunRecord":
        """A record from a dict of column values (unknown keys are ignored)."""
        return cls(**{k: v for k, v in meta.items() if k in RUN_COLUMNS and v is not None})

    def values(self) -> list:
        row = dataclasses.asdict(self)
        if isinstance(row["params"], dict):
            row["params"] = json.dumps(row["params"], sort_keys=True, default=str)
        return [row[c] for c in RUN_COLUMNS]


RUN_COLUMNS: list[str] = [f.name for f in dataclasses.fields(RunRecord)]
SCORE_COLUMNS = ["token_id", "text", "score", "first_token_score", "n_tokens"]
INSERT_RUN = f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})"


def rank_scores(df: pd.DataFrame) -> pd.DataFrame:
    """Sort best first and add `rank` (1 = best; ties broken by token id / text for a stable order)."""
    tiebreak = "token_id" if df["token_id"].notna().all() and len(df) else "text"
    out = df.sort_values(["score", tiebreak], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    out.insert(len(out.columns), "rank", range(1, len(out) + 1))
    return out


def score_frame(scores: pd.DataFrame) -> pd.DataFrame:
    """`scores` as the columns of the scores table, checked: every reply has its text and a numeric score."""
    frame = pd.DataFrame({c: scores[c] if c in scores else None for c in SCORE_COLUMNS})
    if frame["text"].isna().any():
        raise InputError("Every score needs its reply text.")
    if not pd.api.types.is_numeric_dtype(frame["score"]) or frame["score"].isna().any():
        raise InputError("Scores must be numbers, with none missing.")
    frame["token_id"] = frame["token_id"].astype("Int64")
    frame["n_tokens"] = frame["n_tokens"].astype("Int64")
    frame["first_token_score"] = frame["first_token_score"].astype("float64")
    frame["text"] = frame["text"].astype(str)
    return frame


def row_dict(row: pd.Series) -> dict:
    """A runs row as a dict, with None for missing values."""
    out = {}
    for k, v in row.items():
        out[k] = None if (not isinstance(v, (list, dict)) and pd.isna(v)) else v
    return out
