"""Reading dictionary files: their encoding and their three formats, into (categories, memberships).

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

Encodings: UTF-8, UTF-16 or UTF-32 with a byte-order mark, UTF-16 without one, else Windows-1252.
Every error is a LexiconError naming the file and, where there is one, the line.
"""
from __future__ import annotations

import codecs
import csv
import os
import re
from pathlib import Path

from engine.errors import InputError

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


# Byte-order marks, longest first (a UTF-32-LE mark starts with the UTF-16-LE one).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _utf16_without_bom(data: bytes) -> str | None:
    """"utf-16-le"/"-be" when NUL bytes sit mostly at odd/even offsets, as in ASCII text saved as UTF-16."""
    sample = data[:4096]
    odd, even = sample[1::2].count(0), sample[0::2].count(0)
    if max(odd, even) < len(sample) // 8:
        return None
    return "utf-16-le" if odd > even else "utf-16-be"


def read_text(data: bytes, path: Path) -> str:
    """The file's text: UTF-8, or UTF-16/32 by its byte-order mark (Windows tools save LIWC files so),
    or UTF-16 without one; else Windows-1252, the usual encoding of older LIWC files."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LexiconError(path, None, f"starts with a {encoding.upper()} byte-order mark but cannot be "
                                               f"decoded as {encoding.upper()} ({exc.reason}); save it as UTF-8") from None
    if b"\x00" in data:
        encoding = _utf16_without_bom(data)
        try:
            if encoding:
                return data.decode(encoding)
        except UnicodeDecodeError:
            pass
        raise LexiconError(path, None, "holds NUL bytes: it is not text in UTF-8 (perhaps UTF-16 or a binary file); "
                                       "save it as UTF-8")
    try:
        return data.decode("utf-8")
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
    # ASCII digits only: str.isdigit() also accepts "¹" or "②", which int() refuses
    return int(token) if token.isascii() and token.isdigit() else None


def parse_dic(text: str, path: Path) -> tuple[list[str], list[tuple[str, str, int]]]:
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
            while cut > 1 and _category_id(tokens[cut - 1]) is not None:
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


def parse_table(text: str, path: Path) -> tuple[list[str], list[tuple[str, str, int]]]:
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
