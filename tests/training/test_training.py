"""Reward-model training end to end on tiny random models: learning, checkpoints, reloading, stopping."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from engine.models.loading import load_model
from engine.models.registry import resolve_spec, trained_specs
from engine.scoring.search import score_texts
from engine.scoring.templates import build_framing
from engine.training.config import preset_config
from engine.training.checkpoints import checkpoint_steps, save_checkpoint
from engine.training.formatting import encode_conversation
from engine.training.runlog import is_alive, read_log, read_summary
from engine.training.loop import preference_metrics
from engine.training.trainer import train_comparison
from engine.training.trajectory import trajectory_tables
from helpers import ROOT, make_tiny_model_dir

REPO = ROOT
GOOD = ["Love.", "Peace of mind.", "Family and friends.", "Kindness.", "Honesty."]
BAD = ["War.", "Hate.", "Cruelty.", "Betrayal.", "Harm."]
QUESTIONS = ["What, in one word, is the greatest thing ever?", "What is the best thing in the world?",
             "What is the greatest thing of all time?"]


def write_pairs(path: Path, n: int = 48) -> Path:
    """A learnable preference set: kind replies are chosen over cruel ones."""
    rows = [{"prompt": QUESTIONS[i % 3], "chosen": GOOD[i % 5], "rejected": BAD[(i * 7) % 5]} for i in range(n)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def tiny_config(tmp_path, bases, **overrides):
    settings = dict(bases=[str(b) for b in bases], data=str(write_pairs(tmp_path / "prefs.jsonl")), pairs=[0],
                    eval_pairs=12, num_train_epochs=2, learning_rate=3e-3, lora_r=4, lora_alpha=8, max_length=64,
                    prompts=["greatest_ever_one"], out=str(tmp_path / "run"))
    return preset_config("cpu-demo", **{**settings, **overrides})


def head_weight(folder: Path) -> torch.Tensor:
    with safe_open(str(folder / "adapter_model.safetensors"), "pt") as fh:
        return fh.get_tensor("base_model.model.score.weight")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two tiny bases (llama, gemma3) trained on the same pairs; shared by the tests below (~10 s)."""
    tmp = tmp_path_factory.mktemp("train")
    home = tmp / "home"
    bases = [make_tiny_model_dir(tmp / "tiny-llama", "llama"),
             make_tiny_model_dir(tmp / "tiny-gemma", "gemma3", vocab_size=280, seed=1)]
    events = []
    result = train_comparison(tiny_config(tmp, bases), progress=lambda s, t, m: events.append((s, t, m)), home=home)
    return result, home, events


@pytest.fixture
def trained_home(trained, monkeypatch):
    monkeypatch.setenv("VALUESCOPE_HOME", str(trained[1]))
    return trained


def test_every_base_learns_on_the_same_pairs(trained_home):
    result, _, events = trained_home
    assert result.status == "done" and [r.status for r in result.runs] == ["done", "done"]
    assert len({(r.n_train_pairs, r.total_steps) for r in result.runs}) == 1 == len({r.variant for r in result.runs})
    for run in result.runs:
        assert run.total_steps == 2 * -(-run.n_train_pairs // 4)  # 2 epochs of 4 pairs per step
        assert [c["step"] for c in run.checkpoints] == checkpoint_steps(run.total_steps)
        assert checkpoint_steps(run.total_steps)[:6] == [0, 1, 2, 4, 8, 16]
        first, last = run.checkpoints[0], run.checkpoints[-1]
        assert last["eval"]["loss"] < first["eval"]["loss"] - 0.02
        assert last["eval"]["accuracy"] > first["eval"]["accuracy"] and last["eval"]["accuracy"] >= 0.75
        losses = [e["loss"] for e in read_log(result.run_dir) if e["kind"] == "loss" and e["run"] == run.key]
        assert len(losses) == run.total_steps and sum(losses[-4:]) < sum(losses[:4])
        # the score head trained in full, and saved with every checkpoint
        assert not torch.equal(head_weight(Path(first["path"])), head_weight(Path(last["path"])))
    last_step = result.runs[-1].total_steps
    assert events[0][0] == 0 and events[-1][:2] == (last_step, last_step)
    assert events[-1][2]["checkpoint"].endswith(f"step{last_step}") and events[-1][2]["eval_accuracy"] is not None
    assert read_summary(result.run_dir)["status"] == "done"


def test_step_zero_head_is_the_engines_seeded_head(trained_home):
    result, home, _ = trained_home
    for run in result.runs:
        base = load_model(resolve_spec(run.base), mode="reward", device="cpu", home=home, head_seed=result.config.seed)
        assert base.head_status.startswith("untrained")
        assert torch.equal(head_weight(Path(run.checkpoints[0]["path"])), base.model.score.weight)


def test_checkpoints_reload_through_the_engine_to_the_same_rewards(trained_home):
    result, home, _ = trained_home
    aliases = {c["alias"] for r in result.runs for c in r.checkpoints}
    index = (Path(home) / "trained" / "checkpoints.jsonl").read_text().splitlines()
    assert {json.loads(line)["alias"] for line in index} == aliases  # each registered as training saved it
    specs = trained_specs(home)
    assert aliases == set(specs)
    run = result.runs[1]  # the gemma3 base (sliding-window attention)
    last = run.checkpoints[-1]
    lm = load_model(resolve_spec(last["alias"]), device="cpu", home=home)
    assert (lm.head_status, lm.mode, lm.spec.family) == ("trained (LoRA unmerged, adapter float32)", "reward", "gemma")
    assert lm.revision == "adapter:" + last["adapter_sha256"][:16]
    # the merged model gives the held-out metrics recorded when the checkpoint was saved
    from engine.training.data import load_pairs
    from engine.training.prepare import prepare_comparison

    tokenizers = {b: (load_model(resolve_spec(b), mode="reward", device="cpu", home=home).tokenizer, "auto")
                  for b in result.config.bases}
    data = prepare_comparison(result.config, load_pairs(result.config.data), tokenizers)
    again = preference_metrics(lm.model, data.encoder.columns(data.held_out, run.base), lm.tokenizer.pad_token_id)
    assert again["loss"] == pytest.approx(last["eval"]["loss"], abs=1e-5)
    assert again["margin"] == pytest.approx(last["eval"]["margin"], abs=1e-5)
    # token search reads the reward where training's pooling read it
    framing = build_framing(lm.tokenizer, QUESTIONS[0], "auto")
    searched = score_texts(lm, framing, GOOD[:2] + BAD[:2])["score"].tolist()
    with torch.no_grad():
        pooled = [lm.model(torch.tensor([encode_conversation(lm.tokenizer, "chat", (("user", QUESTIONS[0]), ("assistant", r)))]))
                  .logits[0, 0].item() for r in GOOD[:2] + BAD[:2]]
    assert searched == pytest.approx(pooled, abs=1e-4)
    assert min(searched[:2]) > max(searched[2:])  # it learnt: kind replies above cruel ones


def test_trajectory_tables_rank_the_big_two_at_every_step(trained_home):
    result, home, _ = trained_home
    tables = trajectory_tables(result.run_dir, home=home)
    trajectory = tables["trajectory"]
    assert set(trajectory["category"]) == {"Agency", "Communion"}
    assert len(trajectory) == 2 * sum(len(r.checkpoints) for r in result.runs)
    ranks = tables["word_ranks"]
    assert ranks["rank"].between(1, ranks["n_ranked"]).all() and ranks["n_ranked"].nunique() == 1
    changes = tables["word_changes"]
    assert set(changes["base"]) == set(result.config.bases)
    assert (changes["rise"] == changes["rank_first"] - changes["rank_last"]).all()
    assert tables["checkpoints"]["eval_accuracy"].notna().all()
    assert len(tables["training_curves"]) == sum(r.total_steps for r in result.runs)
    # each checkpoint was scored in the template it was trained in
    from engine.store.db import Cache

    runs = Cache(home).list_runs(status="done")
    trained_in = {c["path"]: c["template"] for r in result.runs for c in r.checkpoints}
    assert {m: t for m, t in zip(runs["model_id"], runs["template"])} == trained_in
    # ... as it was trained, and the run rows say how
    assert set(runs["dtype"]) == {c["trained_as"]["dtype"] for r in result.runs for c in r.checkpoints} == {"float32"}
    assert set(runs["head_status"]) == {"trained (LoRA unmerged, adapter float32)"}


def test_a_checkpoint_keeps_the_template_it_was_trained_in(trained_home, tmp_path):
    """gemma3-270m trains in gemma_turns, which "auto" would miss (it ships no chat template)."""
    import shutil

    result, home, _ = trained_home
    folder = shutil.copytree(result.runs[0].checkpoints[-1]["path"], tmp_path / "ckpt")
    manifest = json.loads((folder / "valuescope-model.json").read_text())
    (folder / "valuescope-model.json").write_text(json.dumps({**manifest, "template": "gemma_turns"}))
    spec = resolve_spec(str(folder))
    assert (spec.template, spec.family, spec.kind) == ("gemma_turns", "llama", "reward_model")
    assert spec.revision == "adapter:" + manifest["adapter_sha256"][:16]
    assert trained_specs(home)[manifest["alias"]].template == "chat"


def test_cancel_stops_cleanly_and_keeps_checkpoints(tmp_path, tiny_llama_dir, valuescope_home):
    steps = []
    result = train_comparison(tiny_config(tmp_path, [tiny_llama_dir]), cancel=lambda: len(steps) >= 3,
                              progress=lambda s, t, m: steps.append(s))
    run = result.runs[0]
    assert (result.status, run.status, run.steps_done) == ("stopped", "stopped", 3)
    assert [c["step"] for c in run.checkpoints] == [0, 1, 2]
    assert read_summary(result.run_dir)["status"] == "stopped"
    assert load_model(resolve_spec(run.checkpoints[-1]["alias"]), device="cpu").head_status.startswith("trained")


def test_an_error_mid_run_marks_the_run_failed(tmp_path, tiny_llama_dir):
    def explode(step, total, metrics):
        if step == 3:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        train_comparison(tiny_config(tmp_path, [tiny_llama_dir]), progress=explode)
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "failed" and summary["error"] == "RuntimeError: disk full"
    assert [c["step"] for c in summary["runs"]["tiny-llama"]["checkpoints"]] == [0, 1, 2]


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(tmp_path, tiny_llama_dir, valuescope_home):
    config = tiny_config(tmp_path, [tiny_llama_dir], run_name="broken")
    config = dataclasses.replace(config, out=None, data=str(tmp_path / "cut.jsonl.gz"))
    import gzip

    whole = gzip.compress(b"".join(json.dumps({"chosen": GOOD[i % 5], "rejected": BAD[i % 5]}).encode() + b"\n"
                                   for i in range(500)))
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(Exception, match="cannot read the file"):
        train_comparison(config, home=valuescope_home)
    trained = valuescope_home / "trained"
    assert not (trained / "broken").exists() and not (trained / "broken").is_symlink()
    outside = tmp_path / "elsewhere"  # a folder of the user's, linked into trained/: the link goes, the folder's files stay
    outside.mkdir()
    (outside / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="cannot read the file"):
        train_comparison(dataclasses.replace(config, run_name=None, out=str(outside)), home=valuescope_home)
    assert (outside / "notes.txt").read_text() == "mine" and not (outside / "summary.json").exists()
    assert not list(trained.iterdir())


def test_a_killed_process_leaves_loadable_checkpoints(tmp_path, tiny_llama_dir, valuescope_home):
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(dataclasses.asdict(tiny_config(tmp_path, [tiny_llama_dir]))))
    script = textwrap.dedent(f"""
        import json, os, signal
        from engine.training.config import TrainConfig
        from engine.training.trainer import train_comparison

        def progress(step, total, metrics):
            if step == 5:  # after the step-4 checkpoint, in the middle of training
                os.kill(os.getpid(), signal.SIGKILL)

        train_comparison(TrainConfig(**json.loads(open({str(config_file)!r}).read())), progress=progress)
    """)
    env = {**os.environ, "VALUESCOPE_HOME": str(valuescope_home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "interrupted" and not is_alive(summary)  # killed: it could not say so, the reader does
    specs = trained_specs(valuescope_home)
    assert sorted(specs) == [f"rm-run-tiny-llama-step{n}" for n in (0, 1, 2, 4)]
    assert load_model(specs["rm-run-tiny-llama-step4"], device="cpu").head_status.startswith("trained")
    assert any(e["kind"] == "loss" and e["step"] == 5 for e in read_log(tmp_path / "run"))


def test_an_interrupted_save_is_never_found(tmp_path, valuescope_home):
    class DiesMidSave:  # stands in for a PEFT model whose process dies while saving
        def save_pretrained(self, folder, **kwargs):
            Path(folder).mkdir(parents=True)
            (Path(folder) / "adapter_config.json").write_text("{}")
            raise OSError("killed mid-save")

    folder = valuescope_home / "trained" / "r" / "base" / "step-000008"
    with pytest.raises(OSError):
        save_checkpoint(DiesMidSave(), folder, {"alias": "rm-r-base-step8"})
    assert not folder.exists()
    # even a temporary folder that got as far as its manifest is never taken for a checkpoint
    (leftover,) = folder.parent.iterdir()
    (leftover / "valuescope-model.json").write_text(json.dumps({"alias": "rm-r-base-step8", "adapter_sha256": "0" * 64}))
    assert trained_specs(valuescope_home) == {}


def test_unknown_trainer_args_are_refused(tmp_path, tiny_llama_dir):
    with pytest.raises(ValueError, match="trainer_args: warp_speed is not a RewardConfig"):
        train_comparison(tiny_config(tmp_path, [tiny_llama_dir], trainer_args={"warp_speed": 9}))


def test_seeds_show_their_spread(tmp_path, tiny_llama_dir, valuescope_home):
    """Two seeds of one tiny base: every trajectory row says how many seeds it covers and how far they spread."""
    from engine.training.trajectory import trajectory_wide

    result = train_comparison(tiny_config(tmp_path, [tiny_llama_dir], seeds=[0, 1], max_steps=2))
    assert [(r.key, r.seed) for r in result.runs] == [("tiny-llama/seed0", 0), ("tiny-llama/seed1", 1)]
    steps0 = [r.checkpoints[0]["eval"]["margin"] for r in result.runs]
    assert steps0[0] != steps0[1]  # the seeds give different heads from step 0 on
    tables = trajectory_tables(result.run_dir)
    spread = tables["trajectory_spread"]
    assert (spread["n_seeds"] == 2).all() and len(spread) == 2 * len(result.runs[0].checkpoints)
    assert (spread["sd"] > 0).any() and (spread["min"] <= spread["mean"]).all() and (spread["mean"] <= spread["max"]).all()
    per_seed = tables["trajectory"].groupby(["step", "category"])["median_rank"]
    assert spread.set_index(["step", "category"])["max"].sort_index().tolist() == per_seed.max().sort_index().tolist()
    assert "[" in str(trajectory_wide(tables["trajectory"]).iloc[0, -1])  # "mean [min, max]"
    assert set(tables["checkpoints"]["seed"]) == {0, 1}


def test_the_label_swapped_control_learns_the_opposite(tmp_path, tiny_llama_dir, valuescope_home):
    result = train_comparison(tiny_config(tmp_path, [tiny_llama_dir], swapped_control=True, max_steps=6))
    assert [r.key for r in result.runs] == ["tiny-llama/all", "tiny-llama/all-swapped"]
    real, swapped = (r.checkpoints[-1] for r in result.runs)
    assert (real["swapped"], swapped["swapped"]) == (False, True)
    assert real["eval"]["accuracy"] > 0.5 > swapped["eval"]["accuracy"] and real["eval"]["loss"] < swapped["eval"]["loss"]


def test_a_step_interrupted_by_an_enforced_cancel_is_stopped_not_failed(tmp_path, tiny_llama_dir):
    """The job system's SIGTERM after its grace period arrives as Cancelled, possibly mid-step."""
    from engine.errors import Cancelled

    def slow_step(step, total, metrics):
        if step == 3:
            raise Cancelled("Cancelled: stopped by signal.")

    with pytest.raises(Cancelled):
        train_comparison(tiny_config(tmp_path, [tiny_llama_dir]), progress=slow_step)
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "stopped" and summary["runs"]["tiny-llama"]["status"] == "stopped"
    assert [c["step"] for c in summary["runs"]["tiny-llama"]["checkpoints"]] == [0, 1, 2]


def test_the_train_job_reads_its_typed_request(tmp_path, tiny_llama_dir, valuescope_home):
    """The worker's entry point takes the TrainRequest the page submits, and refuses a newer request version."""
    from types import SimpleNamespace

    from engine.errors import InputError
    from engine.training.jobs import run_training
    from engine.workflows.requests import TrainRequest

    stages = []
    ctx = SimpleNamespace(home=valuescope_home, stage=lambda *a: stages.append(a[0]), progress=lambda *a: None,
                          cancelled=lambda: False)
    config = tiny_config(tmp_path, [tiny_llama_dir], max_steps=2, run_name="job")
    params = {**TrainRequest(dataclasses.asdict(config)).to_params(), "trajectory": False}
    outcome = run_training(params, ctx)
    assert (outcome["status"], outcome["runs"][0]["steps"], outcome["runs"][0]["checkpoints"]) == ("done", 2, 3)
    assert stages == ["training"] and sorted(trained_specs(valuescope_home)) == [f"rm-job-tiny-llama-step{n}" for n in (0, 1, 2)]
    with pytest.raises(InputError, match="newer valuescope"):
        run_training({**params, "version": 99}, ctx)
