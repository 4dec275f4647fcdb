"""`valuescope train` parses TRL's RewardConfig, TRL's ModelConfig and valuescope's own arguments with TRL's
TrlParser: presets and --config YAML files, flags overriding them, unknown names refused in one line."""
from __future__ import annotations

import pytest

from engine.cli import main
from engine.errors import UserError
from engine.training.arguments import parse_train_args
from engine.training.config import PRESETS, preset_config
from engine.training.loop import build_lora_config, build_reward_config
from helpers import single_error_line


def test_a_yaml_preset_and_flags_parse_to_the_reward_and_lora_configs(tmp_path):
    (tmp_path / "mine.yaml").write_text("learning_rate: 1.0e-4\nseeds: [0, 1, 2]\nlora_r: 8\n"
                                        "center_rewards_coefficient: 0.01\nswapped_control: true\n")
    config, own = parse_train_args(["--preset", "paper", "--config", str(tmp_path / "mine.yaml"), "--lora-r", "4",
                                    "--lora_target_modules", "q_proj", "v_proj", "--base", "a,b",
                                    "--no-swapped-control", "--weight_decay", "0.1", "--no-trajectory"])
    assert own.no_trajectory and config.preset == "paper"
    assert (config.learning_rate, config.seeds, config.bases, config.swapped_control) == (1e-4, [0, 1, 2], ["a", "b"], False)
    assert config.trainer_args == {"center_rewards_coefficient": 0.01, "weight_decay": 0.1}  # RewardConfig's others
    reward = build_reward_config(config, tmp_path / "out", "cpu", bf16=False)
    assert (reward.learning_rate, reward.center_rewards_coefficient, reward.weight_decay) == (1e-4, 0.01, 0.1)
    assert (reward.lr_scheduler_type, reward.gradient_accumulation_steps, reward.max_grad_norm) == ("cosine", 4, 5.0)
    lora = build_lora_config(config)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, sorted(lora.target_modules)) == (4, 64, 0.05, ["q_proj", "v_proj"])


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_preset_alone_parses_to_the_preset(preset):
    assert parse_train_args(["--preset", preset])[0] == preset_config(preset)


def test_unknown_or_unused_options_stop_with_one_line(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("lr: 1.0e-4\n")
    for argv, message in ((["--lr", "1"], "Unknown training option(s): --lr"),
                          (["--config", str(tmp_path / "bad.yaml")], "Unknown training option(s): --lr"),
                          (["--use_peft", "true"], "--use_peft: a ModelConfig option valuescope train does not use"),
                          (["--trust_remote_code", "true"], "never with repository code"),
                          (["--preset", "gpu"], "Unknown preset 'gpu'")):
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_train_args(argv)
        capsys.readouterr()
        assert main(["train", *argv]) == 2
        assert message in single_error_line(capsys.readouterr().err)


def test_train_help_lists_every_librarys_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert exit_.value.code == 0
    for flag in ("--base", "--swapped-control", "--learning_rate", "--center_rewards_coefficient", "--lora_r", "--config"):
        assert flag in text
