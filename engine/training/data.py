"""Preference pairs: read, validate, split and subset them, the same way for every base model.

Sources: a local file (`.jsonl`, `.jsonl.gz`, `.json`, `.csv`, `.parquet`) or a hub dataset id
loaded with `datasets.load_dataset` (Skywork/Skywork-Reward-Preference-80K-v0.2; llm-blender/
Unified-Feedback, config "all", pairs with tied ratings removed, the higher-rated conversation
chosen, summarisation posts given the authors' instruction prefix, as their loader does; Anthropic/hh-rlhf;
any other id with chosen/rejected columns). Offline (or for an unknown id) a hub id fails with one line
that names a local file to use instead.

Row formats (columns `chosen`, `rejected`, optional `prompt`):
- conversational: lists of {role, content} messages (in CSV cells as JSON text); without a prompt
  column each side is the whole conversation, with one the prompt's messages come first;
- plain text with a prompt column: the prompt is one user turn, each side one assistant reply;
- plain text without a prompt column: HH-RLHF dialogues ("\\n\\nHuman: ...\\n\\nAssistant: ..."),
  parsed into turns; two consecutive turns of one speaker (a quirk of some HH rows) become one turn.
Every pair is stored as two whole conversations (chosen, rejected) ending in an assistant reply.

Problems with the file itself (unknown format, not JSON, missing column) always stop with one line
naming the file, the line or row, and the problem. Problems with one pair (empty reply, chosen
identical to rejected, no user turn, a conversation that does not end with the assistant) are
skipped and counted (`bad_rows="skip"`), or stop the same way (`bad_rows="error"`).

Subsetting is deterministic: the held-out pairs are drawn with the seed from all pairs first (so
every base and every data quantity is evaluated on the same pairs), then the training pairs keep
their file order, every k-th is kept, then the first K usable ones (engine/training/prepare.py).
"""
from __future__ import annotations

import gzip
import json
import random
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from engine.errors import InputError

Conversation = tuple[tuple[str, str], ...]  # (role, content) turns; roles: system, user, assistant
FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".csv", ".parquet")
_ROLES = {"user": "user", "human": "user", "prompter": "user", "assistant": "assistant", "gpt": "assistant",
          "model": "assistant", "bot": "assistant", "system": "system"}
_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


class PreferenceDataError(InputError):
    """A preference file or row that cannot be used; the message is one line naming where."""


@dataclass(frozen=True)
class PreferencePair:
    chosen: Conversation
    rejected: Conversation
    where: str  # "file.jsonl, line 12" / "data.csv, row 3": for messages


@dataclass
class PairSet:
    pairs: list[PreferencePair]
    source: str
    n_rows: int
    skipped: Counter = field(default_factory=Counter)  # problem -> rows skipped
    first_skipped: dict = field(default_factory=dict)  # problem -> where it first happened

    def summary(self) -> str:
        text = f"{len(self.pairs)} pairs from {self.n_rows} rows of {self.source}"
        if self.skipped:
            text += "; skipped " + ", ".join(f"{n} ({problem}, first at {self.first_skipped[problem]})"
                                             for problem, n in self.skipped.items())
        return text


class _BadRow(Exception):
    """One pair's problem; load_pairs skips it or turns it into a PreferenceDataError."""


# ---- reading rows --------------------------------------------------------------------------------
def is_hub_id(source: str) -> bool:
    return not Path(source).expanduser().exists() and bool(_HUB_ID.fullmatch(source)) \
        and not source.lower().endswith(FILE_SUFFIXES)


def _file_rows(path: Path):
    """(where, row dict) for each row of a local file."""
    name, lower = path.name, path.name.lower()
    if lower.endswith((".jsonl", ".jsonl.gz")):
        yield from _json_lines(path, name)
    elif lower.endswith(".json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            yield from _json_lines(path, name)  # JSON lines under a .json name
            return
        except RecursionError:
            raise PreferenceDataError(f"{name}: nested too deeply to be preference pairs (a list of objects)") from None
        if not isinstance(data, list):
            raise PreferenceDataError(f"{name}: expected a JSON list of objects (or one object per line)")
        for i, row in enumerate(data, 1):
            yield f"{name}, row {i}", _object(row, f"{name}, row {i}")
    elif lower.endswith((".csv", ".parquet")):
        try:
            table = pd.read_csv(path, keep_default_na=False, dtype=str) if lower.endswith(".csv") else pd.read_parquet(path)
        except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
            raise PreferenceDataError(f"{name}: cannot read the file ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
        check_columns(list(table.columns), name)
        for i, row in enumerate(table.to_dict("records"), 1):
            yield f"{name}, row {i}", row
    else:
        raise PreferenceDataError(f"{name}: unknown format; use one of {', '.join(FILE_SUFFIXES)} or a hub dataset id")


def _json_lines(path: Path, name: str):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    number = 0
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise PreferenceDataError(f"{name}, line {number}: not JSON ({exc.msg})") from None
                except RecursionError:
                    raise PreferenceDataError(f"{name}, line {number}: nested too deeply to be a pair") from None
                yield f"{name}, line {number}", _object(row, f"{name}, line {number}")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:  # not gzip, cut short, not UTF-8 text
        raise PreferenceDataError(f"{name}, line {number + 1}: cannot read the file ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:120]})") from None


def _object(row, where: str) -> dict:
    if not isinstance(row, dict):
        raise PreferenceDataError(f"{where}: expected a JSON object with chosen and rejected, got {type(row).__name__}")
    check_columns(list(row), where)
    return row


def check_columns(columns: list, where: str) -> None:
    for needed in ("chosen", "rejected"):
        if needed not in columns:
            raise PreferenceDataError(f"{where}: missing column {needed!r} (found: {', '.join(map(str, columns)) or 'none'})")


# ---- rows to conversations -----------------------------------------------------------------------
def _messages(value) -> list[tuple[str, str]] | None:
    """A list of {role, content} messages, or None if `value` is plain text."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()  # parquet lists arrive as numpy arrays
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped.startswith("[{"):
            return None
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):  # not messages: plain text
            return None
    if not isinstance(value, (list, tuple)):
        raise _BadRow(f"expected text or a list of messages, got {type(value).__name__}")
    turns = []
    for message in value:
        if not isinstance(message, dict):
            raise _BadRow("a message is not a {role, content} object")
        role = str(message.get("role", message.get("from", ""))).lower()
        content = message.get("content", message.get("value"))
        if role not in _ROLES or not isinstance(content, str):
            raise _BadRow(f"a message has role {role!r} (known: {', '.join(sorted(_ROLES))}) or no text content")
        turns.append((_ROLES[role], content.strip()))
    return turns


def parse_hh_dialogue(text: str) -> list[tuple[str, str]]:
    """"\\n\\nHuman: a\\n\\nAssistant: b" -> [(user, a), (assistant, b)]; a speaker's consecutive turns merge."""
    parts = _HH_TURN.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise _BadRow("plain text without a prompt column must be an HH-RLHF dialogue "
                      "('\\n\\nHuman: ...\\n\\nAssistant: ...')")
    turns: list[tuple[str, str]] = []
    for speaker, content in zip(parts[1::2], parts[2::2]):
        role = "user" if speaker == "Human" else "assistant"
        if turns and turns[-1][0] == role:
            turns[-1] = (role, turns[-1][1] + "\n\n" + content.strip())
        else:
            turns.append((role, content.strip()))
    return turns


def _side(prompt: list[tuple[str, str]], value) -> Conversation:
    messages = _messages(value)
    if messages is None:
        text = "" if value is None else str(value)
        if prompt:
            messages = [("assistant", text.strip())]
        else:
            messages = parse_hh_dialogue(text)
    return tuple(prompt) + tuple(messages)


def pair_from_row(row: dict, where: str) -> PreferencePair:
    prompt_value = row.get("prompt")
    prompt: list[tuple[str, str]] = []
    if prompt_value is not None and str(prompt_value).strip() not in ("", "nan", "None"):
        prompt = _messages(prompt_value)
        if prompt is None:
            text = str(prompt_value)
            prompt = parse_hh_dialogue(text) if _HH_TURN.search(text) else [("user", text.strip())]
            if prompt and prompt[-1] == ("assistant", ""):
                prompt = prompt[:-1]  # an HH prompt ends with an empty "Assistant:" cue
    chosen, rejected = _side(prompt, row["chosen"]), _side(prompt, row["rejected"])
    for conversation in (chosen, rejected):
        if not conversation or conversation[-1][0] != "assistant":
            raise _BadRow("conversation does not end with an assistant reply")
        if not conversation[-1][1]:
            raise _BadRow("empty reply")
        if not any(role == "user" for role, _ in conversation[:-1]):
            raise _BadRow("no user turn before the reply")
    if chosen == rejected:
        raise _BadRow("chosen identical to rejected")
    return PreferencePair(chosen, rejected, where)


def load_pairs(source: str, bad_rows: str = "skip", split: str = "train") -> PairSet:
    """All pairs of a local file or hub dataset, validated (see the module docstring)."""
    source = str(source).strip()
    if bad_rows not in ("skip", "error"):
        raise InputError(f"bad_rows must be skip or error, got {bad_rows!r}")
    path = Path(source).expanduser()
    if path.is_file():
        rows, label = _file_rows(path), path.name
    elif is_hub_id(source):
        rows, label = hub_rows(source, split), source
    else:
        raise FileNotFoundError(f"No preference file {source!r} (and it is not a hub dataset id such as "
                                f"Anthropic/hh-rlhf).")
    result = PairSet([], label, 0)
    for where, row in rows:
        result.n_rows += 1
        if row is None:
            result.skipped["tied ratings"] += 1
            result.first_skipped.setdefault("tied ratings", where)
            continue
        try:
            result.pairs.append(pair_from_row(row, where))
        except _BadRow as exc:
            problem = str(exc)
            if bad_rows == "error":
                raise PreferenceDataError(f"{where}: {problem}") from None
            result.skipped[problem] += 1
            result.first_skipped.setdefault(problem, where)
    if not result.pairs:
        first = next(iter(result.first_skipped.items()), None)
        detail = f"; first problem: {first[0]} at {first[1]}" if first else ""
        raise PreferenceDataError(f"{label}: no usable preference pairs in {result.n_rows} rows{detail}")
    return result


# ---- hub datasets, read with `datasets.load_dataset` (needs the hub or its cache) ----------------------
UNIFIED_FEEDBACK = "llm-blender/Unified-Feedback"


def hub_rows(dataset_id: str, split: str = "train"):
    try:
        from datasets import load_dataset  # datasets: only for hub datasets

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


# ---- held-out split and subsets --------------------------------------------------------------------
def held_out_order(n_pairs: int, eval_pairs: int = 0, eval_fraction: float = 0.0, seed: int = 0) -> tuple[int, list[int]]:
    """(held-out size wanted, pair positions in the seeded order the held-out pairs are drawn from).

    The caller walks this order taking usable pairs until it has the size (pairs too long for some
    base are skipped), so the held-out set depends only on the data, the seed and the bases.
    """
    wanted = eval_pairs or (max(1, round(n_pairs * eval_fraction)) if eval_fraction > 0 else 0)
    if wanted >= n_pairs:
        raise InputError(f"Held-out size {wanted} leaves no training pairs (only {n_pairs} pairs).")
    order = list(range(n_pairs))
    random.Random(seed).shuffle(order)
    return wanted, order


def every_kth(items: list, k: int = 1) -> list:
    """Every k-th item, starting with the first (the paper's Unified-Feedback data-quantity ablation)."""
    return items[::max(1, k)]


def subset_label(first_k: int, every_k: int) -> str:
    parts = ([f"every{every_k}"] if every_k > 1 else []) + ([f"first{first_k}"] if first_k else [])
    return "-".join(parts) or "all"
