"""The choices valuescope offers, each defined once (no torch import: the CLI and app use them freely)."""
from __future__ import annotations

MODES = ("reward", "logprob")  # reward: scalar head; logprob: log-probability of the reply
DTYPES = ("auto", "float32", "bfloat16", "float16", "bfloat16-mixed")  # bfloat16-mixed: engine.models.precision
QUANTIZATIONS = ("none", "8bit", "4bit")
TEMPLATES = ("chat", "gemma_turns", "plain", "raw")  # see engine.scoring.templates
VOCAB_FILTERS = ("all", "alpha")
SCORING_METHODS = ("by_id", "authors")  # how a candidate enters the model; see engine.scoring.authors
# One status vocabulary for jobs and runs. A job waits `queued` (a run starts `running`); interrupted: a
# `running` row whose process is gone. A finished job's stage is its status (its progress: complete when done).
LIVE_STATUSES = ("queued", "running")
FINISHED_STATUSES = ("done", "failed", "cancelled", "interrupted")
STATUSES = LIVE_STATUSES + FINISHED_STATUSES
RUN_STATUSES = STATUSES[1:]
SCORE_KINDS = ("reward", "logprob")
MODEL_KINDS = ("reward_model", "causal_lm")
IMPORT_LAYOUTS = ("auto", "wide", "long")
TABLE_FORMATS = ("csv", "parquet", "xlsx")  # xlsx: spreadsheet-safe, every text cell stored as text
# Names a one-label reward head goes by in transformers and TRL checkpoints (read as logits[:, 0]).
REWARD_HEAD_NAMES = ("score", "classifier", "v_head")
VARIANT_POLICIES = ("all_variants", "mean", "max")  # see engine.analysis.words
DEFAULT_VARIANT_POLICY = "mean"
FRAMINGS = ("positive", "negative")
