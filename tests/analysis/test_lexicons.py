"""Lexicon parsing: the shipped files match their documented counts; LIWC syntax corner cases work."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engine.analysis.lexicons import (BUILTIN_LEXICONS, LEXICON_DIR, Lexicon, LexiconError, available_lexicons,
                             load_lexicon)

SHARED = Path("/work/shared/lexicons")

# Counts from lexicons/SOURCES.md.
MFD2_COUNTS = {
    "care.virtue": 182, "care.vice": 288, "fairness.virtue": 115, "fairness.vice": 236, "loyalty.virtue": 143,
    "loyalty.vice": 49, "authority.virtue": 301, "authority.vice": 130, "sanctity.virtue": 272, "sanctity.vice": 388,
}


def test_builtin_files_are_the_documented_copies():
    assert set(BUILTIN_LEXICONS) == {"big_two_nouns", "big_two", "big_two_expanded", "mfd2", "mfd_original"}
    for file in BUILTIN_LEXICONS.values():
        assert (LEXICON_DIR / file).is_file()
        if SHARED.is_dir():
            assert (LEXICON_DIR / file).read_bytes() == (SHARED / file).read_bytes()
    assert hashlib.md5((LEXICON_DIR / "mfd2.0.dic").read_bytes()).hexdigest() == "f3e162af1a318ba6b8571dee8f9f1149"
    assert (LEXICON_DIR / "SOURCES.md").is_file()


def test_big_two_nouns():
    lex = load_lexicon("big_two_nouns")
    assert lex.categories == ["Agency", "Communion"]
    assert lex.category_counts() == {"Agency": 104, "Communion": 159}
    assert len(lex.reply_words()) == 263 and not lex.wildcards
    assert lex.categories_of("Affection") == {"Communion"}
    assert lex.categories_of("common good") == {"Communion"}  # phrase


def test_big_two_expanded_counts_rows_as_written():
    lex = load_lexicon("big_two_expanded")
    assert len(lex.rows) == 936
    assert lex.category_counts(distinct=False) == {"Agency": 446, "Communion": 490}
    # The file repeats some terms ("accurate", "care"): distinct counts are smaller.
    assert sum(lex.category_counts(distinct=True).values()) < 936
    assert lex.categories_of("careful") == {"Agency"} and lex.categories_of("care") == {"Communion"}


def test_big_two_wildcard_dictionary():
    lex = load_lexicon("big_two")
    assert lex.name == "big_two" and lex.source.suffix == ".dicx"
    assert len(lex.rows) == 333 and len(lex.wildcards) == 246
    assert lex.category_counts() == {"Agency": 158, "Communion": 175}
    assert len(lex.reply_words()) == 333 - 246 and all("*" not in w for w in lex.reply_words())
    # Wildcards: prefix match, case-insensitive, the stem itself included.
    assert lex.categories_of("achievement") == {"Agency"}
    assert lex.categories_of("ACHIEVES") == {"Agency"}
    assert lex.categories_of("achiev") == {"Agency"}
    assert lex.categories_of("achie") == set()
    # An exact entry or a longer stem wins over a shorter stem: careful* (Agency) over care* (Communion).
    assert lex.categories_of("carefully") == {"Agency"}
    assert lex.categories_of("caring") == {"Communion"}
    assert lex.categories_of("conversed") == {"Communion"}
    # Multi-word phrases, also as a wildcard ("common ground*").
    assert {w for w in lex.reply_words() if " " in w} == {"common good", "middle ground"}
    assert lex.categories_of("Common  Grounds") == {"Communion"}
    assert lex.categories_of("common") == set()


def test_mfd2():
    path = LEXICON_DIR / "mfd2.0.dic"
    raw = path.read_bytes()
    assert b"\r" in raw and b"\n" not in raw  # CR-only line endings
    lex = load_lexicon("mfd2")
    assert lex.categories == list(MFD2_COUNTS)
    assert lex.category_counts(distinct=False) == MFD2_COUNTS
    assert len(lex.rows) == 2104 and len(lex.entries) == 2041 and not lex.wildcards
    multi = [w for w, cats in lex.entries.items() if len(cats) > 1]
    assert len(multi) == 57
    assert all(len(lex.categories_of(w)) > 1 for w in multi)
    assert sum(" " in w for w in lex.entries) == 110
    assert lex.categories_of("civil rights") == {"fairness.virtue"}
    assert lex.categories_of("civil") == set()
    assert lex.categories_of("compassion") == {"care.virtue"}


def test_mfd_original():
    lex = load_lexicon("mfd_original")
    assert len(lex.categories) == 11 and lex.categories[-1] == "MoralityGeneral"
    assert len(lex.entries) + len(lex.wildcards) == 324 and len(lex.wildcards) == 166
    # Several ids on one line: `preserve<TAB>01 07 09`.
    assert lex.categories_of("preserve") == {"HarmVirtue", "AuthorityVirtue", "PurityVirtue"}
    assert lex.categories_in_order("preserve") == ("HarmVirtue", "AuthorityVirtue", "PurityVirtue")
    # Wildcard with trailing spaces before the TAB (`benefit*        <TAB>01`).
    assert lex.categories_of("benefits") == {"HarmVirtue"}
    assert lex.categories_of("apostasy") == {"IngroupVice", "AuthorityVice", "PurityVice"}


DIC_LINES = ["%", "1\tgood", "2\tbad", "%", "kind*\t1", "kind\t1", "war\t2", "peace\t1 2", "war\t1",
             "tit for tat 2", "   ", "civil rights\t1"]


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"])
def test_dic_line_endings_give_the_same_lexicon(tmp_path, newline):
    path = tmp_path / "mini.dic"
    path.write_bytes(newline.join(DIC_LINES).encode() + newline.encode())
    lex = load_lexicon(path)
    assert lex.name == "mini" and lex.categories == ["good", "bad"]
    assert lex.categories_of("war") == {"good", "bad"}  # the same word on two lines
    assert lex.categories_of("peace") == {"good", "bad"}  # two ids on one line
    assert lex.categories_of("kindness") == {"good"}
    assert lex.categories_of("tit for tat") == {"bad"}  # phrase without a TAB
    assert lex.categories_of("civil rights") == {"good"}
    assert lex.reply_words() == ["kind", "war", "peace", "tit for tat", "civil rights"]
    assert lex.category_counts(distinct=False) == {"good": 5, "bad": 3}


def test_dicx_and_pair_csv(tmp_path):
    dicx = tmp_path / "mine.dicx"
    dicx.write_text("DicTerm,Warm,Competent\r\nfriend*,X,\r\nsmart,,x\r\nnice person,X,NA\r\nboth,X,X\r\n")
    lex = load_lexicon(dicx)
    assert lex.categories == ["Warm", "Competent"]
    assert lex.categories_of("friendly") == {"Warm"} and lex.categories_of("Smart") == {"Competent"}
    assert lex.categories_of("nice person") == {"Warm"} and lex.categories_of("both") == {"Warm", "Competent"}
    pairs = tmp_path / "pairs.csv"
    pairs.write_text('"Category","token_decoded"\n"B","dog"\n"A","cat"\n"A","dog"\n')
    lex = load_lexicon(pairs)
    assert lex.categories == ["B", "A"] and lex.categories_of("dog") == {"A", "B"}


def test_user_lexicon_by_name_from_home(tmp_path):
    folder = tmp_path / "lexicons"
    folder.mkdir()
    (folder / "pets.csv").write_text("Category,word\nanimal,cat\n")
    assert "pets" in available_lexicons(tmp_path) and "mfd2" in available_lexicons(tmp_path)
    assert load_lexicon("pets", home=tmp_path).categories_of("cat") == {"animal"}
    with pytest.raises(FileNotFoundError, match="big_two_nouns"):
        load_lexicon("no_such_lexicon", home=tmp_path)


@pytest.mark.parametrize(
    "lines, line_no, message",
    [
        (["%", "1\tgood", "%", "kind\t1", "cruel\t7"], 5, "category id 7"),
        (["%", "1\tgood", "%", "kind\t1", "lonely"], 5, "no category id"),
        (["%", "1\tgood", "%", "kind\t1", "bad\tx"], 5, "not a number"),
        (["%", "1\tgood", "kind\t1"], 3, "header line"),  # forgot the second '%'
        (["%", "1\tgood", "2\tbad"], 1, "never closed"),
        (["1\tgood", "%"], 1, "starts with"),
        (["%", "one\tgood", "%", "kind\t1"], 2, "header line"),
        (["%", "1\tgood", "1\tbad", "%"], 3, "defined twice"),
        (["%", "1\tgood", "%", "k*nd\t1"], 4, "only allowed at the end"),
        (["%", "1\tgood", "%", "like\t(02 134)131/125 1"], 4, "conditional"),
        (["%", "1\tgood", "%", "kind\t\u00b9"], 4, "not a number"),  # a digit to str.isdigit(), not to int()
        (["%", "\u00b9\tgood", "%", "kind\t1"], 2, "header line"),
        (["%", "1\tgood", "%", "kind one \u00b9"], 4, "not in the header|not a number|no category"),
    ],
)
def test_malformed_dic_names_file_and_line(tmp_path, lines, line_no, message):
    path = tmp_path / "broken.dic"
    path.write_bytes("\r".join(lines).encode())  # CR-only, so line counting must handle it
    with pytest.raises(LexiconError, match=message) as info:
        load_lexicon(path)
    assert f"broken.dic, line {line_no}:" in str(info.value)
    assert isinstance(info.value, ValueError) and info.value.line == line_no


@pytest.mark.parametrize(
    "text, line_no, message",
    [
        ("DicTerm,A,B\nfoo,X,\nbar,Y,\n", 3, "use X"),
        ("DicTerm,A,B\nfoo,X,\nbar,,\n", 3, "no category"),
        ("DicTerm,A,B\nfoo,X\n", 2, "expected 3 cells"),
        ("Word;Cat\nfoo;A\n", 1, "unrecognised header"),
        ("Category,word\nA,\n", 2, "empty entry"),
    ],
)
def test_malformed_tables_name_file_and_line(tmp_path, text, line_no, message):
    path = tmp_path / "broken.dicx"
    path.write_text(text)
    with pytest.raises(LexiconError, match=message) as info:
        load_lexicon(path)
    assert f"broken.dicx, line {line_no}:" in str(info.value)


def test_empty_and_unknown_files(tmp_path):
    empty = tmp_path / "empty.dic"
    empty.write_text("\n\n")
    with pytest.raises(LexiconError, match="empty.dic: the file is empty"):
        load_lexicon(empty)
    other = tmp_path / "words.txt"
    other.write_text("love\n")
    with pytest.raises(LexiconError, match="unknown dictionary format"):
        load_lexicon(other)


def test_lexicon_dataclass_is_usable_directly():
    lex = Lexicon(name="x", categories=["A"], entries={"cat": frozenset({"A"})}, wildcards={"dog": frozenset({"A"})})
    assert lex.categories_of(" CAT ") == {"A"} and lex.categories_of("doggo") == {"A"} and lex.describe() == "x"


# ---- encodings -------------------------------------------------------------------------------------
DIC_TEXT = "%\n1\tcare\n2\tfairness\n%\nkindness\t1\njustice\t2\nfür\t1 2\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_utf16_and_other_unicode_dictionaries_are_decoded(encoding, tmp_path):
    path = tmp_path / "care.dic"
    path.write_bytes(DIC_TEXT.encode(encoding))  # "utf-16" and "utf-32" write a byte-order mark; -le/-be do not
    lexicon = load_lexicon(path)
    assert lexicon.categories == ["care", "fairness"]
    assert lexicon.categories_of("für") == {"care", "fairness"} and lexicon.categories_of("justice") == {"fairness"}


def test_a_binary_file_is_named_not_mistaken_for_a_missing_header(tmp_path, capsys):
    from engine.cli import main
    from helpers import single_error_line

    path = tmp_path / "weights.dic"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(LexiconError, match="weights.dic: holds NUL bytes"):
        load_lexicon(path)
    assert main(["search", "--model", "smollm2-135m-instruct", "--prompt", "hi", "--lexicon", str(path)]) == 2
    assert "NUL bytes" in single_error_line(capsys.readouterr().err)


def test_a_lexicon_keeps_its_checksum_when_its_file_goes(tmp_path):
    path = tmp_path / "upload.dic"
    path.write_text(DIC_TEXT)
    lexicon = load_lexicon(path)
    path.unlink()  # an uploaded file is removed once read
    assert lexicon.sha256 == hashlib.sha256(DIC_TEXT.encode()).hexdigest()
    assert lexicon.sha256[:12] in lexicon.describe()
