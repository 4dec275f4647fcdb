"""Psycholinguistic word lists (LIWC-style dictionaries) and how a word finds its categories.

Formats read (by file suffix):
- LIWC `.dic`: a header between two `%` lines maps category ids to names (`1<TAB>care.virtue`), then
  one entry per line: the word or phrase, then one or more category ids (`preserve<TAB>01 07 09`).
  The same word may sit on several lines (its categories are united). CR, LF and CRLF line endings
  all work. A phrase may contain spaces; with a TAB the term is everything before the first TAB,
  otherwise the trailing integer ids are split off.
- LIWC-22 `.dicx` (and a `.csv` with the same layout): header `DicTerm,<category>,...`, one row per
  term, `X` marks membership, an empty cell or `NA` marks none.
- Two-column `.csv`: header `Category,<word column>` (e.g. `Category,token_decoded`), one row per
  (category, word) pair.

Matching conventions (LIWC's): case-insensitive; an entry ending in `*` is a prefix wildcard
(`achiev*` matches "achieve", "achievement"); `*` anywhere else is an error; other entries, phrases
included, match the whole (whitespace-collapsed) string only. When a word has an exact entry, only
that entry counts; otherwise the longest matching wildcard stem counts. So `careful` is Agency via
`careful*` and not also Communion via `care*`, which is how the dictionary's authors expanded it
(`big_two_expanded.csv`).
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.paths import REPO_ROOT, home_dir
from engine.errors import InputError, MissingFileError

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

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CONDITIONAL = re.compile(r"\(\s*\d+(\s+\d+)*\s*\)\s*\d")  # LIWC2007 `like (02 134)131/125`
_ABSENT_MARKS = {"", "na", "n/a", "nan"}
_PRESENT_MARKS = {"x"}


class LexiconError(InputError):
    """A dictionary file that cannot be read; the message names the file and the line."""

    def __init__(self, path: str | os.PathLike | None, line: int | None, message: str):
        where = Path(path).name if path else "<lexicon>"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


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
        return hashlib.sha256(self.source.read_bytes()).hexdigest() if self.source else None

    def describe(self) -> str:
        """One line for metadata headers: name, file and checksum."""
        if self.source is None:
            return self.name
        return f"{self.name} ({self.source.name}, sha256 {self.sha256[:12]})"


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
    text = _read_text(path)
    if suffix == ".dic":
        categories, rows = _parse_dic(text, path)
    elif suffix in (".dicx", ".csv"):
        categories, rows = _parse_table(text, path)
    else:
        raise LexiconError(path, None, f"unknown dictionary format {suffix!r}; use .dic, .dicx or .csv")
    return _build(name, categories, rows, path)


# ---- parsing --------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older LIWC files are often Windows-1252; latin-1 never fails, so it is the last resort.
        for encoding in ("cp1252", "latin-1"):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
    raise LexiconError(path, None, "cannot decode the file")  # pragma: no cover


def _lines(text: str) -> list[str]:
    # Our own split: str.splitlines() would also break on form feeds and other rare separators.
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _category_id(token: str) -> int | None:
    return int(token) if token.isdigit() else None


def _parse_dic(text: str, path: Path) -> tuple[list[str], list[tuple[str, str, int]]]:
    lines = _lines(text)
    numbered = [(i + 1, line.strip()) for i, line in enumerate(lines)]
    numbered = [(n, s) for n, s in numbered if s]
    if not numbered:
        raise LexiconError(path, None, "the file is empty")
    first_no, first = numbered[0]
    if first != "%":
        raise LexiconError(path, first_no, "a LIWC .dic file starts with a line holding only '%', then the category header")

    id_to_name: dict[int, str] = {}
    categories: list[str] = []
    body_start = None
    for idx in range(1, len(numbered)):
        no, line = numbered[idx]
        if line == "%":
            body_start = idx + 1
            break
        parts = line.split(None, 1)
        cat_id = _category_id(parts[0])
        if cat_id is None or len(parts) < 2:
            raise LexiconError(path, no, f"a header line must be '<number> <category name>', got {line!r}")
        name = parts[1].strip()
        if cat_id in id_to_name:
            raise LexiconError(path, no, f"category id {parts[0]} is defined twice")
        if name in categories:
            raise LexiconError(path, no, f"category name {name!r} is defined twice")
        id_to_name[cat_id] = name
        categories.append(name)
    if body_start is None:
        raise LexiconError(path, first_no, "the '%' category header is never closed by a second '%' line")
    if not categories:
        raise LexiconError(path, numbered[body_start - 1][0], "the header defines no categories")

    rows: list[tuple[str, str, int]] = []
    for no, line in numbered[body_start:]:
        if line == "%":
            raise LexiconError(path, no, "unexpected third '%' line")
        if _CONDITIONAL.search(line):
            raise LexiconError(path, no, f"conditional category entries (LIWC2007 '(..)'/'/' syntax) are not supported: {line!r}")
        if "\t" in line:
            term, _, rest = line.partition("\t")
            ids = rest.split()
        else:
            tokens = line.split()
            cut = len(tokens)
            while cut > 1 and tokens[cut - 1].isdigit():
                cut -= 1
            term, ids = " ".join(tokens[:cut]), tokens[cut:]
        term = term.strip()
        if not ids:
            raise LexiconError(path, no, f"entry {term!r} has no category id")
        for token in ids:
            cat_id = _category_id(token)
            if cat_id is None:
                raise LexiconError(path, no, f"category id {token!r} of entry {term!r} is not a number")
            if cat_id not in id_to_name:
                raise LexiconError(path, no, f"category id {token} of entry {term!r} is not in the header (ids: {', '.join(map(str, id_to_name))})")
            rows.append((_check_term(term, path, no), id_to_name[cat_id], no))
    return categories, rows


def _parse_table(text: str, path: Path) -> tuple[list[str], list[tuple[str, str, int]]]:
    lines = _lines(text)
    records = [(i + 1, rec) for i, rec in enumerate(csv.reader(lines)) if any(cell.strip() for cell in rec)]
    if not records:
        raise LexiconError(path, None, "the file is empty")
    head_no, header = records[0]
    header = [h.strip() for h in header]
    if len(header) == 2 and header[0].lower() == "category":
        return _parse_pairs(records[1:], path)
    if header[0].lower() in ("dicterm", "term", "word") and len(header) >= 2:
        return _parse_marks(header, records[1:], path)
    raise LexiconError(
        path, head_no,
        f"unrecognised header {','.join(header)!r}: expected 'DicTerm,<category>,...' (X marks) or 'Category,<word>'",
    )


def _parse_marks(header: list[str], records, path: Path):
    categories = header[1:]
    if any(not c for c in categories) or len(set(categories)) != len(categories):
        raise LexiconError(path, 1, "category names in the header must be non-empty and distinct")
    rows = []
    for no, rec in records:
        if len(rec) != len(header):
            raise LexiconError(path, no, f"expected {len(header)} cells, found {len(rec)}")
        term = _check_term(rec[0], path, no)
        marked = []
        for cat, cell in zip(categories, rec[1:]):
            mark = cell.strip().lower()
            if mark in _PRESENT_MARKS:
                marked.append(cat)
            elif mark not in _ABSENT_MARKS:
                raise LexiconError(path, no, f"cell {cell!r} under {cat!r}: use X for a member, empty or NA otherwise (weighted dictionaries are not supported)")
        if not marked:
            raise LexiconError(path, no, f"entry {rec[0]!r} is marked in no category")
        rows.extend((term, cat, no) for cat in marked)
    return categories, rows


def _parse_pairs(records, path: Path):
    categories: list[str] = []
    rows = []
    for no, rec in records:
        if len(rec) != 2:
            raise LexiconError(path, no, f"expected 2 cells (category, word), found {len(rec)}")
        cat = rec[0].strip()
        if not cat:
            raise LexiconError(path, no, "empty category")
        if cat not in categories:
            categories.append(cat)
        rows.append((_check_term(rec[1], path, no), cat, no))
    return categories, rows


def _check_term(term: str, path: Path, line: int) -> str:
    term = " ".join(term.split())
    if not term or term == "*":
        raise LexiconError(path, line, "empty entry")
    if "*" in term[:-1]:
        raise LexiconError(path, line, f"entry {term!r}: '*' is only allowed at the end (a prefix wildcard)")
    return term


def _build(name: str, categories: list[str], rows: list[tuple[str, str, int]], path: Path | None) -> Lexicon:
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
    )
