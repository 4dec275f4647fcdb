"""Public mode leaks nothing through the pages (job messages, the Jobs table, run model ids), a damaged job
store is one message on the Jobs tab, and page-load reader jobs stay within the server's job limit."""
from __future__ import annotations

import os
import time

import pytest

from engine.jobs.store import JobStore
from engine.processes import process_started_at
from helpers import app, demo_score_table, make_tiny_model_dir, seed_demo_cache, texts, wait_for

pytest.importorskip("streamlit")

SERVER_PATH = "/srv/valuescope-data/jobs/0123456789abcdef.log"


def _add_job(**values) -> None:
    store = JobStore()
    row = dict(id=f"job{time.monotonic_ns()}"[:16], kind="search", key=f"k{time.monotonic_ns()}", label="search x",
               params={}, target="t", created_at=time.time())
    with store.connect(write=True) as con:
        store.insert(con, **{**row, **values})


def _table_with(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_public_mode_scrubs_job_messages_and_server_model_paths(monkeypatch):
    from engine.store.db import Cache

    _add_job(status="interrupted", finished_at=time.time(),
             message=f"Interrupted: its process (pid 29646) ended without reporting. Its log: {SERVER_PATH}")
    Cache().save_run({"request_key": "k", "model_id": "/srv/checkpoints/secret-rm", "candidates": "words",
                      "score_kind": "reward", "family": "llama"},
                     demo_score_table(0, 0.1).rename(columns={"response": "text", "greatest_ever_one": "score"})
                     [["text", "score"]])
    monkeypatch.setenv("VALUESCOPE_PUBLIC", "1")
    at = app("runs")
    shown = " ".join(_table_with(at, "message")["message"].astype(str)) + " " + \
        " ".join(_table_with(at, "model_id")["model_id"].astype(str))
    assert "29646" not in shown and "/srv/" not in shown, shown
    assert "0123456789abcdef.log" in shown and "secret-rm" in shown  # the last part still says which
    monkeypatch.delenv("VALUESCOPE_PUBLIC")
    at = app("runs")  # locally the details are useful
    assert "29646" in " ".join(_table_with(at, "message")["message"].astype(str))


def test_a_damaged_job_store_is_one_message_on_the_jobs_tab(valuescope_home):
    import engine.jobs.store as job_store

    JobStore()
    (valuescope_home / "jobs.sqlite").write_bytes(os.urandom(20_000))
    job_store._MIGRATED.clear()  # as a freshly started server would
    at = app("runs", tab="Jobs")
    errors = texts(at.error)
    assert any("jobs.sqlite" in e and "valuescope cache repair" in e for e in errors), errors


def test_page_load_readers_stay_within_the_job_limit(tmp_path, monkeypatch):
    # Every run the page needs is cached but no finished job holds its tables: opening the page starts a
    # cache-only reader, which is a worker too and must wait for the server's job limit.
    a = make_tiny_model_dir(tmp_path / "tiny-a", "llama", vocab_size=420, seed=0)
    b = make_tiny_model_dir(tmp_path / "tiny-b", "gemma3", vocab_size=400, seed=1)
    query = dict(model_a=str(a), model_b=str(b), bwords="love, war", btop="5", bresamples="199")
    at = app("base_models", **query)
    next(b for b in at.button if b.label == "Compute").click().run()
    wait_for(at, lambda x: any(s.value == "Named words" for s in x.subheader) or x.error, timeout=120)
    assert not at.error, texts(at.error)
    store = JobStore()
    with store.connect(write=True) as con:
        con.execute("DELETE FROM jobs")  # the runs stay cached; the tables are gone with the jobs
    _add_job(status="running", pid=os.getpid(), pid_started_at=process_started_at(os.getpid()),
             heartbeat_at=time.time(), foreground=1)  # one live job: the server's limit of one is reached
    monkeypatch.setenv("VALUESCOPE_MAX_JOBS", "1")
    again = app("base_models", **query)
    assert any("already running" in e for e in texts(again.error)), texts(again.error)
    assert not JobStore().select("kind = 'implicit'")  # no reader was started


def test_values_page_names_trained_checkpoints_by_alias_and_leaves_them_unselected(tmp_path, valuescope_home):
    import json

    from engine.store.db import Cache
    from engine.workflows.importer import import_scores

    seed_demo_cache(tmp_path / "imports")
    folder = valuescope_home / "trained" / "run" / "base" / "step-000004"  # as training writes one
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (folder / "valuescope-model.json").write_text(json.dumps({"alias": "rm-run-base-step4", "family": "llama",
                                                              "adapter_sha256": "0" * 64}))
    table = tmp_path / "checkpoint.csv"
    demo_score_table(9, 0.3).to_csv(table, index=False)
    import_scores(Cache(), table, family="llama", model=str(folder))  # runs record the folder they scored
    at = app("values")
    models = at.multiselect(key="vmodels")
    assert str(folder) not in models.value and models.value  # not chosen unasked
    assert "rm-run-base-step4" in models.options and str(folder) not in models.options


def test_values_page_refuses_server_paths_alike_whether_or_not_they_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("VALUESCOPE_PUBLIC", "1")
    existing = tmp_path / "model"
    existing.mkdir()
    answers = []
    for name in (str(existing), str(tmp_path / "missing")):
        at = app("values", vmodels=name, vscope="one", basis="lexicon")
        answers.append(texts(at.error))
    assert answers[0] == answers[1] and any("public server" in e for e in answers[0]), answers
