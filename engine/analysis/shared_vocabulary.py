"""The shared-vocabulary filter (the authors' `token_intersection.csv`): before any normalisation,
keep only scored texts whose exact decoded string is in every compared vocabulary. " Love", "love" and
"Love" are three different strings; each is kept only if every model has that exact string. Applied
before normalisation, so with the all_variants policy every surviving variant is then ranked on its
own and every model ranks the same set of strings."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from engine.errors import InputError, MissingFileError

SHARED_VOCABULARY_DOC = ("shared-vocabulary filter: only texts whose exact decoded string is in {source} "
                         "({n} strings), applied before normalisation")
TOKEN_COLUMN = "token_decoded"


def read_token_list(path: str | os.PathLike) -> frozenset[str]:
    """Exact strings from a CSV with a `token_decoded` column (the authors' token_intersection.csv;
    an R row-name column is ignored). Strings such as "NA", "null" or "" stay strings."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingFileError(f"No token list {path}: give a CSV with a {TOKEN_COLUMN} column.")
    table = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    if TOKEN_COLUMN not in table.columns:
        raise InputError(f"{path.name}: no {TOKEN_COLUMN} column (found {', '.join(table.columns)}).")
    return frozenset(table[TOKEN_COLUMN])


def shared_strings(vocabularies) -> frozenset[str]:
    """The exact strings present in every vocabulary (an iterable of iterables of strings)."""
    sets = [set(v) for v in vocabularies]
    if not sets:
        raise InputError("The shared-vocabulary filter needs at least one vocabulary.")
    return frozenset(set.intersection(*sets))


def keep_shared(scores: pd.DataFrame, strings: frozenset[str]) -> pd.DataFrame:
    """Rows of a score table (column `text`) whose exact text is one of `strings`."""
    return scores[scores["text"].astype(object).isin(strings)].reset_index(drop=True)
