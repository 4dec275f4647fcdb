"""`valuescope train`'s options, parsed as TRL's own scripts parse theirs (trl/scripts/reward.py): one
`trl.TrlParser` over several dataclasses, every field under its library's own name.

- TrainArguments: valuescope's fields of TrainConfig (which bases and pairs, how checkpoints are scored),
  with the flags engine.config_fields generates for every command (lists comma-separated: `--base a,b`;
  booleans `--swapped-control` / `--no-swapped-control`);
- TRL's RewardConfig (learning_rate, num_train_epochs, max_steps, per_device_train_batch_size, ... and
  every other TrainingArguments option) and TRL's ModelConfig (lora_r, lora_alpha, lora_dropout,
  lora_target_modules, dtype), with the flags TRL's parser generates (`--lora_target_modules q_proj v_proj`;
  booleans `--gradient_checkpointing false`).

Values come, last one winning, from TrainConfig's defaults, the preset (presets/<name>.yaml), `--config
FILE.yaml` (read by TrlParser itself; field names of any of the three classes) and the flags. RewardConfig
options that TrainConfig does not hold (e.g. center_rewards_coefficient) are kept in `trainer_args`, which
the trainer passes to its RewardConfig; a ModelConfig option training does not use, a refused one or an
unknown name stops with one line. The result is a TrainConfig checked by `preset_config`, the same call
the Training page makes with its form's values.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing

import yaml
from trl import ModelConfig, RewardConfig, TrlParser

from engine.config_fields import add_dataclass_arguments
from engine.errors import InputError
from engine.training.config import PRESETS, TrainConfig, preset_config
from engine.training.loop import REWARD_CONFIG_FIELDS as REWARD_FIELDS  # TrainConfig holds these under TRL's names


def _names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init}


MODEL_FIELDS = sorted(_names(TrainConfig) & _names(ModelConfig))
_NOT_FLAGS = ("preset", "trainer_args")  # --preset is read first; trainer_args collects RewardConfig's other flags
_REFUSED = {"output_dir": "give the run's folder with --out",
            "trust_remote_code": "training loads every base through the registry, never with repository code"}
_HINTS = typing.get_type_hints(TrainConfig)
# Defaults are None: the parser's defaults are set from TrainConfig and the preset before each parse.
TrainArguments = dataclasses.make_dataclass("TrainArguments", [
    (f.name, _HINTS[f.name], dataclasses.field(default=None, metadata=f.metadata))
    for f in dataclasses.fields(TrainConfig) if f.name not in {*REWARD_FIELDS, *MODEL_FIELDS, *_NOT_FLAGS}])
_FLAGS = {f.name: ("--base", "--bases") if f.name == "bases" else tuple(dict.fromkeys(
    ("--" + f.name.replace("_", "-"), "--" + f.name))) for f in dataclasses.fields(TrainArguments)}


class TrainParser(TrlParser):
    """TRL's parser; valuescope's own fields get the flags engine.config_fields generates for every command."""

    def _add_dataclass_arguments(self, dtype):
        if dtype is TrainArguments:
            add_dataclass_arguments(self, dtype, only_given=True, flags=_FLAGS)
        else:
            super()._add_dataclass_arguments(dtype)


def train_parser(preset: str = "cpu-demo") -> TrainParser:
    """The parser with TrainConfig's defaults, then `preset`'s, as its defaults (shown by --help)."""
    if preset not in PRESETS:
        raise InputError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    parser = TrainParser((TrainArguments, RewardConfig, ModelConfig), prog="valuescope train", allow_abbrev=False,
                         description="Train Bradley-Terry reward models from several bases on the same preference "
                                     "pairs, then rank the Big Two words at every checkpoint.")
    parser.add_argument("--preset", choices=tuple(PRESETS), default="cpu-demo",
                        help="Named settings to start from (presets/<name>.yaml); --config and flags override them.")
    parser.add_argument("--config", metavar="FILE.yaml", help="Options in a YAML file (TRL's --config: field names "
                        "as below, e.g. learning_rate: 1.0e-4); flags given here override them.")
    parser.add_argument("--no-trajectory", action="store_true", help="Train only; do not score the checkpoints.")
    defaults = {k: v for k, v in {**dataclasses.asdict(TrainConfig()), **PRESETS[preset]}.items() if k not in _NOT_FLAGS}
    # bf16 is chosen per base from its dtype when training starts; False here lets RewardConfig check on a CPU.
    unknown = parser.set_defaults_with_config(bf16=False, **defaults)
    if unknown:
        raise InputError(f"Preset {preset}: unknown option(s) {' '.join(unknown[::2])}.")
    return parser


def _given(parser: TrainParser, argv: list[str]) -> set[str]:
    """The field names the command line and its --config file set (not those left at a default)."""
    given = set()
    for i, token in enumerate(argv):
        action = parser._option_string_actions.get(token.split("=", 1)[0])  # TrlParser reads them the same way
        if action is not None:
            given.add(action.dest)
        if token == "--config" and i + 1 < len(argv):
            try:
                with open(argv[i + 1], encoding="utf-8") as file:
                    values = yaml.safe_load(file)
            except (OSError, yaml.YAMLError) as exc:
                raise InputError(f"--config {argv[i + 1]}: cannot read it ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0]}).") from None
            if not isinstance(values, dict):
                raise InputError(f"--config {argv[i + 1]}: expected a mapping of training options.")
            given |= set(values) - {"env"}
    return given


def parse_train_args(argv: list[str]) -> tuple[TrainConfig, argparse.Namespace]:
    """(the run's TrainConfig, the command's own options: preset, no_trajectory) from `valuescope train` arguments."""
    argv = list(argv)
    first = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    first.add_argument("--preset", default="cpu-demo")
    parser = train_parser(first.parse_known_args(argv)[0].preset)
    given = _given(parser, argv)
    refused = sorted(given & set(_REFUSED))
    unused = sorted(given & (_names(ModelConfig) - set(MODEL_FIELDS)))
    if refused:
        raise InputError(f"--{refused[0]}: {_REFUSED[refused[0]]}.")
    if unused:
        raise InputError(f"--{unused[0]}: a ModelConfig option valuescope train does not use (it uses "
                         f"{', '.join(MODEL_FIELDS)}).")
    try:
        script, reward, model, own, unknown = parser.parse_args_and_config(argv, return_remaining_strings=True)
    except ValueError as exc:  # a value RewardConfig refuses (e.g. bf16 on a CPU): the user's to fix
        raise InputError(f"valuescope train: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
    if unknown:  # from the command line or the --config file
        raise InputError(f"Unknown training option(s): {' '.join(t for t in unknown if t.startswith('-'))}; "
                         "`valuescope train --help` lists them.")
    reward_values = reward.to_dict()  # enums as their values
    extra = sorted(given & (_names(RewardConfig) - set(REWARD_FIELDS)))
    config = preset_config(own.preset, **{f.name: getattr(script, f.name) for f in dataclasses.fields(script)},
                           **{name: reward_values[name] for name in REWARD_FIELDS},
                           **{name: getattr(model, name) for name in MODEL_FIELDS},
                           trainer_args={name: reward_values[name] for name in extra})
    return config, own
