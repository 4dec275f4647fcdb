"""Preference data for reward-model training: formats, validation messages, templates, subsetting."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from engine.scoring.templates import build_framing
from engine.training.config import TrainConfig, preset_config
from engine.training.data import PreferenceDataError, every_kth, held_out_order, load_pairs, parse_hh_dialogue
from engine.training.formatting import ComparisonEncoder, encode_conversation, render_conversation
from engine.training.prepare import prepare_comparison
from helpers import ROOT, make_tokenizer

REAL_HH = ROOT.parent / "shared" / "preference" / "hh_rlhf_harmless_base_test.jsonl.gz"
Q = "What, in one word, is the greatest thing ever?"


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def conv(*turns):
    return [{"role": role, "content": text} for role, text in turns]


# ---- formats ---------------------------------------------------------------------------------------
def test_hh_plain_text_is_parsed_into_turns(tmp_path):
    chosen = "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: Best thing?\n\nAssistant: Love."
    rejected = "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: Best thing?\n\nAssistant: War."
    path = tmp_path / "hh.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"chosen": chosen, "rejected": rejected}) + "\n")
    (pair,) = load_pairs(str(path)).pairs
    assert pair.chosen == (("user", "Hi there"), ("assistant", "Hello!"), ("user", "Best thing?"), ("assistant", "Love."))
    assert pair.rejected[-1] == ("assistant", "War.") and pair.rejected[:-1] == pair.chosen[:-1]
    assert pair.where == "hh.jsonl.gz, line 1"


def test_hh_consecutive_turns_of_one_speaker_merge():
    turns = parse_hh_dialogue("\n\nHuman: one\n\nHuman: two\n\nAssistant: three")
    assert turns == [("user", "one\n\ntwo"), ("assistant", "three")]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
def test_every_format_with_and_without_prompt_column(tmp_path, suffix):
    rows = [
        {"prompt": Q, "chosen": "Love.", "rejected": "War."},  # plain text, explicit prompt
        {"chosen": conv(("user", Q), ("assistant", "Peace.")), "rejected": conv(("user", Q), ("assistant", "Hate."))},
        {"prompt": conv(("system", "Be brief."), ("user", Q)), "chosen": conv(("assistant", "Kindness.")),
         "rejected": conv(("assistant", "Cruelty."))},  # TRL's explicit-prompt conversational format
    ]
    path = tmp_path / f"pairs{suffix}"
    if suffix == ".jsonl":
        write_jsonl(path, rows)
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:  # conversations as JSON text in the cells
        pd.DataFrame([{k: json.dumps(v) if isinstance(v, list) else v for k, v in {"prompt": "", **r}.items()}
                      for r in rows]).to_csv(path, index=False)
    pairs = load_pairs(str(path)).pairs
    assert [p.chosen for p in pairs] == [
        (("user", Q), ("assistant", "Love.")),
        (("user", Q), ("assistant", "Peace.")),
        (("system", "Be brief."), ("user", Q), ("assistant", "Kindness.")),
    ]
    assert pairs[2].rejected[-1] == ("assistant", "Cruelty.")


def test_parquet_conversations_and_plain_text(tmp_path):
    pd.DataFrame({"chosen": [conv(("user", Q), ("assistant", "Peace."))],
                  "rejected": [conv(("user", Q), ("assistant", "Hate."))]}).to_parquet(tmp_path / "c.parquet")
    pd.DataFrame({"prompt": [Q], "chosen": ["Love."], "rejected": ["War."]}).to_parquet(tmp_path / "p.parquet")
    assert load_pairs(str(tmp_path / "c.parquet")).pairs[0].rejected == (("user", Q), ("assistant", "Hate."))
    assert load_pairs(str(tmp_path / "p.parquet")).pairs[0].chosen == (("user", Q), ("assistant", "Love."))


# ---- validation: one clear line naming the file, the line/row and the problem -----------------------
def _error(path, **kwargs) -> str:
    with pytest.raises((PreferenceDataError, FileNotFoundError)) as info:
        load_pairs(str(path), **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_column_messages(tmp_path):
    assert _error(write_jsonl(tmp_path / "a.jsonl", [{"chosen": "x", "rejected": "y", "prompt": "q"},
                                                     {"chosen": "x", "prompt": "q"}])) == \
        "a.jsonl, line 2: missing column 'rejected' (found: chosen, prompt)"
    pd.DataFrame({"good": ["x"], "rejected": ["y"]}).to_csv(tmp_path / "b.csv", index=False)
    assert _error(tmp_path / "b.csv") == "b.csv: missing column 'chosen' (found: good, rejected)"


def test_not_json_names_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n\n{not json\n")
    assert _error(path).startswith("c.jsonl, line 3: not JSON (")


def test_unknown_format_and_missing_file(tmp_path):
    (tmp_path / "d.txt").write_text("chosen,rejected\n")
    assert "d.txt: unknown format; use one of .jsonl, .jsonl.gz, .json, .csv, .parquet" in _error(tmp_path / "d.txt")
    assert "No preference file" in _error(tmp_path / "nothing.jsonl")
    (tmp_path / "plain.jsonl.gz").write_text('{"chosen": "a", "rejected": "b"}')
    assert _error(tmp_path / "plain.jsonl.gz").startswith("plain.jsonl.gz, line 1: cannot read the file (BadGzipFile")


def test_a_truncated_gzip_and_a_deeply_nested_json_are_one_line(tmp_path, capsys):
    from engine.cli import main
    from helpers import single_error_line

    whole = gzip.compress("".join(json.dumps({"chosen": f"a{i}", "rejected": f"b{i}"}) + "\n"
                                  for i in range(2000)).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    assert "cut.jsonl.gz, line" in _error(tmp_path / "cut.jsonl.gz") and "cannot read the file" in _error(
        tmp_path / "cut.jsonl.gz")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert _error(tmp_path / "deep.json") == "deep.json: nested too deeply to be preference pairs (a list of objects)"
    (tmp_path / "deep.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    assert _error(tmp_path / "deep.jsonl").startswith("deep.jsonl, line 1: nested too deeply")
    for name in ("cut.jsonl.gz", "deep.json"):  # the command line says the same in one line
        capsys.readouterr()
        assert main(["train", "--base", "smollm2-135m-instruct", "--data", str(tmp_path / name)]) == 2
        assert name in single_error_line(capsys.readouterr().err)


def test_bad_pairs_stop_or_are_skipped_and_counted(tmp_path):
    rows = [{"prompt": "q", "chosen": "a", "rejected": "b"},
            {"prompt": "q", "chosen": "  ", "rejected": "b"},
            {"prompt": "q", "chosen": "same", "rejected": "same"},
            {"chosen": "no dialogue markers", "rejected": "b"}]
    path = write_jsonl(tmp_path / "e.jsonl", rows)
    assert _error(path, bad_rows="error") == "e.jsonl, line 2: empty reply"
    assert _error(write_jsonl(tmp_path / "f.jsonl", rows[2:3]), bad_rows="error") == \
        "f.jsonl, line 1: chosen identical to rejected"
    assert "f2.jsonl, line 1: plain text without a prompt column must be an HH-RLHF dialogue" in \
        _error(write_jsonl(tmp_path / "f2.jsonl", rows[3:]), bad_rows="error")
    loaded = load_pairs(str(path))
    assert len(loaded.pairs) == 1
    assert loaded.skipped == {"empty reply": 1, "chosen identical to rejected": 1,
                              "plain text without a prompt column must be an HH-RLHF dialogue "
                              "('\\n\\nHuman: ...\\n\\nAssistant: ...')": 1}
    assert loaded.first_skipped["empty reply"] == "e.jsonl, line 2"
    assert "no usable preference pairs in 1 rows; first problem: empty reply at g.jsonl, line 1" in \
        _error(write_jsonl(tmp_path / "g.jsonl", rows[1:2]))


def test_hub_dataset_offline_fails_with_one_line():
    message = _error("Anthropic/hh-rlhf")
    assert message.startswith("Cannot load hub dataset 'Anthropic/hh-rlhf'") and "local file" in message


# ---- templates: the same text and ids the token search scores ----------------------------------------
@pytest.mark.parametrize("template", ["chat", "gemma_turns", "plain"])
def test_one_turn_conversation_matches_the_search_framing(template):
    tokenizer = make_tokenizer()
    framing = build_framing(tokenizer, Q, template)
    for reply in ("Love.", " freedom", "Peace of mind."):
        ids = encode_conversation(tokenizer, template, (("user", Q), ("assistant", reply)))
        assert ids == list(framing.prefix_ids) + framing.reply_ids(tokenizer, reply)


def test_multi_turn_rendering_per_template():
    tokenizer = make_tokenizer()
    turns = (("system", "Be kind."), ("user", "Hi"), ("assistant", "Hello"), ("user", Q), ("assistant", "Love."))
    chat, special = render_conversation(tokenizer, "chat", turns)
    assert chat == tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in turns], tokenize=False)
    assert not special
    gemma, _ = render_conversation(tokenizer, "gemma_turns", turns)
    assert gemma == ("<bos><start_of_turn>user\nBe kind.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
                     f"<start_of_turn>user\n{Q}<end_of_turn>\n<start_of_turn>model\nLove.<end_of_turn>\n")
    assert render_conversation(tokenizer, "plain", turns) == (f"Be kind.\nHi\nHello\n{Q}\nLove.", True)


# ---- subsetting: deterministic and identical for every base --------------------------------------------
def _pairs_file(tmp_path, n=40):
    rows = [{"prompt": f"Question {i}? " + "and more words " * (i % 7), "chosen": f"Yes {i}.", "rejected": f"No {i}."}
            for i in range(n)]
    return str(write_jsonl(tmp_path / "p.jsonl", rows))


def test_held_out_and_every_kth_are_deterministic():
    assert held_out_order(100, 10, seed=3) == held_out_order(100, 10, seed=3)
    assert held_out_order(100, 10, seed=3)[1] != held_out_order(100, 10, seed=4)[1]
    assert held_out_order(1000, 0, 0.005)[0] == 5
    assert every_kth(list(range(10)), 4) == [0, 4, 8]
    with pytest.raises(ValueError, match="leaves no training pairs"):
        held_out_order(5, 5)


def test_comparison_data_is_the_same_for_every_base_and_variant(tmp_path):
    pair_set = load_pairs(_pairs_file(tmp_path))
    small_vocab = make_tokenizer(vocab_size=270)  # longer ids for the same text than the 300-token one
    tokenizers = {"a": (make_tokenizer(), "chat"), "b": (small_vocab, "gemma_turns")}
    # chat ids of these pairs are 34-82 long, gemma_turns ids under the small vocabulary 88-154
    config = preset_config("cpu-demo", eval_pairs=5, pairs=[6, 0], every_k=[1, 3], max_length=112)
    data = prepare_comparison(config, pair_set, tokenizers)
    again = prepare_comparison(config, pair_set, {"a": (make_tokenizer(), "chat"), "b": (make_tokenizer(270), "gemma_turns")})
    assert data.held_out == again.held_out and [v.train for v in data.variants] == [v.train for v in again.variants]
    assert len(data.held_out) == 5 and not set(data.held_out) & set(data.variants[1].train)
    assert [v.label for v in data.variants] == ["first6", "all", "every3-first6", "every3"]
    assert len(data.variants[0].train) == 6 and data.variants[0].train == data.variants[1].train[:6]
    # a pair too long for base b is dropped for base a as well
    assert data.variants[1].dropped["too_long"] > 0
    dropped = [i for i, why in data.encoder.reasons.items() if why == "too_long"]
    assert dropped and all(len(encode_conversation(make_tokenizer(), "chat", pair_set.pairs[i].chosen)) <= 112
                           for i in dropped)
    for index in data.variants[1].train + data.held_out:
        assert all(len(ids) <= 112 for base in "ab" for ids in data.encoder.encode(index)[base])
    a, b = (data.encoder.columns(data.variants[1].train, base) for base in "ab")
    assert len(a["chosen_ids"]) == len(b["chosen_ids"]) and a != b


def test_truncate_left_keeps_the_end_of_every_conversation(tmp_path):
    pair_set = load_pairs(_pairs_file(tmp_path))
    tokenizer = make_tokenizer()
    encoder = ComparisonEncoder(pair_set.pairs, {"a": (tokenizer, "chat")}, 30, overlong="truncate_left")
    kept, dropped = encoder.take(range(len(pair_set.pairs)))
    assert len(kept) == 40 and not dropped and encoder.truncated["a"] > 0
    full = encode_conversation(tokenizer, "chat", pair_set.pairs[6].chosen)
    assert len(full) > 30 and encoder.encode(6)["a"][0] == full[-30:]


def test_real_hh_rlhf_file():
    if not REAL_HH.exists():
        pytest.skip(f"{REAL_HH} is not here")
    loaded = load_pairs(str(REAL_HH))
    assert (loaded.n_rows, len(loaded.pairs), dict(loaded.skipped)) == (2312, 2308, {"empty reply": 4})
    first = loaded.pairs[0]
    assert first.chosen[0][0] == "user" and first.chosen[-1][0] == "assistant" and first.chosen != first.rejected


# ---- settings -----------------------------------------------------------------------------------------
def test_presets_and_parsing():
    assert TrainConfig() == preset_config("paper")
    demo = preset_config("cpu-demo", learning_rate=1e-4, pairs=[100, 200])
    assert (demo.learning_rate, demo.pairs, demo.bases) == (1e-4, [100, 200], ["smollm2-135m-instruct", "gemma3-270m"])
    with pytest.raises(ValueError, match="Unknown training option"):
        preset_config("cpu-demo", lr=1)  # TRL's names only: learning_rate
    with pytest.raises(ValueError, match="overlong must be one of drop, truncate_left, truncate_right"):
        preset_config("cpu-demo", overlong="cut")


def test_presets_are_yaml_files_in_the_libraries_names():
    """Every preset file holds only TrainConfig fields; the RewardConfig ones carry TRL's names and pass through."""
    import dataclasses

    import yaml

    from engine.training.config import PRESET_DIR, PRESETS
    from engine.training.loop import REWARD_CONFIG_FIELDS, build_reward_config

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) == sorted(PRESETS)
    for name in PRESETS:
        assert set(yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text())) <= fields
    # TrainConfig holds RewardConfig's training fields under TRL's own names (no `lr`, `grad_accum`)
    assert {"learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size", "seed",
            "gradient_accumulation_steps", "lr_scheduler_type", "max_grad_norm", "max_length"} <= set(REWARD_CONFIG_FIELDS)
    authors = preset_config("paper-authors")
    assert (authors.overlong, authors.adapter_dtype, authors.add_special_tokens, authors.seed) == \
        ("truncate_right", "base", True, 42)
    assert authors.bases[-1] == "Qwen/Qwen2.5-3B-Instruct" and preset_config("cpu-demo").data == str(REAL_HH.resolve())
    args = build_reward_config(preset_config("cpu-demo", max_steps=7), Path("/tmp/x"), "cpu", bf16=False)
    assert (args.learning_rate, args.max_steps, args.gradient_accumulation_steps, args.lr_scheduler_type) == \
        (3e-4, 7, 1, "cosine")
