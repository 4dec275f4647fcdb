"""Sweeps: (model, prompt block) tasks on a local Ray instance and as local jobs; a killed worker loses
only its task, a re-run finishes the sweep, and the cache ends with exactly one run per request."""
import os
import signal

import pytest

from engine.configs import SearchConfig, SweepConfig
from engine.errors import InputError
from engine.store.db import Cache
from engine.sweeps.plan import plan_sweep
from engine.sweeps.run import run_sweep

PROMPTS = "greatest_ever_one,worst_ever_one,best_world_single"


def _models(tmp_path):
    from helpers import make_tiny_model_dir

    return [str(make_tiny_model_dir(tmp_path / "a", "llama")),
            str(make_tiny_model_dir(tmp_path / "b", "gemma3", vocab_size=280, seed=1))]


def _done_runs(home):
    runs = Cache(home).list_runs(status="done")
    return runs[["request_key", "model_id", "prompt_key"]]


def test_plan_is_idempotent_by_request_key(tmp_path, valuescope_home):
    models = ",".join(_models(tmp_path))
    sweep = SweepConfig(models=models, prompts=PROMPTS, block=2, lexicon="big_two_nouns", vocab=True)
    tasks = plan_sweep(sweep, SearchConfig(device="cpu"))
    assert [len(t.prompts) for t in tasks] == [2, 1, 2, 1]
    assert all(t.n_requests == 2 * len(t.prompts) for t in tasks)  # vocab + lexicon per prompt
    again = plan_sweep(sweep, SearchConfig(device="cpu"), done=lambda key: key == tasks[0].requests[0].key)
    assert [t.key for t in again] == [t.key for t in tasks]
    assert len(again[0].requests) == tasks[0].n_requests - 1
    with pytest.raises(InputError, match="--battery or --prompts"):
        plan_sweep(SweepConfig(models=models), SearchConfig())
    with pytest.raises(InputError, match="--block"):
        SweepConfig(models=models, prompts=PROMPTS, block=0)


def test_ray_sweep_survives_a_killed_worker_and_a_rerun_completes_it(tmp_path, valuescope_home):
    ray = pytest.importorskip("ray")
    models = _models(tmp_path)
    sweep = SweepConfig(models=",".join(models), prompts=PROMPTS, block=1, backend="ray", actors=2)
    base = SearchConfig(device="cpu", dtype="float32")
    busy, killed = {}, []

    def on_dispatch(info):
        busy[info["pid"]] = info["task"]

    def report(progress, what):
        if what.startswith("done") and not killed:  # midway: kill the worker busy with another task
            finished_task = what.partition(": ")[2]
            pid = next(p for p, task in busy.items() if task != finished_task)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        first = run_sweep(sweep, base, home=valuescope_home, report=report, on_dispatch=on_dispatch)
        assert killed and first.status == "incomplete"
        assert len(first.failed) == 1 and "worker lost" in first.failed[0]
        assert len(_done_runs(valuescope_home)) == 5
        second = run_sweep(sweep, base, home=valuescope_home, on_dispatch=on_dispatch)
    finally:
        ray.shutdown()
    assert second.status == "done" and not second.failed and second.runs_imported == 1
    runs = _done_runs(valuescope_home)
    assert len(runs) == 6 and runs["request_key"].is_unique
    assert sorted(zip(runs["model_id"], runs["prompt_key"])) == sorted(
        (m, p) for m in models for p in PROMPTS.split(","))
    assert Cache(valuescope_home).list_runs()["status"].eq("done").all()  # workers never wrote a row


def test_local_jobs_sweep_with_a_lexicon_and_rerun_skips(tmp_path, valuescope_home):
    model = _models(tmp_path)[0]
    sweep = SweepConfig(models=model, prompts="greatest_ever_one,worst_ever_one", block=2, lexicon="big_two_nouns",
                        vocab=True)
    first = run_sweep(sweep, SearchConfig(device="cpu", dtype="float32"), home=valuescope_home)
    assert first.status == "done" and first.runs_imported == 4
    second = run_sweep(sweep, SearchConfig(device="cpu", dtype="float32"), home=valuescope_home)
    assert second.status == "done" and second.runs_imported == 0 and second.finished == second.tasks == 1
    runs = Cache(valuescope_home).list_runs(status="done")
    assert len(runs) == 4 and runs["request_key"].is_unique
    assert sorted(runs["candidates"].unique()) == ["lexicon:big_two_nouns", "vocab"]
    from engine.sweeps.progress import list_sweeps

    (recorded,) = list_sweeps(valuescope_home)  # one record per sweep, updated by the re-run
    assert recorded.status == "done" and recorded.finished == recorded.tasks == 1


def test_sweep_command_reports_bad_input_in_one_line(capsys):
    from engine.cli import main
    from helpers import single_error_line

    assert main(["sweep", "--models", "smollm2-135m-instruct"]) == 2
    assert "--battery or --prompts" in single_error_line(capsys.readouterr().err)
    assert main(["sweep", "--models", "smollm2-135m-instruct", "--prompts", ","]) == 2
    assert "--prompts holds nothing" in single_error_line(capsys.readouterr().err)
    assert main(["sweep", "--models", "smollm2-135m-instruct", "--battery", "--block", "0"]) == 2
    assert "--block 0" in single_error_line(capsys.readouterr().err)


def test_runs_page_shows_sweep_progress(valuescope_home):
    from engine.sweeps.progress import SweepProgress
    from helpers import app

    SweepProgress("abc123def456", "ray", ["model-a", "model-b"], 54, 18, finished=7,
                  failed=["model-b | greatest_ever_one: worker lost"]).save(valuescope_home)
    at = app("runs", tab="Jobs")
    bars = [str(p.proto.text) for p in at.get("progress")]
    assert any("sweep abc123def456: 7 of 18 tasks finished, 1 failed" in text and "model-a, model-b x 54 prompts"
               in text for text in bars), bars
