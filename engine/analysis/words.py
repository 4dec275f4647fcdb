"""From scored replies (vocabulary tokens or whole words) to words that a lexicon can match.

Normalisation (`normalize_token`, version `NORMALIZATION_VERSION`), in this order:
1. the tokenizers' space markers become spaces: SentencePiece '▁' (U+2581), byte-level BPE 'Ġ'
   (U+0120, a space) and 'Ċ' (U+010A, a newline);
2. non-ASCII characters and ASCII control characters (other than whitespace) are dropped (so "café" ->
   "caf", an emoji-only token -> "" and a byte token such as "<0x07>"'s character -> "");
3. whitespace runs collapse to one space and surrounding whitespace is stripped;
4. the result is lowercased.
Punctuation is kept: "love." is not "love" (apostrophes and hyphens belong to lexicon entries such as
"won't" or "self-control"). A text that normalises to "" matches no word and is dropped.

Several tokens of one vocabulary can map to one word (" Love", "love", "LOVE"). Variant policies:
- "all_variants": keep every token; each is ranked on its own (a word with 3 variants fills 3 ranks);
- "mean": one row per word, score = mean over its variants (does not favour words with many variants);
- "max": one row per word, score = best variant (what the model would say at its best).
Every output carries a `variant_policy` column (and `attrs["variant_policy"]`) saying which was used.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from engine.errors import InputError
from engine.options import DEFAULT_VARIANT_POLICY, VARIANT_POLICIES  # noqa: F401 (re-exported)

NORMALIZATION_VERSION = "2"  # 2: ASCII control characters dropped too
NORMALIZATION = (
    f"normalize_token v{NORMALIZATION_VERSION}: tokenizer space markers (▁ Ġ Ċ) to spaces, non-ASCII and control "
    "characters dropped, "
    "whitespace collapsed and stripped, lowercased; punctuation kept"
)
VARIANT_POLICY_DOC = {
    "all_variants": "all variants: every token that normalises to a word is ranked on its own",
    "mean": "one score per word: the mean over tokens that normalise to the same word",
    "max": "one score per word: the maximum over tokens that normalise to the same word",
}
# Columns that identify one ranking (one run); kept as grouping keys when present.
GROUP_COLUMNS = ("run_id", "model_id", "family", "revision", "source", "prompt_key", "framing")

_MARKERS = str.maketrans({"\u2581": " ", "\u0120": " ", "\u010a": " "})
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # keeps \t \n \r: they are whitespace


def normalize_token(text: str) -> str:
    """The word a decoded token or reply stands for (see the module docstring for the exact rules)."""
    if text is None:
        return ""
    value = str(text).translate(_MARKERS)
    value = _CONTROL.sub("", value.encode("ascii", "ignore").decode("ascii"))
    return _SPACES.sub(" ", value).strip().lower()


def normalize_series(texts: pd.Series) -> pd.Series:
    """`normalize_token` over a column, computing each distinct text once (a vocabulary repeats per prompt)."""
    codes, uniques = pd.factorize(texts.astype(str), use_na_sentinel=True)
    words = pd.Index([normalize_token(u) for u in uniques])
    out = pd.Series(words.take(codes), index=texts.index, dtype=object)
    out[codes < 0] = ""
    return out


def to_words(scores: pd.DataFrame, policy: str = DEFAULT_VARIANT_POLICY, by: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Map scored texts to words under a variant policy.

    `scores` needs `text` and `score` columns; `by` (default: those of GROUP_COLUMNS present) names
    the columns that identify one ranking. Returns the `by` columns plus `word`, `score`,
    `n_variants` (tokens that normalised to the word in that ranking), `text` (for mean/max: the
    best-scoring variant, ties to the smallest text) and `variant_policy`. Texts that normalise to "" are dropped.
    """
    if policy not in VARIANT_POLICIES:
        raise InputError(f"Unknown variant policy {policy!r}: use one of {', '.join(VARIANT_POLICIES)}.")
    missing = {"text", "score"} - set(scores.columns)
    if missing:
        raise InputError(f"The score table lacks column(s) {', '.join(sorted(missing))}.")
    keys = list(by) if by is not None else [c for c in GROUP_COLUMNS if c in scores.columns]
    frame = scores[[*keys, "text", "score"]].copy()
    frame["word"] = normalize_series(frame["text"])
    frame = frame[frame["word"] != ""]
    group = [*keys, "word"]
    if policy == "all_variants":
        frame["n_variants"] = frame.groupby(group, dropna=False, sort=False, observed=True)["word"].transform("size")
        out = frame[[*keys, "word", "score", "n_variants", "text"]].reset_index(drop=True)
    else:
        # Best variant first (ties: the smallest text), so `first` picks it; `_pos` restores the input order.
        frame["_pos"] = np.arange(len(frame))
        ordered = frame.sort_values(["score", "text"], ascending=[False, True], kind="mergesort")
        out = (
            ordered.groupby(group, dropna=False, sort=False, observed=True)
            .agg(score=("score", policy), n_variants=("score", "size"), text=("text", "first"), _pos=("_pos", "min"))
            .sort_values("_pos", kind="mergesort")
            .drop(columns="_pos")
            .reset_index()
        )
    out["variant_policy"] = policy
    out.attrs["variant_policy"] = policy
    return out


_VISIBLE_CHARACTERS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def visible_token(text) -> str:
    """A token as text with spaces and control characters made visible: ' love' -> '␣love'."""
    out = []
    for ch in str(text):
        if ch in _VISIBLE_CHARACTERS:
            out.append(_VISIBLE_CHARACTERS[ch])
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) or "∅"
