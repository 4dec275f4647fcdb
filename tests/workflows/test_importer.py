"""Importing external score tables: layouts, framing, validation, atomicity, re-imports, the CLI."""
from __future__ import annotations

import pandas as pd
import pytest

from engine import cli
from engine.store.db import Cache
from engine.workflows.importer import import_scores
from engine.prompts import BATTERY

WORDS = ["love", "freedom", "NA", "null", "power"]  # "NA"/"null" are replies, not missing values


def _wide(**columns) -> pd.DataFrame:
    return pd.DataFrame({"response": WORDS, **columns})


def _write(df: pd.DataFrame, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


def test_wide_csv_import(tmp_path):
    cache = Cache(tmp_path)
    path = _write(_wide(greatest_ever_one=[5, 4, 3, 2, 1.5], worst_ever_one=[0, 1, 2, 3, 4]), tmp_path / "rm.csv")
    (result,) = import_scores(cache, path, family="llama", model="my-rm")
    assert result.model_id == "my-rm" and result.layout == "wide" and result.n_responses == 5
    runs = cache.list_runs(status="done").set_index("prompt_key")
    assert set(runs.index) == {"greatest_ever_one", "worst_ever_one"}
    assert runs.loc["greatest_ever_one", "framing"] == "positive" and runs.loc["worst_ever_one", "framing"] == "negative"
    assert set(runs["source"]) == {"imported"} and set(runs["candidates"]) == {"words"}
    assert set(runs["family"]) == {"llama"} and (runs["n_scores"] == 5).all()
    assert runs.loc["greatest_ever_one", "prompt_text"] == BATTERY["greatest_ever_one"].text
    scores = cache.scores(runs.loc["greatest_ever_one", "run_id"])
    assert list(scores["text"]) == WORDS and list(scores["score"]) == [5, 4, 3, 2, 1.5]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_long_table_import(tmp_path, suffix):
    long = pd.DataFrame({"response": WORDS * 2, "prompt": ["best_ever_one"] * 5 + [BATTERY["bad_time_please"].text] * 5,
                         "score": list(range(10))})
    (result,) = import_scores(Cache(tmp_path), _write(long, tmp_path / f"rm{suffix}"), family="gemma")
    assert result.layout == "long" and result.model_id == "rm"  # model name defaults to the file stem
    runs = Cache(tmp_path).list_runs(status="done").set_index("prompt_key")
    assert set(runs.index) == {"best_ever_one", "bad_time_please"}  # battery text maps to its key
    assert runs.loc["bad_time_please", "framing"] == "negative"


def test_directory_of_parquet_and_csv_files(tmp_path):
    folder = tmp_path / "tables"
    _write(_wide(best_ever_one=[1, 2, 3, 4, 5]), folder / "alpha.parquet")
    _write(_wide(best_ever_one=[5, 4, 3, 2, 1]), folder / "beta.csv")
    (folder / "notes.txt").write_text("ignored")
    cache = Cache(tmp_path / "home")
    results = import_scores(cache, folder, family="qwen")
    assert [r.model_id for r in results] == ["alpha", "beta"]
    assert sorted(cache.list_runs(status="done")["model_id"]) == ["alpha", "beta"]
    with pytest.raises(ValueError, match="--model names one model"):
        import_scores(cache, folder, family="qwen", model="x")


def test_non_battery_keys_need_a_framing(tmp_path):
    path = _write(_wide(best_ever_one=[1, 2, 3, 4, 5], my_question=[1, 1, 2, 3, 5], other=[0, 0, 0, 0, 1]), tmp_path / "m.csv")
    cache = Cache(tmp_path)
    with pytest.raises(ValueError, match=r"m\.csv: prompt key\(s\) not in the 54-prompt battery: my_question, other") as info:
        import_scores(cache, path, family="f")
    assert "--framing" in str(info.value)
    assert cache.list_runs().empty
    import_scores(cache, path, family="f", framing=["negative", "other=positive"])
    runs = cache.list_runs(status="done").set_index("prompt_key")
    assert runs.loc["my_question", "framing"] == "negative" and runs.loc["other", "framing"] == "positive"
    assert runs.loc["best_ever_one", "framing"] == "positive" and runs.loc["my_question", "prompt_text"] == "my_question"
    with pytest.raises(ValueError, match="battery prompt with positive framing"):
        import_scores(Cache(tmp_path / "h2"), path, family="f", framing=["negative", "best_ever_one=negative"])
    with pytest.raises(ValueError, match="Unknown framing 'neutral'"):
        import_scores(Cache(tmp_path / "h3"), path, family="f", framing="neutral")


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "the file is empty"),
        ("response,best_ever_one\n", "no rows"),
        ("word,best_ever_one\nlove,1\n", "no `response` column"),
        ("response,best_ever_one\nlove,1\nhate,high\n", r"non-numeric scores \(row 3: 'high'\)"),
        ("response,best_ever_one\nlove,1\nhate,\n", "missing or non-numeric"),
        ("response,best_ever_one\nlove,1\nlove,2\n", "duplicate response.*'love'"),
        ("response,best_ever_one\nlove,1\n,2\n", "empty response on row"),
        ("response\nlove\n", "at least one prompt column"),
        ("response,prompt,score,model\nlove,best_ever_one,1,x\n", "unexpected model"),
        ("response,prompt,score\nlove,best_ever_one,1\nlove,best_ever_one,2\n", "duplicate response.*for prompt"),
        ("response,,best_ever_one\nlove,1,2\n", "has no name"),
    ],
)
def test_bad_tables_give_clear_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad_scores.csv"
    path.write_text(content)
    cache = Cache(tmp_path)
    with pytest.raises(ValueError, match=message) as info:
        import_scores(cache, path, family="f")
    assert str(info.value).startswith("bad_scores.csv")
    assert cache.list_runs().empty


def test_a_bad_file_in_a_directory_imports_nothing(tmp_path):
    folder = tmp_path / "tables"
    _write(_wide(best_ever_one=[1, 2, 3, 4, 5]), folder / "a_good.csv")
    (folder / "b_bad.csv").write_text("response,best_ever_one\nlove,oops\n")
    cache = Cache(tmp_path / "home")
    with pytest.raises(ValueError, match="b_bad.csv"):
        import_scores(cache, folder, family="f")
    assert cache.list_runs().empty


def test_save_runs_is_all_or_nothing(tmp_path):
    cache = Cache(tmp_path)
    scores = pd.DataFrame({"text": ["a", "b"], "score": [1.0, 2.0]})
    meta = {"request_key": "k", "model_id": "m", "source": "imported"}
    ids = cache.save_runs([({**meta, "run_id": "r1"}, scores), ({**meta, "run_id": "r2"}, scores)])
    assert ids == ["r1", "r2"] and len(cache.list_runs(status="done")) == 2
    # The second run reuses an id: the insert fails and neither new run nor the replacement happens.
    with pytest.raises(Exception):
        cache.save_runs([({**meta, "run_id": "r3"}, scores), ({**meta, "run_id": "r1"}, scores)], replace_run_ids=["r2"])
    assert sorted(cache.list_runs()["run_id"]) == ["r1", "r2"]
    assert len(cache.scores_for_runs(["r1", "r2", "r3"])) == 4


def test_reimport_is_idempotent_and_replace_is_explicit(tmp_path):
    cache = Cache(tmp_path)
    path = _write(_wide(best_ever_one=[1, 2, 3, 4, 5], worst_ever_one=[5, 4, 3, 2, 1]), tmp_path / "m.csv")
    first = import_scores(cache, path, family="f")[0]
    again = import_scores(cache, path, family="f")[0]
    assert not first.unchanged and again.unchanged and len(cache.list_runs()) == 2
    _write(_wide(best_ever_one=[9, 2, 3, 4, 5], worst_ever_one=[5, 4, 3, 2, 1]), path)
    with pytest.raises(ValueError, match="--replace"):
        import_scores(cache, path, family="f")
    result = import_scores(cache, path, family="f", replace=True)[0]
    assert result.replaced == 2
    runs = cache.list_runs(status="done")
    assert len(runs) == 2 and set(runs["run_id"]) == set(result.run_ids)
    best = runs.set_index("prompt_key").loc["best_ever_one", "run_id"]
    assert cache.scores(best)["score"].max() == 9


def test_import_refuses_a_computed_model_name(tmp_path):
    cache = Cache(tmp_path)
    cache.save_run({"request_key": "x", "model_id": "skywork", "prompt_key": "best_ever_one"},
                   pd.DataFrame({"text": ["a"], "score": [1.0]}))
    path = _write(_wide(best_ever_one=[1, 2, 3, 4, 5]), tmp_path / "skywork.csv")
    with pytest.raises(ValueError, match="already names computed runs"):
        import_scores(cache, path, family="f")


def test_cli_import_and_errors(tmp_path, capsys):
    path = _write(_wide(best_ever_one=[1, 2, 3, 4, 5]), tmp_path / "rm.csv")
    assert cli.main(["--home", str(tmp_path / "h"), "import", str(path), "--model", "rm-1", "--family", "llama"]) == 0
    assert "imported model 'rm-1' (llama, wide table): 1 prompt(s) x 5 responses" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("response,custom_q\nlove,1\n")
    assert cli.main(["--home", str(tmp_path / "h"), "import", str(bad), "--family", "llama"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad.csv: prompt key(s) not in the 54-prompt battery: custom_q") and "Traceback" not in err
    assert cli.main(["--home", str(tmp_path / "h"), "import", str(bad), "--family", "llama", "--framing", "custom_q=negative"]) == 0
    assert cli.main(["--home", str(tmp_path / "h"), "import", str(tmp_path / "missing.csv"), "--family", "x"]) == 2
    assert "No such file" in capsys.readouterr().err
