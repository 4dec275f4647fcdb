"""The `paper` preset on stand-ins for its real bases (Llama 3.2, Gemma 2, Qwen2.5 tokenizers with their real
chat templates and special tokens), and the authors' training options."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.training.config import preset_config
from engine.training.data import load_pairs
from engine.training.formatting import ComparisonEncoder, encode_conversation, ensure_pad_token
from engine.training.prepare import prepare_comparison
from helpers import make_family_tokenizer

QUESTIONS = ["What, in one word, is the greatest thing ever?", "What is the best thing in the world?"]


def write_pairs(path: Path, n: int = 40, system: bool = False) -> Path:
    rows = []
    for i in range(n):
        prompt = ([{"role": "system", "content": "Be brief."}] if system else []) + \
            [{"role": "user", "content": QUESTIONS[i % 2] + " Please answer in one word." * (i % 4)}]
        rows.append({"chosen": prompt + [{"role": "assistant", "content": "Love. Peace of mind."}],
                     "rejected": prompt + [{"role": "assistant", "content": "War."}]})
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_llama3_pad_is_not_the_end_of_turn_token(tmp_path):
    """Llama 3 ends every message with eos (<|eot_id|>) and ships no pad: pad = eos would drop every pair."""
    tokenizer = make_family_tokenizer("llama3")
    pairs = load_pairs(str(write_pairs(tmp_path / "p.jsonl"))).pairs
    encoder = ComparisonEncoder(pairs, {"llama": (tokenizer, "auto")}, 256)
    kept, dropped = encoder.take(range(len(pairs)))
    assert len(kept) == len(pairs) and not dropped
    assert tokenizer.pad_token == "<|finetune_right_pad_id|>" and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert encoder.encode(0)["llama"][0][-1] == tokenizer.eos_token_id  # the reward is read at <|eot_id|>


def test_without_a_reserved_pad_token_pad_is_added_as_the_authors_did():
    tokenizer = make_family_tokenizer("llama3", finetune_pad=False)
    size = len(tokenizer)
    assert ensure_pad_token(tokenizer) is True
    assert tokenizer.pad_token == "[PAD]" and tokenizer.pad_token_id == size and len(tokenizer) == size + 1
    assert ensure_pad_token(tokenizer) is False  # once only
    gemma = make_family_tokenizer("gemma2")
    assert ensure_pad_token(gemma) is False and gemma.pad_token == "<pad>"


def test_no_usable_pair_quotes_the_counted_reasons(tmp_path):
    """Gemma 2's template refuses a system turn: the message says so instead of "raise max_length"."""
    pair_set = load_pairs(str(write_pairs(tmp_path / "p.jsonl", system=True)))
    config = preset_config("paper", eval_pairs=4)
    with pytest.raises(ValueError, match=r"40 template error") as caught:
        prepare_comparison(config, pair_set, {"gemma": (make_family_tokenizer("gemma2"), "auto")})
    assert "raise max_length" not in str(caught.value)


def test_truncate_right_keeps_every_pair_cut_to_its_first_tokens(tmp_path):
    tokenizer = make_family_tokenizer("gemma2")
    pairs = load_pairs(str(write_pairs(tmp_path / "p.jsonl"))).pairs
    full = encode_conversation(tokenizer, "chat", pairs[3].chosen)
    encoder = ComparisonEncoder(pairs, {"g": (tokenizer, "chat")}, 30, overlong="truncate_right")
    kept, dropped = encoder.take(range(len(pairs)))
    assert len(kept) == len(pairs) and not dropped and encoder.truncated["g"] > 0
    assert len(full) > 30 and encoder.encode(3)["g"][0] == full[:30]
    dropping = ComparisonEncoder(pairs, {"g": (make_family_tokenizer("gemma2"), "chat")}, 30)
    assert dropping.take(range(len(pairs)))[1]["too_long"] > 0  # the default drops them instead


def test_llama3_template_bos_and_pinned_date(tmp_path):
    """One BOS as the search scores; two with add_special_tokens (the authors' encode_plus); the date pinned."""
    tokenizer = make_family_tokenizer("llama3")
    pairs = load_pairs(str(write_pairs(tmp_path / "p.jsonl"))).pairs
    bos = tokenizer.bos_token_id
    once = ComparisonEncoder(pairs, {"l": (tokenizer, "auto")}, 512, template_date="26 Jul 2024").encode(0)["l"][0]
    twice = ComparisonEncoder(pairs, {"l": (make_family_tokenizer("llama3"), "auto")}, 512, add_special_tokens=True,
                              template_date="26 Jul 2024").encode(0)["l"][0]
    assert once[:2].count(bos) == 1 and twice[:2] == [bos, bos] and twice[1:] == once
    assert "Today Date: 26 Jul 2024" in tokenizer.decode(once)
    unpinned = make_family_tokenizer("llama3")
    rendered = unpinned.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, date_string="1 Jan 2030")
    assert "Today Date: 1 Jan 2030" in rendered  # the template really reads the date


def test_held_out_from_another_source_and_every_kth_over_all_pairs(tmp_path):
    """The authors' Unified-Feedback setup: every k-th over the whole train split, its `val` split held out."""
    pair_set = load_pairs(str(write_pairs(tmp_path / "train.jsonl", 40)))
    eval_set = load_pairs(str(write_pairs(tmp_path / "val.jsonl", 6)))
    config = preset_config("paper", every_k=[4], eval_data=str(tmp_path / "val.jsonl"))
    data = prepare_comparison(config, pair_set, {"g": (make_family_tokenizer("gemma2"), "auto")}, eval_set)
    assert data.variants[0].train == list(range(0, 40, 4))
    assert data.held_out == list(range(40, 46)) and data.report()["eval_source"].startswith("6 pairs")


def test_paper_preset_trains_llama3_and_gemma2_stand_ins(tmp_path, capsys):
    """`valuescope train --preset paper` gets past data preparation for both of the paper's base families."""
    from engine import cli
    from engine.training.runlog import read_summary
    from helpers import make_tiny_model_dir

    llama = make_tiny_model_dir(tmp_path / "tiny-llama3", "llama", tokenizer=make_family_tokenizer("llama3"))
    gemma = make_tiny_model_dir(tmp_path / "tiny-gemma2", "gemma2", tokenizer=make_family_tokenizer("gemma2"))
    data = write_pairs(tmp_path / "p.jsonl")
    code = cli.main(["--home", str(tmp_path / "home"), "train", "--preset", "paper", "--base", f"{llama},{gemma}",
                     "--data", str(data), "--eval-pairs", "8", "--max-steps", "1", "--gradient-accumulation-steps", "1", "--out", str(tmp_path / "run"),
                     "--no-trajectory"])
    err = capsys.readouterr().err
    assert code == 0, err
    summary = read_summary(tmp_path / "run")
    assert summary["data"]["held_out"] == 8 and summary["data"]["variants"][0]["train_pairs"] == 32
    assert summary["data"]["templates"] == {str(llama): "chat", str(gemma): "chat"}
    checkpoints = [c for run in summary["runs"].values() for c in run["checkpoints"]]
    assert [c["step"] for c in checkpoints] == [0, 1, 0, 1]
    manifest = json.loads((Path(checkpoints[1]["path"]) / "valuescope-model.json").read_text())
    assert manifest["pad_token"] == "<|finetune_right_pad_id|>" and not manifest["pad_added"]
    assert manifest["trained_as"] == {"device": "cpu", "dtype": "float32", "quantization": "none",
                                      "adapter_dtype": "float32", "seed": 0}


def _tiny_run(tmp_path, base, **overrides):
    from engine.training.trainer import train_comparison

    settings = dict(bases=[str(base)], data=str(write_pairs(tmp_path / "p.jsonl")), pairs=[0], eval_pairs=8,
                    max_steps=4, learning_rate=3e-3, lora_r=4, lora_alpha=8, max_length=512, prompts=["greatest_ever_one"],
                    out=str(tmp_path / "run"))
    return train_comparison(preset_config("cpu-demo", **{**settings, **overrides}), home=tmp_path / "home")


def test_bf16_checkpoint_with_added_pad_scores_as_recorded(tmp_path):
    """A bf16 run whose tokenizer needed "[PAD]": the engine loads it as trained (bf16, adapter unmerged,
    pad added and embeddings resized) and its held-out metrics equal those recorded at training time."""
    from engine.models.loading import load_adapter_checkpoint
    from engine.models.registry import resolve_spec
    from engine.training.loop import preference_metrics
    from helpers import make_tiny_model_dir

    base = make_tiny_model_dir(tmp_path / "tiny-llama3", "llama", tokenizer=make_family_tokenizer("llama3", finetune_pad=False))
    result = _tiny_run(tmp_path, base, dtype="bfloat16")
    last = result.runs[0].checkpoints[-1]
    assert last["pad_added"] and last["trained_as"]["dtype"] == "bfloat16" and last["trained_as"]["adapter_dtype"] == "float32"
    tokenizer = make_family_tokenizer("llama3", finetune_pad=False)
    data = prepare_comparison(result.config, load_pairs(result.config.data), {str(base): (tokenizer, "auto")})
    columns = data.encoder.columns(data.held_out, str(base))
    spec = resolve_spec(last["path"])
    lm = load_adapter_checkpoint(spec, device="cpu", home=tmp_path / "home")  # dtype "auto" = as trained
    assert lm.dtype == "bfloat16" and lm.head_status == "trained (LoRA unmerged, adapter float32)"
    assert lm.tokenizer.pad_token_id == tokenizer.pad_token_id == last["pad_token_id"]
    again = preference_metrics(lm.model, columns, lm.tokenizer.pad_token_id)
    assert (again["loss"], again["margin"], again["accuracy"]) == \
        (last["eval"]["loss"], last["eval"]["margin"], last["eval"]["accuracy"])
    merged = load_adapter_checkpoint(spec, device="cpu", home=tmp_path / "home", merge=True)
    rounded = preference_metrics(merged.model, columns, lm.tokenizer.pad_token_id)
    assert rounded["margin"] != last["eval"]["margin"]  # merging into bf16 rounds the LoRA delta away in part
