"""`--format` decides the files `analyze` and `implicit` write (one rule: engine.reports.export.table_files),
and a second run refuses to overwrite them without --force."""
from __future__ import annotations

import pytest

from engine.cli import main
from engine.reports.export import read_metadata, read_table
from helpers import make_tiny_model_dir, seed_demo_cache

FORMATS = ("csv", "parquet", "xlsx")


def _written(folder, fmt: str) -> list:
    files = sorted(p.name for p in folder.iterdir())
    tables = [f for f in files if f.endswith(f".{fmt}")]
    others = [f for f in files if not f.endswith((f".{fmt}", ".meta.json"))]
    assert tables and not others, files
    assert any(f.endswith(".meta.json") for f in files) == (fmt == "csv")
    return [folder / name for name in tables]


@pytest.mark.parametrize("fmt", FORMATS)
def test_analyze_writes_the_format_asked_for(fmt, tmp_path, capsys):
    seed_demo_cache(tmp_path / "imports")
    out = tmp_path / "analysis"
    args = ["analyze", "--lexicon", "big_two_nouns", "--resamples", "99", "--anova", "--models", "demo-llama-rm",
            "demo-gemma-rm", "--out", str(out), "--format", fmt]
    assert main(args) == 0
    tables = _written(out, fmt)
    assert {"anova", "posthoc"} <= {p.stem for p in tables}  # the paper's tables follow --format too
    family = next(p for p in tables if p.stem == "family_summary")
    assert len(read_table(family)) and read_metadata(family)["lexicon"]
    capsys.readouterr()
    assert main(args) == 2 and "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


@pytest.fixture(scope="module")
def two_tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair")
    return (make_tiny_model_dir(root / "a", "llama", seed=0), make_tiny_model_dir(root / "b", "llama", seed=3))


@pytest.mark.parametrize("fmt", FORMATS)
def test_implicit_writes_the_format_asked_for(fmt, two_tiny, tmp_path, capsys):
    a, b = two_tiny
    out = tmp_path / "implicit"
    args = ["implicit", "--model-a", str(a), "--model-b", str(b), "--prompt", "What is best?", "--words", "love,war",
            "--no-vocab", "--resamples", "99", "--out", str(out), "--format", fmt]
    assert main(args) == 0
    tables = _written(out, fmt)
    named = next(p for p in tables if p.stem == "named_words")
    assert set(read_table(named)["word"]) == {"love", "war"} and read_metadata(named)
    capsys.readouterr()
    assert main(args) == 2 and "--force" in capsys.readouterr().err
