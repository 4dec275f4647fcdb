"""Edges of the command line: Ctrl-C while joining a background search, a file as the data folder, a filter
that matches no run, escape sequences in progress labels, true/false columns offered as scores."""
from __future__ import annotations

import types

import pandas as pd
import pytest

import engine.cli.search as search_cli
import engine.jobs as jobs
from engine.cli import main
from engine.cli.progress import progress_bar
from engine.store.db import Cache
from helpers import make_tiny_model_dir, seed_demo_cache, single_error_line


def test_ctrl_c_while_joining_a_background_search_says_it_runs_on(tmp_path, monkeypatch, capsys):
    tiny = make_tiny_model_dir(tmp_path / "tiny")
    running = types.SimpleNamespace(id="abcdef0123456789", live=True, done=3, total=10)
    monkeypatch.setattr(jobs, "latest_for_key", lambda key, home=None: running)
    cancelled = []
    monkeypatch.setattr(jobs, "cancel", lambda *a, **k: cancelled.append(a))

    def ctrl_c(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(search_cli.time, "sleep", ctrl_c)
    with pytest.raises(SystemExit) as stopped:
        main(["search", "--model", str(tiny), "--mode", "logprob", "--prompt", "Hi?"])
    assert stopped.value.code == 130
    err = capsys.readouterr().err
    assert "abcdef0123456789 runs on in the background" in err and "nothing partial" not in err, err
    assert not cancelled  # another command's job is not this one's to cancel


def test_a_file_as_the_data_folder_is_named(tmp_path, capsys):
    home = tmp_path / "not-a-folder"
    home.write_text("x")
    for command in (["prepare"], ["runs"]):
        assert main(["--home", str(home), *command]) == 2
        line = single_error_line(capsys.readouterr().err)
        assert f"{home}" in line and "is a file, not a folder" in line, line


def test_runs_with_a_filter_that_matches_nothing_says_so(tmp_path, capsys):
    assert main(["runs", "--model", "nosuch"]) == 0
    assert "No runs cached yet" in capsys.readouterr().out  # truly empty
    seed_demo_cache(tmp_path / "imports")
    capsys.readouterr()
    assert main(["runs", "--model", "nosuch"]) == 0
    assert "No cached run matches model 'nosuch'" in capsys.readouterr().out


def test_progress_labels_escape_control_characters(capsys):
    progress_bar("evil \x1b[2J\x1b]0;title\x07 prompt")(1, 2)
    err = capsys.readouterr().err
    # tqdm draws with its own cursor moves; the prompt's sequences appear only escaped
    assert "\x1b[2J" not in err and "\x1b]0;" not in err and "\x07" not in err and "\\x1b[2J" in err, repr(err)


def test_true_false_columns_are_not_imported_as_scores(tmp_path, capsys):
    path = tmp_path / "flags.parquet"
    pd.DataFrame({"response": ["love", "war"], "greatest_ever_one": [True, False]}).to_parquet(path)
    assert main(["import", str(path), "--family", "llama"]) == 2
    assert "true/false values, not scores" in single_error_line(capsys.readouterr().err)
    assert Cache().list_runs().empty
