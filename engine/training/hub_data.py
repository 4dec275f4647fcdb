"""Preference datasets on the Hugging Face hub, read with `datasets.load_dataset` (needs the hub or its cache).

- Skywork/Skywork-Reward-Preference-80K-v0.2, Anthropic/hh-rlhf and any dataset with chosen/rejected
  columns: rows as they are (engine/training/data.py parses them);
- llm-blender/Unified-Feedback: config "all"; pairs with tied ratings are removed (counted as
  "tied ratings"), the higher-rated conversation is chosen, and posts of the summarisation subset
  get the authors' instruction prefix, as their loader does.
Offline (or for an unknown id) loading fails with one line that says so and names a local file to use.
"""
from __future__ import annotations

from engine.training.data import PreferenceDataError, check_columns

UNIFIED_FEEDBACK = "llm-blender/Unified-Feedback"


def hub_rows(dataset_id: str, split: str = "train"):
    try:
        from datasets import load_dataset

        if dataset_id == UNIFIED_FEEDBACK:
            dataset = load_dataset(dataset_id, "all", split=split)
        else:
            dataset = load_dataset(dataset_id, split=split)
    except Exception as exc:  # offline, unknown id, gated: datasets raises many types
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise PreferenceDataError(
            f"Cannot load hub dataset {dataset_id!r} ({type(exc).__name__}: {first}); without internet give a "
            f"local file instead, e.g. ../shared/preference/hh_rlhf_harmless_base_test.jsonl.gz") from None
    short = dataset_id.split("/")[-1]
    for i, row in enumerate(dataset, 1):
        where = f"{short}, row {i}"
        if dataset_id == UNIFIED_FEEDBACK:
            row = _unified_feedback_row(row)
            if row is None:
                yield where, None  # a tie: counted, never trained on
                continue
        check_columns(list(row), where)
        yield where, row


def _unified_feedback_row(row: dict) -> dict | None:
    """The higher-rated conversation is chosen; ties are removed (as the authors' loader does)."""
    a, b = row["conv_A_rating"], row["conv_B_rating"]
    if a == b:
        return None
    chosen, rejected = (row["conv_A"], row["conv_B"]) if a > b else (row["conv_B"], row["conv_A"])
    if "summarize" in str(row.get("source", "")):
        # The authors add this instruction to the summarisation subset's posts.
        chosen, rejected = ([dict(m) for m in conv] for conv in (chosen, rejected))
        for conv in (chosen, rejected):
            conv[0]["content"] = "Generate one-sentence summary for the following post: " + conv[0]["content"].strip()
    return {"chosen": chosen, "rejected": rejected}
