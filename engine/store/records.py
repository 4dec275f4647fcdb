"""One `runs` row as a dataclass: the column list, the insert statement and new rows derive from it."""
from __future__ import annotations

import dataclasses
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone


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
    n_scores: int | None = None
    seconds: float | None = None
    device: str | None = None
    created_at: datetime = field(default_factory=utc_now)
    finished_at: datetime | None = None
    params: str | dict | None = None  # JSON of the full request, for reproduction
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
