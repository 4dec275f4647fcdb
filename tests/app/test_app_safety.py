"""The dashboard's safety, headless (AppTest): a link cannot switch on a repository's code, only models the
operator allows offer it, and public mode hides what a visitor must not do (delete runs, use server
folders as models, see server paths); NUL prompts from a link and oversized uploads are refused."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import make_tiny_model_dir
from helpers import app, demo_score_table, seed_demo_cache, texts, wait_for

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return make_tiny_model_dir(tmp_path_factory.mktemp("app-safety") / "tiny-llama", "llama")


def _remote_code_boxes(at: AppTest) -> list:
    return [c for c in at.checkbox if c.key == "trust_remote_code"]


def test_a_link_cannot_tick_trust_remote_code(tiny_dir):
    at = app(models=[str(tiny_dir)], mode="logprob", trust_remote_code="true")
    box = _remote_code_boxes(at)[0]
    assert box.value is False and box.disabled  # not read from the URL, and this model is not allowed
    at.button[0].click().run()
    wait_for(at, lambda a: len(a.dataframe) >= 2)
    from engine.store.db import Cache

    params = [json.loads(p) for p in Cache().list_runs()["params"]]
    assert params and not any(p["trust_remote_code"] for p in params)  # nothing ran the repository's code


def test_only_an_allowed_model_offers_trust_remote_code(tiny_dir, monkeypatch):
    monkeypatch.setenv("VALUESCOPE_REMOTE_CODE_MODELS", str(tiny_dir))
    at = app(models=[str(tiny_dir)], trust_remote_code="true")
    box = _remote_code_boxes(at)[0]
    assert not box.disabled and box.value is False  # offered, still not ticked by the link
    at.multiselect(key="models").set_value([str(tiny_dir), "smollm2-135m-instruct"]).run()
    assert _remote_code_boxes(at)[0].disabled  # one model not on the list: off for all


def test_public_mode_hides_remote_code_and_refuses_local_paths(tiny_dir, monkeypatch):
    from engine.store.db import Cache

    monkeypatch.setenv("VALUESCOPE_PUBLIC", "1")
    at = app(trust_remote_code="true")
    assert not _remote_code_boxes(at)
    at.multiselect(key="models").set_value([str(tiny_dir), "/etc"])
    at.button[0].click().run()
    errors = texts(at.error)
    assert sum("cannot be used as models on this public server" in e for e in errors) == 2, errors
    assert not any(str(tiny_dir) in e for e in errors)  # no server path shown back
    assert Cache().list_runs().empty


def test_public_mode_hides_delete_and_the_cache_path(tmp_path, monkeypatch):
    seed_demo_cache(tmp_path / "imports")
    monkeypatch.setenv("VALUESCOPE_PUBLIC", "1")
    at = app("runs")
    at.session_state["runs_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert at.get("download_button"), "exports stay available"
    assert not [b for b in at.button if b.label == "Delete"] and not at.get("popover")
    assert not any("valuescope.duckdb" in c for c in texts(at.caption))
    monkeypatch.delenv("VALUESCOPE_PUBLIC")
    at = app("runs")
    assert any("valuescope.duckdb" in c for c in texts(at.caption))  # locally the path is useful


def test_a_nul_prompt_from_the_url_runs_nothing(tiny_dir):
    from engine.store.db import Cache

    at = app(models=[str(tiny_dir)], prompt="\x00", mode="logprob")
    at.button[0].click().run()
    assert any("NUL" in e for e in texts(at.error)), texts(at.error)
    assert Cache().list_runs().empty


def test_an_upload_over_the_limit_is_refused_and_none_is_left_behind(monkeypatch):
    import app.ui.uploads as uploads

    monkeypatch.setenv("VALUESCOPE_MAX_UPLOAD_MB", "1")
    at = app("runs", tab="Import score tables")
    big = b"response,greatest_ever_one\n" + b"".join(b"w%d,1.0\n" % i for i in range(120_000))
    at.get("file_uploader")[0].set_value(("big.csv", big, "text/csv"))
    at.text_input(key="import_family").set_value("llama").run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert any("at most 1 MB" in e for e in texts(at.error)), texts(at.error)
    small = demo_score_table(3, 0.2).to_csv(index=False).encode()
    at.get("file_uploader")[0].set_value(("ok.csv", small, "text/csv")).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert any("ok" in s for s in texts(at.success)), texts(at.error)
    from engine.store.db import Cache

    assert set(Cache().list_runs()["model_source"]) == {"upload:ok.csv"}  # not the temporary file's server path
    folder = uploads._private_folder()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    left = [p for p in folder.rglob("*") if p.is_file() and "saved" not in p.relative_to(folder).parts]
    assert not left  # the imported file is gone once read (`saved/` holds pages' save_upload copies)
