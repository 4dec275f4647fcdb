"""Psycholinguistic word lists (LIWC-style dictionaries) and how a word finds its categories.

Formats and encodings read: engine/analysis/lexicon_files.py (`.dic`, `.dicx`, `.csv`).

Matching conventions (LIWC's): case-insensitive; an entry ending in `*` is a prefix wildcard
(`achiev*` matches "achieve", "achievement"); `*` anywhere else is an error; other entries, phrases
included, match the whole (whitespace-collapsed) string only. When a word has an exact entry, only
that entry counts; otherwise the longest matching wildcard stem counts. So `careful` is Agency via
`careful*` and not also Communion via `care*`, which is how the dictionary's authors expanded it
(`big_two_expanded.csv`).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.analysis.lexicon_files import LexiconError, parse_dic, parse_table, read_text
from engine.errors import MissingFileError
from engine.paths import REPO_ROOT, home_dir

LEXICON_DIR = REPO_ROOT / "lexicons"

# Built-in name -> file in lexicons/ (provenance in lexicons/SOURCES.md).
BUILTIN_LEXICONS: dict[str, str] = {
    "big_two_nouns": "big_two_nouns.csv",
    "big_two": "big_two_agency_communion.dicx",
    "big_two_expanded": "big_two_expanded.csv",
    "mfd2": "mfd2.0.dic",
    "mfd_original": "mfd_original.dic",
}
LEXICON_SUFFIXES = (".dic", ".dicx", ".csv")


def normalize_term(term: str) -> str:
    """How entries and looked-up words are compared: lowercase, whitespace collapsed and stripped."""
    return " ".join(str(term).split()).lower()


@dataclass
class Lexicon:
    """A dictionary of categories.

    `entries` maps exact words and phrases to their categories, `wildcards` maps prefix stems (the
    entry without its trailing `*`) to theirs; both keys are lowercase. `rows` keeps every
    (term as written, category, line number) membership of the file, duplicates included, for counts.
    """

    name: str
    categories: list[str]  # in file order
    entries: dict[str, frozenset[str]]
    wildcards: dict[str, frozenset[str]]
    source: Path | None = None
    rows: list[tuple[str, str, int]] = field(default_factory=list, repr=False)
    digest: str | None = None  # sha256 of the file's bytes, taken when it was read (the file may go: uploads)

    def categories_of(self, word: str) -> set[str]:
        """Categories of a word or phrase (empty set when it is in none). See the module docstring."""
        key = normalize_term(word)
        if not key:
            return set()
        if key in self.entries:
            return set(self.entries[key])
        for end in range(len(key), 0, -1):  # longest stem first
            cats = self.wildcards.get(key[:end])
            if cats is not None:
                return set(cats)
        return set()

    def categories_in_order(self, word: str) -> tuple[str, ...]:
        """`categories_of`, as a tuple in the lexicon's category order (stable output)."""
        found = self.categories_of(word)
        return tuple(c for c in self.categories if c in found)

    def reply_words(self) -> list[str]:
        """The non-wildcard entries (words and phrases), in file order: these can be scored as replies."""
        return list(self.entries)

    def category_counts(self, distinct: bool = True) -> dict[str, int]:
        """Entries per category. distinct=False counts membership rows as written (repeats included)."""
        pairs = {(normalize_term(t), c) for t, c, _ in self.rows} if distinct else [(t, c) for t, c, _ in self.rows]
        counts = {c: 0 for c in self.categories}
        for _, cat in pairs:
            counts[cat] += 1
        return counts

    @property
    def sha256(self) -> str | None:
        if self.digest is None and self.source is not None:
            self.digest = hashlib.sha256(self.source.read_bytes()).hexdigest()
        return self.digest

    def describe(self) -> str:
        """One line for metadata headers: name, file and checksum."""
        if self.source is None:
            return self.name
        return f"{self.name} ({self.source.name}, sha256 {self.sha256[:12]})"

    def as_dict(self) -> dict:
        """Plain JSON data that `from_dict` turns back into this lexicon, provenance included."""
        sets = lambda table: {key: sorted(cats) for key, cats in table.items()}  # noqa: E731
        return {"name": self.name, "categories": list(self.categories), "entries": sets(self.entries),
                "wildcards": sets(self.wildcards), "source": str(self.source) if self.source else None,
                "rows": [list(row) for row in self.rows], "digest": self.sha256 if self.source and self.source.is_file() else self.digest}

    @classmethod
    def from_dict(cls, data: dict) -> Lexicon:
        frozen = lambda table: {key: frozenset(cats) for key, cats in table.items()}  # noqa: E731
        return cls(name=data["name"], categories=list(data["categories"]), entries=frozen(data["entries"]),
                   wildcards=frozen(data["wildcards"]), source=Path(data["source"]) if data["source"] else None,
                   rows=[tuple(row) for row in data["rows"]], digest=data["digest"])


# ---- finding files --------------------------------------------------------------------------------
def user_lexicon_dir(home: str | os.PathLike | None = None) -> Path:
    """`<home>/lexicons/`: drop a dictionary file here to use it by its file stem."""
    return home_dir(home) / "lexicons"


def available_lexicons(home: str | os.PathLike | None = None) -> dict[str, Path]:
    """Name -> file for the built-ins and any dictionary in `<home>/lexicons/` (built-ins win)."""
    found: dict[str, Path] = {}
    folder = user_lexicon_dir(home)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in LEXICON_SUFFIXES and path.is_file():
                found[path.stem] = path
    found.update({name: LEXICON_DIR / file for name, file in BUILTIN_LEXICONS.items()})
    return found


def resolve_lexicon_path(name_or_path: str | os.PathLike, home: str | os.PathLike | None = None) -> Path:
    value = str(name_or_path).strip()
    if value in BUILTIN_LEXICONS:
        return LEXICON_DIR / BUILTIN_LEXICONS[value]
    path = Path(value).expanduser()
    if path.is_file():
        return path
    known = available_lexicons(home)
    if value in known:
        return known[value]
    raise MissingFileError(
        f"No lexicon {value!r}: use a built-in name ({', '.join(BUILTIN_LEXICONS)}), "
        f"a file name in {user_lexicon_dir(home)}, or a path to a .dic, .dicx or .csv file."
    )


def load_lexicon(name_or_path: str | os.PathLike, home: str | os.PathLike | None = None) -> Lexicon:
    """Load a built-in lexicon by name, or any `.dic`/`.dicx`/`.csv` dictionary file by path."""
    path = resolve_lexicon_path(name_or_path, home)
    name = str(name_or_path) if str(name_or_path) in BUILTIN_LEXICONS else path.stem
    suffix = path.suffix.lower()
    data = path.read_bytes()
    text = read_text(data, path)
    if suffix == ".dic":
        categories, rows = parse_dic(text, path)
    elif suffix in (".dicx", ".csv"):
        categories, rows = parse_table(text, path)
    else:
        raise LexiconError(path, None, f"unknown dictionary format {suffix!r}; use .dic, .dicx or .csv")
    return _build(name, categories, rows, path, hashlib.sha256(data).hexdigest())


def _build(name: str, categories: list[str], rows: list[tuple[str, str, int]], path: Path | None,
           digest: str | None = None) -> Lexicon:
    if not rows:
        raise LexiconError(path, None, "the dictionary has no entries")
    exact: dict[str, set[str]] = {}
    stems: dict[str, set[str]] = {}
    for term, cat, _ in rows:
        key = normalize_term(term)
        if key.endswith("*"):
            stems.setdefault(key[:-1].rstrip(), set()).add(cat)
        else:
            exact.setdefault(key, set()).add(cat)
    return Lexicon(
        name=name,
        categories=list(categories),
        entries={k: frozenset(v) for k, v in exact.items()},
        wildcards={k: frozenset(v) for k, v in stems.items()},
        source=Path(path) if path else None,
        rows=rows,
        digest=digest,
    )


# ---- the paper's lexicon choices ------------------------------------------------------------------
MERGE_BY_PREFIX = "prefix"  # Care_Virtue + Care_Vice -> Care (the authors' sub("_.*", "", category)); care.virtue -> care


def select_categories(lexicon: Lexicon, categories: list[str]) -> Lexicon:
    """Only these categories enter the ranking: words in none of them are not ranked at all (the
    paper's Fig 1b leaves Sanctity_Vice out this way)."""
    unknown = [c for c in categories if c not in lexicon.categories]
    if unknown:
        raise LexiconError(lexicon.source, None, f"no category {', '.join(unknown)}; "
                                                 f"the lexicon has {', '.join(lexicon.categories)}")
    chosen = [c for c in lexicon.categories if c in categories]
    rows = [row for row in lexicon.rows if row[1] in chosen]
    return _derived(lexicon, f"{lexicon.name} [{', '.join(chosen)}]", chosen, rows)


def merge_categories(lexicon: Lexicon, merges: list[str]) -> Lexicon:
    """Merge categories: "prefix" merges by the name before the first "_" or "." (Care_Virtue + Care_Vice
    -> Care: the paper's five moral foundations; care.virtue + care.vice -> care in the MFD 2.0 .dic);
    "NEW=OLD1+OLD2" merges named ones. A word in several
    merged categories counts once in the merged one."""
    mapping: dict[str, str] = {}
    for spec in merges:
        spec = spec.strip()
        if spec == MERGE_BY_PREFIX:
            mapping.update({c: re.split(r"[_.]", c, maxsplit=1)[0] for c in lexicon.categories if c not in mapping})
            continue
        new, sep, olds = spec.partition("=")
        parts = [o.strip() for o in olds.split("+") if o.strip()]
        if not sep or not new.strip() or not parts:
            raise LexiconError(lexicon.source, None, f"merge {spec!r}: write NEW=OLD1+OLD2 or {MERGE_BY_PREFIX!r}")
        unknown = [o for o in parts if o not in lexicon.categories]
        if unknown:
            raise LexiconError(lexicon.source, None, f"merge {spec!r}: no category {', '.join(unknown)}")
        mapping.update({o: new.strip() for o in parts})
    renamed = [mapping.get(c, c) for c in lexicon.categories]
    categories = list(dict.fromkeys(renamed))
    rows = list(dict.fromkeys((term, mapping.get(cat, cat), line) for term, cat, line in lexicon.rows))
    return _derived(lexicon, f"{lexicon.name} merged", categories, rows)


def _derived(lexicon: Lexicon, name: str, categories: list[str], rows: list[tuple[str, str, int]]) -> Lexicon:
    """A lexicon built from another one's rows; it keeps the file's checksum (its provenance)."""
    out = _build(name, categories, rows, lexicon.source, lexicon.sha256)
    return out
