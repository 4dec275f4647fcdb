"""Typed job requests: one key per computation, whichever page or command asks, and old caches re-keyed."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import engine.jobs as jobs
from engine.configs import SearchConfig
from engine.errors import InputError
from engine.prompts import BATTERY
from engine.workflows import rekey
from engine.workflows.rekey import open_cache
from engine.workflows.requests import VERSION, ImplicitRequest, SearchRequest, SweepTaskRequest
from engine.workflows.runner import Runner, RunRequest

PROMPT = BATTERY["greatest_ever_one"].text


def test_a_search_left_on_auto_and_an_implicit_side_of_the_same_instruct_model_share_one_key():
    # Token search leaves mode and template on auto; the Base models page asks for log-prob "chat" (no model loads here)
    search = SearchRequest.one(SearchConfig(model="smollm2-135m-instruct"), PROMPT).resolve()[0]
    implicit = ImplicitRequest((("smollm2-135m-instruct", "gemma3-270m"),), (PROMPT,)).resolve()
    assert (search.mode, search.template) == ("logprob", "chat")
    assert implicit[0].key == search.key
    assert implicit[1].template == "plain" and implicit[1].key != search.key  # pretrained side: the raw prompt


def test_requests_round_trip_through_params_and_refuse_a_newer_version():
    search = SearchRequest(SearchConfig(model="m", dtype="float32"), ("a", "b"), ("love", "freedom"), refresh=True)
    assert search.kind == "battery" and search.to_params()["version"] == VERSION
    assert SearchRequest.from_params(search.to_params()) == search
    implicit = ImplicitRequest((("a", "b"),), ("p",), (("chat", "plain"),), "big_two_nouns", ("love",), False,
                               SearchConfig(vocab_filter="alpha"), 3, 99, True)
    assert ImplicitRequest.from_params(implicit.to_params()) == implicit
    assert implicit.job_key() == dataclasses.replace(implicit, cached_only=False).job_key()
    older = {"config": {"model": "m"}, "prompt": "p", "words": ["x"]}  # a version-1 job's params
    assert SearchRequest.from_params(older) == SearchRequest(SearchConfig(model="m"), ("p",), ("x",))
    with pytest.raises(InputError, match="newer valuescope"):
        SearchRequest.from_params({**search.to_params(), "version": VERSION + 1})


def test_a_sweep_task_round_trips_through_json_params_to_the_same_runs(tiny_llama_dir):
    import json

    config = SearchConfig(model=str(tiny_llama_dir), mode="logprob", device="cpu")
    runs = [RunRequest.resolve(config, "greatest_ever_one", None, "vocab"),
            RunRequest.resolve(config, "worst_time_single", ("love", "war"), "words")]
    task = SweepTaskRequest(str(tiny_llama_dir), ("greatest_ever_one", "worst_time_single"), "k1", runs, 3, "/staging")
    params = json.loads(json.dumps(task.to_params()))  # what crosses to the worker
    assert params["version"] == VERSION and task.kind == "sweep_task" and task.job_key() == "sweep-task:k1"
    back = SweepTaskRequest.from_params(params)
    assert [r.key for r in back.requests] == [r.key for r in runs]
    assert (back.model, back.prompts, back.key, back.n_requests, back.staging) == (task.model, task.prompts, "k1", 3,
                                                                                   "/staging")
    older = {"task": {k: v for k, v in params["task"].items() if k != "n_requests"}, "staging": "/s"}  # version 1
    assert SweepTaskRequest.from_params(older).n_requests == 2
    with pytest.raises(InputError, match="newer valuescope"):
        SweepTaskRequest.from_params({**params, "version": VERSION + 1})


def test_a_token_search_run_is_found_by_the_base_models_page_and_the_cli_with_no_new_job(tiny_llama_dir, capsys):
    from app.ui.jobs import submit_search
    from engine.cli import main

    # as the Token search page submits it: the settings form's defaults, one model, one prompt
    request = SearchRequest.one(SearchConfig(model=str(tiny_llama_dir)), PROMPT)
    run = request.resolve()[0]
    job = jobs.wait(submit_search(request, [run]).id, 120)
    assert job.status == "done", job.error
    n_jobs = len(jobs.list_jobs(limit=None))

    # the Base models page's path: its request resolved, the cache asked for every run it needs
    implicit = ImplicitRequest(((str(tiny_llama_dir), "gemma3-270m"),), (PROMPT,), words=None)
    found = open_cache().find_done_many(r.key for r in implicit.resolve())
    assert found[implicit.resolve()[0].key]["run_id"] == job.result["run_id"]

    # the CLI: answered from the cache
    assert main(["search", "--model", str(tiny_llama_dir), "--prompt", "greatest_ever_one"]) == 0
    err = capsys.readouterr().err
    assert f"[{job.result['run_id']}]" in err and "answered from the cache" in err
    assert len(jobs.list_jobs(limit=None)) == n_jobs


def _reset_rekey(cache, stale: dict[str, str]) -> None:
    """Give runs the keys an older rule gave them, and forget that the re-keying ran."""
    with cache.connect() as con:
        for run_id, key in stale.items():
            con.execute("UPDATE runs SET request_key = ? WHERE run_id = ?", [key, run_id])
        con.execute("DELETE FROM migrations WHERE set_name = 'request_keys'")
    rekey._DONE.clear()


def test_the_migration_re_keys_old_rows_from_their_stored_settings(tiny_llama_dir):
    config = SearchConfig(model=str(tiny_llama_dir), mode="logprob")
    runner = Runner(open_cache())
    vocab = runner.run(config, PROMPT).run
    words = runner.run(config, PROMPT, ["love", "freedom", "love"]).run
    _reset_rekey(runner.cache, {vocab["run_id"]: "key-v1-vocab", words["run_id"]: "key-v1-words"})
    assert runner.cache.find_done(RunRequest.resolve(config, PROMPT).key) is None

    assert rekey.rekey(runner.cache) == ["001 resolved keys"]
    assert rekey.rekey(runner.cache) == []  # once per file
    served = Runner(open_cache())
    assert served.cached(config, PROMPT).run["run_id"] == vocab["run_id"]
    # the words' key does not depend on their order or repeats (each is scored once)
    assert served.cached(config, PROMPT, ["freedom", "love"], "words").run["run_id"] == words["run_id"]


def test_a_run_whose_model_is_gone_keeps_its_old_key(tiny_llama_dir, tmp_path):
    import shutil

    copy = Path(shutil.copytree(tiny_llama_dir, tmp_path / "copy"))
    cache = open_cache()
    run = Runner(cache).run(SearchConfig(model=str(copy), mode="logprob"), PROMPT).run
    _reset_rekey(cache, {run["run_id"]: "key-v1"})
    shutil.rmtree(copy)
    rekey.rekey(cache)
    assert cache.get_run(run["run_id"])["request_key"] == "key-v1"
