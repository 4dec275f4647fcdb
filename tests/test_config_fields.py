"""One reading of a settings field for the CLI's options and the app's widgets (engine.config_fields),
general enough for TRL's and PEFT's own dataclasses."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest

from engine.config_fields import add_dataclass_arguments, field_specs, from_namespace, parse_value
from engine.configs import SearchConfig
from engine.errors import InputError


@dataclass
class Example:
    rate: float = field(default=1e-4, metadata={"help": "Learning rate."})
    steps: int | None = None
    layers: list[int] = field(default_factory=lambda: [0, 1])
    names: list[str] | None = None
    extra: dict = field(default_factory=dict)
    bias: Literal["none", "all"] = "none"
    packed: bool = True


def test_fields_are_read_once_from_types_and_metadata():
    specs = {s.name: s for s in field_specs(Example)}
    assert (specs["rate"].kind, specs["rate"].help) == ("float", "Learning rate.")
    assert (specs["steps"].kind, specs["steps"].optional) == ("int", True)
    assert specs["layers"].kind == "list[int]" and specs["layers"].default == [0, 1]
    assert specs["bias"].choices == ("none", "all") and specs["extra"].kind == "dict"
    assert parse_value(specs["layers"], "3, 4") == [3, 4] and parse_value(specs["steps"], "") is None
    with pytest.raises(InputError, match="--steps"):
        parse_value(specs["steps"], "many")


def test_only_given_options_override_a_preset():
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, Example, only_given=True)
    args = parser.parse_args(["--rate", "3e-5", "--layers", "2,3", "--no-packed", "--extra", '{"a": 1}'])
    assert from_namespace(Example, args, only_given=True) == {"rate": 3e-5, "layers": [2, 3], "packed": False,
                                                            "extra": {"a": 1}}
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, SearchConfig)
    config = from_namespace(SearchConfig, parser.parse_args(["--batch-size", "8", "--mode", "reward"]))
    assert (config.batch_size, config.mode, config.template, config.trust_remote_code) == (8, "reward", "auto", False)


def test_trl_and_peft_dataclasses_keep_their_own_field_names():
    trl = pytest.importorskip("trl")
    peft = pytest.importorskip("peft")
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, trl.RewardConfig, only_given=True)
    add_dataclass_arguments(parser, peft.LoraConfig, only_given=True,
                            skip=tuple(s.name for s in field_specs(trl.RewardConfig)))
    args = parser.parse_args(["--learning-rate", "2e-5", "--gradient-accumulation-steps", "4", "--r", "16",
                              "--lora-alpha", "32", "--bias", "none"])
    assert from_namespace(trl.RewardConfig, args, only_given=True) == {"learning_rate": 2e-5,
                                                                        "gradient_accumulation_steps": 4}
    assert from_namespace(peft.LoraConfig, args, only_given=True) == {"r": 16, "lora_alpha": 32, "bias": "none"}


def _form():
    import streamlit as st

    from app.ui.widgets import config_widgets
    from test_config_fields import Example

    st.session_state["values"] = config_widgets(Example, skip=(), defaults={"steps": 5})


def test_widgets_are_generated_from_the_same_fields():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_form).run()
    assert not at.exception, at.exception
    assert at.session_state["values"] == {"rate": 1e-4, "steps": 5, "layers": [0, 1], "names": None, "extra": {},
                                          "bias": "none", "packed": True}
    at.text_input(key="layers").set_value("7, 8").run()
    assert at.session_state["values"]["layers"] == [7, 8]
