"""GGUF conversion reports its progress: phases, tensors and shards, a fraction that only rises to 1."""
import engine.jobs as jobs
from engine.models.gguf import PHASES, converted_dir
from engine.models.registry import resolve_spec
from helpers import make_tiny_gguf


def _rises_to_one(seen) -> bool:
    fractions = [done / total for done, total, *_ in seen]
    return fractions[0] == 0 and fractions[-1] == 1 and all(a <= b for a, b in zip(fractions, fractions[1:]))


def test_conversion_reports_tensors_and_shards_rising_to_one(tmp_path, valuescope_home):
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    spec = resolve_spec(str(make_tiny_gguf(tmp_path / "tiny.gguf")))
    bar = gguf_utils.tqdm
    seen = []
    folder, _ = converted_dir(spec, valuescope_home, progress=lambda *report: seen.append(report))
    assert _rises_to_one(seen) and {total for _, total, _ in seen} == {1000}
    messages = [message for *_, message in seen]
    n_tensors = 2 + 9 * 2 + 1  # embeddings, 9 per block, output norm and head
    assert f"Converting: de-quantising tensors ({n_tensors} of {n_tensors})" in messages
    assert "Converting: writing shards (1 of 1)" in messages
    assert list(dict.fromkeys(m.split(" (")[0] for m in messages))[:-1] == [f"Converting: {name}" for name, _ in PHASES]
    tensor_steps = [done for done, _, m in seen if "tensors (" in m]
    assert len(set(tensor_steps)) == n_tensors + 1  # each tensor moves the bar
    assert gguf_utils.tqdm is bar and hf_logging.set_tqdm_hook(None) is None  # nothing left swapped
    assert sorted(p.name for p in folder.glob("*.safetensors")) == ["model.safetensors"]
    assert converted_dir(spec, valuescope_home, progress=lambda *r: seen.append("again")) == (folder, _)
    assert "again" not in seen  # a converted model reports nothing


def test_a_search_job_reports_converting_then_writing_with_their_fractions(tmp_path, valuescope_home):
    gguf_file = make_tiny_gguf(tmp_path / "tiny.gguf")
    stage, seen = ["queued"], []
    words = [f"word{i}" for i in range(30)]
    job = jobs.run_foreground("search", {"config": {"model": str(gguf_file), "mode": "logprob", "device": "cpu"},
                                         "prompt": "greatest_ever_one", "words": words},
                              progress=lambda d, t: seen.append((stage[0], d, t)),
                              stage=lambda name, _: stage.append(name) or stage.__setitem__(0, name))
    assert job.status == "done" and job.result["n_scores"] == len(words)
    assert stage[1:] == ["converting", "loading", "scoring", "writing"]
    for name in ("converting", "writing"):
        assert _rises_to_one([(d, t) for s, d, t in seen if s == name]), name
    assert [(d, t) for s, d, t in seen if s == "writing"][-1] == (len(words), len(words))
    assert ("loading", 0, 0) in seen  # the conversion's full bar does not carry over into loading


def test_a_battery_keeps_its_bar_on_prompts_while_its_model_converts(tmp_path):
    gguf_file = make_tiny_gguf(tmp_path / "tiny.gguf")
    seen, stages = [], []
    jobs.run_foreground("battery", {"config": {"model": str(gguf_file), "mode": "logprob", "device": "cpu"},
                                    "prompts": ["greatest_ever_one", "worst_time_single"], "words": ["love", "war"]},
                        progress=lambda d, t: seen.append((d, t)), stage=lambda name, _: stages.append(name))
    assert stages[0] == "converting" and {t for _, t in seen} == {2}  # conversion counts went to the message only
    assert _rises_to_one(seen)
