"""The command line: a search writes one ranked row per token; bad input gets one clear line."""
import pandas as pd
import pytest

from engine.cli import main
from engine.reports.export import read_metadata, read_table


def test_search_writes_every_token_ranked_and_second_call_is_cached(tiny_llama_dir, tmp_path, capsys):
    out = tmp_path / "top.csv"
    args = ["search", "--model", str(tiny_llama_dir), "--mode", "reward", "--prompt", "greatest_ever_one",
            "--out", str(out)]
    assert main(args) == 0
    assert "computed and cached" in capsys.readouterr().err
    table = read_table(out)
    assert list(table.columns) == ["token_id", "token", "score", "rank"]
    assert len(table) == table["token_id"].nunique() == 300  # the tiny vocabulary, every id once
    assert list(table["rank"]) == list(range(1, 301))
    assert table["score"].is_monotonic_decreasing
    meta = read_metadata(out)
    assert meta["prompt_text"] == "What, in one word, is the greatest thing ever?"
    assert meta["template"] == "chat" and meta["head_status"].startswith("untrained")

    assert main(args) == 2  # the file is there: refused before anything runs
    err = capsys.readouterr().err
    assert "--force" in err and "answered from the cache" not in err
    assert main([*args, "--force"]) == 0
    assert "answered from the cache" in capsys.readouterr().err
    pd.testing.assert_frame_equal(read_table(out), table)


def test_runs_and_export(tiny_llama_dir, tmp_path, capsys):
    assert main(["search", "--model", str(tiny_llama_dir), "--prompt", "What is best?", "--words", "love, freedom"]) == 0
    capsys.readouterr()
    assert main(["runs"]) == 0
    listing = capsys.readouterr().out
    assert "done" in listing and "What is best?" in listing
    run_id = listing.splitlines()[1].split()[0]
    out = tmp_path / "run.parquet"
    assert main(["export", run_id, "--out", str(out)]) == 0
    table = pd.read_parquet(out)
    assert set(table["word"]) == {"love", "freedom"}
    assert {"score", "first_token_score", "n_tokens", "rank"} <= set(table.columns)  # a causal LM: log-prob mode
    assert read_metadata(out)["score_kind"] == "logprob"


@pytest.mark.parametrize("args, message", [
    (["search", "--model", "no-such-org/no-such-model", "--prompt", "hi"], "Tried: registry alias"),
    (["search", "--model", "smollm2-135m-instruct", "--prompt", "   "], "prompt is empty"),
    (["search", "--model", "", "--prompt", "hi"], "No model given"),
    (["export", "nosuchrun", "--out", "x.csv"], "No run with id"),
])
def test_bad_input_gets_one_clear_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_lexicon_file_that_does_not_parse(tmp_path, capsys):
    bad = tmp_path / "broken.dic"
    bad.write_text("%\n1\tcare\n%\nkindness\t1\nbrokenline\t7\n")  # category 7 was never declared
    assert main(["search", "--model", "smollm2-135m-instruct", "--prompt", "hi", "--lexicon", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.dic" in err and "line 5" in err and "Traceback" not in err
