"""How tokens, settings and file names are shown (no engine calls)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from engine.analysis.words import visible_token  # noqa: F401 (re-exported for the pages)
from engine.models.registry import CAUSAL_LM, DEFAULT_MODELS, REGISTRY, trained_specs

FILE_PREFIX = "valuescope"


def settings_line(run: dict, extra: dict | None = None) -> str:
    """The settings that matter for reproducing a run, in one caption line."""
    parts = {
        "revision": run.get("revision"), "template": run.get("template"), "dtype": run.get("dtype"),
        "quantisation": run.get("quantization"), "scores": run.get("score_kind"),
        "vocabulary": run.get("vocab_filter") if run.get("candidates") == "vocab" else run.get("candidates"),
        "head": None if run.get("head_status") == "n/a" else run.get("head_status"),
        "device": run.get("device"), "source": None if run.get("source") == "computed" else run.get("source"),
        "run": (run.get("run_id") or "")[:12],
    }
    parts.update(extra or {})
    return " · ".join(f"{k}: `{v}`" for k, v in parts.items() if v not in (None, ""))


def number_columns(table: pd.DataFrame, fmt: str = "%.4g") -> dict:
    """st.dataframe column_config showing every float column with `fmt` (no 20-digit decimals)."""
    return {c: st.column_config.NumberColumn(c, format=fmt) for c in table.columns
            if pd.api.types.is_float_dtype(table[c])}


def slug(text, limit: int = 40) -> str:
    """A file-name-safe fragment: 'What, in one word…' -> 'what-in-one-word'."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text or "")).strip("-._").lower()
    return (value[:limit].rstrip("-._") or "untitled")


def file_name(*parts, ext: str = "csv") -> str:
    return "_".join([FILE_PREFIX, *(slug(p) for p in parts if p not in (None, ""))]) + f".{ext}"


def default_models() -> tuple[str, ...]:
    return DEFAULT_MODELS


def registry_options() -> list[str]:
    """Registry aliases, embedded defaults first, then reward models trained here (engine/training)."""
    first = list(DEFAULT_MODELS)
    return first + [a for a in REGISTRY if a not in first] + sorted(trained_specs())


def checkpoint_aliases() -> dict[str, str]:
    """Trained checkpoints' folders -> their `rm-...` aliases: their runs record the folder they scored, which
    pages show by alias (shorter, and no server path)."""
    return {spec.source: alias for alias, spec in trained_specs().items()}


def describe_alias(alias: str) -> str:
    spec = REGISTRY.get(alias) or trained_specs().get(alias)
    if spec is None:
        return alias
    kind = "reward model" if spec.kind != CAUSAL_LM else "causal LM"
    local = ", offline" if spec.source.startswith("gguf-") else ""
    notes = f": {spec.notes}" if spec.notes else ""
    return f"`{alias}`: {kind}, {spec.family}{local}{notes}"


def axis_scale(values) -> tuple[float, str]:
    """(factor, note) so that values * factor read as plain numbers on an axis: tiny values such as
    MWLR's -0.000016 become -1.6 with the note "(x 10^-5)"; (1, "") when no scaling is needed."""
    finite = pd.Series(values, dtype=float).abs().replace(0, np.nan).dropna()
    finite = finite[np.isfinite(finite)]
    if finite.empty:
        return 1.0, ""
    exponent = int(np.floor(np.log10(finite.max())))
    if -2 <= exponent <= 4:
        return 1.0, ""
    return 10.0 ** -exponent, f"(x 10^{exponent})"
