"""The engine's job kinds: a real search in a worker (tiny random model), GGUF stages, battery and
implicit progress."""
from __future__ import annotations

from pathlib import Path

import engine.jobs as jobs
from engine.configs import SearchConfig
from engine.workflows.requests import SearchRequest, ValuesRequest


def test_a_search_job_in_a_worker_is_then_served_from_the_cache(tiny_llama_dir):
    from engine.configs import SearchConfig
    from engine.workflows.runner import Runner

    config = {"model": str(tiny_llama_dir), "mode": "reward", "device": "cpu"}
    params = {"config": config, "prompt": "What is the best thing ever?"}
    job = jobs.wait(jobs.submit("search", params, label="tiny").id, 120)
    assert job.status == "done", (job.error, Path(job.log_path).read_text()[-2000:])
    assert job.stage == "done" and job.done == job.total == job.result["n_scores"] > 0  # a finished job: stage = status
    assert job.result["from_cache"] is False
    served = Runner().cached(SearchConfig(**config), params["prompt"])
    assert served.run["run_id"] == job.result["run_id"] and len(served.scores) == job.result["n_scores"]
    again = jobs.wait(jobs.submit("search", params).id, 120)  # a new job, answered from the cache
    assert again.id != job.id and again.result["from_cache"] is True
    assert again.result["run_id"] == job.result["run_id"]


def test_search_stages_know_when_a_gguf_model_is_assembled_or_converted_first(tmp_path, valuescope_home):
    from engine.models.gguf import MARKER, converted_dir, converted_target, pending_conversion
    from engine.models.registry import REGISTRY, resolve_spec

    assert pending_conversion(REGISTRY["gemma3-270m"], valuescope_home) == "assembling"  # chunked package
    assert pending_conversion(REGISTRY["smollm2-135m-instruct"], valuescope_home) == "converting"
    assert pending_conversion(resolve_spec("Skywork/Skywork-Reward-V2-Qwen3-8B"), valuescope_home) is None
    gguf_file = tmp_path / "dummy.gguf"
    gguf_file.write_bytes(b"not really a model")
    spec = resolve_spec(str(gguf_file))
    assert pending_conversion(spec, valuescope_home) == "converting"
    folder = converted_target(spec, valuescope_home)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("{}")
    assert pending_conversion(spec, valuescope_home) is None
    # the engine finds the same folder (were it another, it would try to convert the dummy file and fail)
    assert converted_dir(spec, valuescope_home)[0] == folder


def test_battery_and_implicit_kinds_report_per_prompt_and_per_run(tiny_llama_dir, tiny_gemma_dir):
    prompts = ["greatest_ever_one", "worst_time_single"]
    config = {"model": str(tiny_llama_dir), "mode": "logprob", "device": "cpu"}
    seen, stages = [], []
    job = battery = jobs.run_foreground("battery", {"config": config, "prompts": prompts, "words": ["love", "freedom"]},
                                        progress=lambda d, t: seen.append((d, t)),
                                        stage=lambda name, _: stages.append(name))
    assert [r["prompt_key"] for r in job.result["runs"]] == prompts
    assert {d for d, _ in seen} == {0, 1, 2} and {t for _, t in seen} == {2}
    assert stages == ["loading", "scoring", "writing", "scoring", "writing"]  # the model loads once

    implicit = {"pairs": [[str(tiny_llama_dir), str(tiny_gemma_dir)]], "prompts": prompts[:1],
                "words": ["love", "freedom"], "vocab": False, "templates": [["chat", "chat"]],
                "base": {"device": "cpu"}, "resamples": 99}
    job = jobs.run_foreground("implicit", implicit)
    assert (job.done, job.total) == (2, 2)  # one prompt, two sides, named words only
    # side A resolves to the battery's first run (log-prob, the folder's chat template, same words): shared, not redone
    assert [(r["side"], r["from_cache"]) for r in job.result["runs"]] == [("a", True), ("b", False)]
    assert job.result["runs"][0]["run_id"] == battery.result["runs"][0]["run_id"]
    stages.clear()
    again = jobs.run_foreground("implicit", implicit, stage=lambda name, _: stages.append(name))
    assert all(r["from_cache"] for r in again.result["runs"]) and stages == []  # nothing loaded


def test_values_kind_computes_every_model_and_prompt_once_and_reuses_the_cache(tiny_llama_dir, tiny_gemma_dir):
    """One job for models x prompts: progress is the fraction of units done and rises monotonically; a second
    job for a superset computes only the new unit."""
    models, prompts = [str(tiny_llama_dir), str(tiny_gemma_dir)], ["greatest_ever_one", "worst_time_single"]
    def request(prompt_keys):
        search = SearchRequest(SearchConfig(model=models[0], mode="logprob", device="cpu"), tuple(prompt_keys),
                               lexicon="big_two_nouns")
        return ValuesRequest(tuple(models), search)

    seen = []
    first = request(prompts[:1])
    assert ValuesRequest.from_params(first.to_params()) == first
    job = jobs.run_foreground("values", first.to_params(), progress=lambda d, t: seen.append(d / t))
    assert [(r["model_id"], r["prompt_key"], r["from_cache"]) for r in job.result["runs"]] == \
        [(m, prompts[0], False) for m in models]
    assert {r["candidates"] for r in job.result["runs"]} == {"lexicon:big_two_nouns"}
    assert seen == sorted(seen) and seen[-1] == 1.0 and any(0 < f < 1 for f in seen)
    again = jobs.run_foreground("values", request(prompts).to_params())
    assert [r["from_cache"] for r in again.result["runs"]] == [True, False, True, False]
