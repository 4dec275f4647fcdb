"""The Streamlit dashboard, headless (streamlit.testing.v1.AppTest): every page renders, a search on a
tiny local model fills the tables, bad input shows an error element, never a traceback."""
from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

from helpers import (DEMO_PROMPTS, app, cached_tiny_search, demo_score_table, make_tiny_model_dir, seed_demo_cache,
                     texts, wait_for)

pytest.importorskip("streamlit")

PAGES = ("home", "token_search", "values", "base_models", "training", "runs")
@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return make_tiny_model_dir(tmp_path_factory.mktemp("app") / "tiny-llama", "llama")


# ---- every page renders --------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders_on_an_empty_cache(page):
    at = app(page)
    assert at.title, f"{page} has no title"


@pytest.mark.parametrize("page", ("values", "runs", "base_models"))
def test_pages_render_with_imported_runs(page, tmp_path):
    seed_demo_cache(tmp_path / "imports")
    at = app(page)
    assert not at.error, texts(at.error)


# ---- token search --------------------------------------------------------------------------------
def test_search_on_a_tiny_model_fills_the_tables(tiny_dir):
    at = app()
    at.multiselect(key="models").set_value([str(tiny_dir)])
    at.selectbox(key="mode").set_value("logprob")
    at.text_input(key="words").set_value("love, the")
    at.button[0].click().run()
    wait_for(at, lambda a: len(a.dataframe) >= 3)
    top, bottom = at.dataframe[0].value, at.dataframe[1].value
    assert list(top.columns) == ["rank", "token", "score"]
    assert top["rank"].tolist() == list(range(1, 11))
    assert top["score"].is_monotonic_decreasing and bottom["score"].is_monotonic_increasing
    assert len(at.dataframe) == 3  # and where the chosen words land
    captions = " ".join(texts(at.caption))
    for setting in ("revision:", "template:", "dtype:", "quantisation:", "normalize_token"):
        assert setting in captions
    assert "answer: `computed in" in captions and "from the cache" not in captions  # this session computed it
    assert at.get("download_button"), "no CSV download button"


def test_a_cached_search_appears_at_once_from_the_url(tiny_dir):
    result = cached_tiny_search(tiny_dir, "What, in one word, is the greatest thing ever?")
    at = app(models=[str(tiny_dir)], prompt="What, in one word, is the greatest thing ever?", mode="logprob")
    assert len(at.dataframe) >= 2, texts(at.info)  # no click, no waiting
    assert result.run["run_id"][:12] in " ".join(texts(at.caption))


def test_a_running_search_shows_progress_and_can_be_cancelled(tiny_dir, monkeypatch):
    import threading

    import engine.models.loading
    from engine.store.db import Cache

    real, gate = engine.models.loading.load_model, threading.Event()

    def slow_load(*args, **kwargs):  # hold the model load until the test lets it go
        gate.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.models.loading, "load_model", slow_load)
    at = app(mode="logprob")
    at.multiselect(key="models").set_value([str(tiny_dir)])
    at.button[0].click().run()
    wait_for(at, lambda a: a.get("progress") and "Loading" in a.get("progress")[0].proto.text)
    next(b for b in at.button if b.label == "Cancel").click().run()
    gate.set()
    wait_for(at, lambda a: any("Cancelled" in i for i in texts(a.info)))
    assert Cache().list_runs(status="done").empty


def test_a_shared_address_opens_the_same_view(tiny_dir, tmp_path):
    # the browser writes widget values into the URL (tests/app/test_browser.py checks that); here the reverse
    at = app(models=[str(tiny_dir)], words="love, freedom", k="5", dtype="bfloat16", template="plain")
    assert at.multiselect(key="models").value == [str(tiny_dir)]
    assert at.text_input(key="words").value == "love, freedom" and at.number_input(key="k").value == 5
    assert at.selectbox(key="dtype").value == "bfloat16" and at.selectbox(key="template").value == "plain"
    seed_demo_cache(tmp_path / "imports")
    values = app("values", chart="violin", group="family", variants="max", resamples="199")
    assert values.session_state["chart"] == "violin" and values.session_state["group"] == "family"
    assert values.selectbox(key="variants").value == "max"


def test_unknown_model_id_shows_an_error(tiny_dir):
    at = app()
    at.multiselect(key="models").set_value(["no-such-org/no-such-model"])
    at.button[0].click().run()
    wait_for(at, lambda a: len(a.error) >= 1)
    assert "no-such-org/no-such-model" in at.error[0].value


def test_missing_local_folder_and_bad_id_show_errors_at_once():
    at = app()
    at.multiselect(key="models").set_value(["/no/such/folder", "not a model id!"])
    at.button[0].click().run()
    messages = " ".join(texts(at.error))
    assert "/no/such/folder" in messages and "not a model id!" in messages


def test_empty_prompt_shows_an_error():
    at = app()
    at.text_input(key="prompt").set_value("")
    at.button[0].click().run()
    assert any("prompt is empty" in m.lower() for m in texts(at.error))


def test_model_too_large_for_the_machine_shows_an_error(tmp_path):
    folder = tmp_path / "huge"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    header = json.dumps({"w": {"dtype": "BF16", "shape": [400_000, 1_000_000], "data_offsets": [0, 0]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    at = app()
    at.multiselect(key="models").set_value([str(folder)])
    at.button[0].click().run()
    wait_for(at, lambda a: len(a.error) >= 1)
    assert "too large" in at.error[0].value


# ---- values ---------------------------------------------------------------------------------------
def test_values_page_compares_two_families(tmp_path):
    seed_demo_cache(tmp_path / "imports")
    at = app("values", basis="words")
    assert not at.error, texts(at.error)
    frames = [df.value for df in at.dataframe]
    summary = next(f for f in frames if "p_perm" in f.columns)
    assert set(summary["category"]) == {"Agency", "Communion"}
    assert {"llama", "gemma"} <= set(summary.columns)
    assert len(at.get("vega_lite_chart")) >= 3  # median ranks, words, tau heatmap


def test_values_page_violin_and_family_colouring(tmp_path):
    seed_demo_cache(tmp_path / "imports")
    at = app("values", chart="violin", group="family", lexicon="big_two", basis="words")
    assert not at.error, texts(at.error)


def test_malformed_lexicon_upload_shows_an_error(tmp_path):
    seed_demo_cache(tmp_path / "imports")
    at = app("values", lexicon="upload", basis="words")
    at.get("file_uploader")[0].set_value(("broken.dic", b"%\n1\tcare\n%\nkindness\t7\n", "text/plain")).run()
    assert not at.exception
    assert any("broken.dic, line 4" in m for m in texts(at.error)), texts(at.error)


def test_good_lexicon_upload_is_used(tmp_path):
    from engine.analysis.lexicons import load_lexicon

    seed_demo_cache(tmp_path / "imports")
    big_two = load_lexicon("big_two_nouns")
    lines = ["%", "1\tWork", "2\tPlay", "%"]
    lines += [f"{w}\t{1 if 'Agency' in big_two.categories_of(w) else 2}" for w in list(big_two.entries)[:80]]
    at = app("values", lexicon="upload", resamples="199", basis="words")
    at.get("file_uploader")[0].set_value(("my_values.dic", "\n".join(lines).encode(), "text/plain")).run()
    assert not at.error, texts(at.error)
    assert "my_values" in " ".join(texts(at.caption))
    summary = next(df.value for df in at.dataframe if "p_perm" in df.value.columns)
    assert set(summary["category"]) == {"Work", "Play"}


# ---- runs ---------------------------------------------------------------------------------------
def test_runs_page_exports_and_deletes_selected_runs(tmp_path):
    from engine.store.db import Cache

    seed_demo_cache(tmp_path / "imports")
    at = app("runs", rmodels=["demo-llama-rm"])
    shown = at.dataframe[0].value
    assert len(shown) == len(DEMO_PROMPTS) and set(shown["model_id"]) == {"demo-llama-rm"}
    at.session_state["runs_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    names = [b.help for b in at.get("download_button")]
    assert any(n.startswith("valuescope_ranking_demo-llama-rm_") and ".csv" in n for n in names), names
    assert any(n.startswith("valuescope_runs_") for n in names), names
    run_id = shown.iloc[0]["run_id"]
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not at.exception
    assert run_id not in set(Cache().list_runs()["run_id"])


def test_runs_page_checks_a_selected_rankings_spreadsheet_fit_once_not_on_every_rerun(tmp_path, monkeypatch):
    import app.ui.widgets as widgets
    import engine.reports.rankings as rankings

    checked = []
    def counting(check):
        def unfit_reason(df):
            if "rank" in df.columns:  # a ranking (the runs table itself is small and has no rank)
                checked.append(len(df))
            return check(df)
        return unfit_reason
    for module in (widgets, rankings):
        monkeypatch.setattr(module, "unfit_reason", counting(module.unfit_reason))
    seed_demo_cache(tmp_path / "imports")
    at = app("runs", rmodels=["demo-llama-rm"])
    at.session_state["runs_table"] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    for _ in range(3):
        at.run()
        assert not at.exception and not at.error, texts(at.error)
        assert any(b.label.startswith("Rankings of 2 runs") for b in at.get("download_button"))
    assert len(checked) == 2, checked  # each selected run once, on the first render


def test_runs_page_imports_a_score_table(tmp_path):
    from engine.store.db import Cache

    at = app("runs", tab="Import score tables")
    data = demo_score_table(3, 0.2).to_csv(index=False).encode()
    at.get("file_uploader")[0].set_value(("my-rm.csv", data, "text/csv"))
    at.text_input(key="import_family").set_value("qwen")
    at.run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.error, texts(at.error)
    assert any("my-rm" in s for s in texts(at.success))
    assert set(Cache().list_runs()["model_id"]) == {"my-rm"}


def test_runs_page_rejects_a_malformed_score_table():
    at = app("runs", tab="Import score tables")
    at.get("file_uploader")[0].set_value(("broken.csv", b"reply,score\nlove,1\n", "text/csv"))
    at.text_input(key="import_family").set_value("llama")
    at.run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception
    assert any("no `response` column" in e for e in texts(at.error)), texts(at.error)


# ---- base models ----------------------------------------------------------------------------------
def test_base_models_page_compares_two_tiny_models(tmp_path):
    a = make_tiny_model_dir(tmp_path / "tiny-a", "llama", vocab_size=420, seed=0)
    b = make_tiny_model_dir(tmp_path / "tiny-b", "gemma3", vocab_size=400, seed=1)
    at = app("base_models", model_a=str(a), model_b=str(b), bwords="love, war", btop="5", bresamples="199")
    wait_for(at, lambda x: x.info or x.error)
    assert not at.error, texts(at.error)
    assert "not in the cache" in at.info[0].value  # nothing cached yet: nothing loads until asked
    next(b for b in at.button if b.label == "Compute").click().run()
    wait_for(at, lambda x: any(s.value == "Named words" for s in x.subheader) or x.error, timeout=120)
    assert not at.error, texts(at.error)
    headings = texts(at.subheader)
    assert {"Top and bottom words by MWLR", "Named words", "Categories", "Export"} <= set(headings)
    top = at.dataframe[0].value
    assert list(top.columns[:3]) == ["word", "mwlr", "log_ratio"] and len(top) == 5

    import engine.jobs as jobs

    n_jobs = len(jobs.list_jobs(limit=None))  # opened again from the address: the tables at once, no new job
    again = app("base_models", model_a=str(a), model_b=str(b), bwords="love, war", btop="5", bresamples="199")
    assert not again.error and "Named words" in texts(again.subheader), texts(again.info)
    assert len(jobs.list_jobs(limit=None)) == n_jobs

    # the page branches on the job's error code: a reader that met a missing run is read again, a bug is shown
    from engine.jobs import JobStore

    shown = jobs.list_jobs(limit=1)[0]
    for code, error_shown, new_jobs in (("bug", True, 0), ("not_cached", False, 1)):
        JobStore().update(shown.id, only_if_status=None, status="failed", error=f"{code}: the run is gone",
                          error_code=code, finished_at=time.time())
        third = app("base_models", model_a=str(a), model_b=str(b), bwords="love, war", btop="5", bresamples="199")
        assert any(code in e for e in texts(third.error)) == error_shown, texts(third.error)
        assert len(jobs.list_jobs(limit=None)) == n_jobs + new_jobs
    assert any("Reading" in i for i in texts(third.info)), texts(third.info)


def test_base_models_page_rejects_the_same_model_twice():
    at = app("base_models", model_a="smollm2-135m-instruct", model_b="smollm2-135m-instruct")
    assert any("two different models" in e for e in texts(at.error))


def test_training_page_names_a_damaged_checkpoint_folder_in_one_line(valuescope_home):
    bad = valuescope_home / "trained" / "copied" / "step-000001"
    bad.mkdir(parents=True)
    (bad / "adapter_config.json").write_text("{}")
    (bad / "valuescope-model.json").write_text("{not json")
    at = app("training")
    (warning,) = [w for w in texts(at.warning) if "damaged" in w]
    assert str(bad) in warning and "\n" not in warning


def test_start_training_submits_a_train_request_with_the_forms_settings(monkeypatch):
    """The Start button builds a TrainRequest from the form and submits it (the worker is not started here)."""
    import engine.jobs as jobs
    from engine.errors import InputError
    from engine.workflows.requests import TrainRequest

    submitted = []

    def fake_submit(kind, params, **kwargs):
        submitted.append((kind, params))
        raise InputError("stop here: no worker in this test")

    monkeypatch.setattr(jobs, "submit", fake_submit)
    at = app("training", train_cpu_demo_learning_rate="0.0007", train_cpu_demo_bases=["gemma3-270m", "my/base"],
             train_cpu_demo_pairs="100,200", train_cpu_demo_swapped_control="true")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert [kind for kind, _ in submitted] == ["train"], texts(at.error)
    config = TrainRequest.from_params(submitted[0][1]).config
    assert config["learning_rate"] == 0.0007 and config["preset"] == "cpu-demo"
    # a repeated URL parameter is a list (a typed base included); text lists and booleans read as the CLI reads them
    assert config["bases"] == ["gemma3-270m", "my/base"] and config["pairs"] == [100, 200]
    assert config["swapped_control"] is True and config["lora_r"] == 16  # the rest: the preset's
    assert any("stop here" in e for e in texts(at.error))  # the guard shows the submit's error as one line
