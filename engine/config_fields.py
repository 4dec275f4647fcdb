"""Settings dataclasses as command-line options and form fields: the one reading of a field that both the
CLI parser (`add_dataclass_arguments`) and the app's widgets (app/ui/widgets.py) are generated from.

A field describes itself by its type and its metadata, the way valuescope's own configs (engine.configs.
setting) and Hugging Face's (TRL's RewardConfig, PEFT's LoraConfig: `metadata={"help": ...}`) both do:
- type: bool, int, float, str, list[str], list[int] or dict, optionally `| None` (None = "auto");
  `Literal[...]` gives the choices;
- metadata: help, choices, and for the command line: positional (optional: it may be left out), required,
  many ("+": one or more values; "append": the flag repeated), flag (another flag name).
`only_given=True` makes every option default to None, so a parsed namespace says which options were
given: presets and YAML files supply the rest (TRL's `--config config.yaml` pattern).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from functools import lru_cache

from engine.errors import InputError

KINDS = ("bool", "int", "float", "str", "list[str]", "list[int]", "dict")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # one of KINDS
    optional: bool  # None is a value ("auto")
    default: object
    help: str
    choices: tuple | None
    cli: dict  # positional, optional, required, many, flag

    @property
    def flag(self) -> str:
        return self.cli.get("flag") or "--" + self.name.replace("_", "-")


def _kind(annotation) -> tuple[str, bool, tuple | None]:
    """(kind, optional, Literal choices) of a resolved type annotation."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        kind, _, choices = _kind(inner[0]) if len(inner) == 1 else ("str", False, None)
        return kind, type(None) in args, choices
    if origin is typing.Literal:
        return ("int" if all(isinstance(a, int) for a in args) else "str"), None in args, tuple(a for a in args if a is not None)
    if origin in (list, tuple, set) or annotation in (list, tuple):
        return ("list[int]" if args and args[0] is int else "list[str]"), False, None
    if origin is dict or annotation is dict:
        return "dict", False, None
    if annotation in (bool, int, float):
        return annotation.__name__, False, None
    return "str", False, None


@lru_cache(maxsize=None)
def field_specs(cls) -> tuple[FieldSpec, ...]:
    """Every init field of a settings dataclass, described once."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        kind, optional, literal = _kind(hints.get(f.name, str))
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        default = None if default is dataclasses.MISSING else default
        meta = dict(f.metadata)
        choices = meta.get("choices") or literal
        cli = {k: meta[k] for k in ("positional", "optional", "required", "many", "flag") if k in meta}
        specs.append(FieldSpec(f.name, kind, optional or default is None, default, meta.get("help") or "",
                               tuple(choices) if choices else None, cli))
    return tuple(specs)


def parse_value(spec: FieldSpec, text):
    """A value typed as text (a form field, a flag given once) as the field's type; "" is None where allowed."""
    if not isinstance(text, str):
        return text
    text = text.strip()
    if text == "" and spec.optional:
        return None
    try:
        if spec.kind == "bool":
            return text.lower() in ("1", "true", "yes", "on")
        if spec.kind in ("int", "float"):
            return (int if spec.kind == "int" else float)(text)
        if spec.kind.startswith("list"):
            items = [t.strip() for t in text.split(",") if t.strip()]
            return [int(t) for t in items] if spec.kind == "list[int]" else items
        if spec.kind == "dict":
            return json.loads(text)
    except ValueError as exc:
        raise InputError(f"{spec.flag} {text!r}: expected {spec.kind} ({exc}).") from exc
    return text


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = (),
                            only_given: bool = False, flags: dict[str, tuple[str, ...]] | None = None) -> None:
    """One option (or positional argument) per field of `cls`, with its help text and choices. `flags`:
    other flag names for some fields (e.g. {"bases": ("--base", "--bases")})."""
    for spec in field_specs(cls):
        if spec.name in skip:
            continue
        if spec.cli.get("positional"):
            optional = {"nargs": "?", "default": spec.default} if spec.cli.get("optional") else {}
            parser.add_argument(spec.name, help=spec.help, **optional)
            continue
        names = (flags or {}).get(spec.name, (spec.flag,))
        help_text = spec.help.replace("%", "%%")
        common = dict(dest=spec.name, help=help_text)
        if spec.kind == "bool":
            action = argparse.BooleanOptionalAction if only_given or spec.default else "store_true"
            parser.add_argument(*names, action=action, default=None if only_given else bool(spec.default), **common)
            continue
        many = spec.cli.get("many")
        extra: dict = {"default": None if only_given else spec.default}
        if spec.cli.get("required") and not only_given:
            extra = {"required": True}
        if many == "append":
            extra.update(action="append", default=None) if "default" in extra else extra.update(action="append")
            kind = int if spec.kind == "list[int]" else str
        elif many:
            extra["nargs"] = many
            kind = int if spec.kind == "list[int]" else str
        elif spec.kind in ("int", "float"):
            kind = int if spec.kind == "int" else float
        else:  # text, and lists / dicts given as one value ("a,b", JSON), parsed by parse_value
            kind = str if spec.kind == "str" else (lambda text, spec=spec: parse_value(spec, text))
            if spec.kind != "str":
                extra["metavar"] = {"list[str]": "A,B", "list[int]": "N,M", "dict": "JSON"}[spec.kind]
        parser.add_argument(*names, type=kind, choices=spec.choices, **common, **extra)


def from_namespace(cls, args: argparse.Namespace, only_given: bool = False):
    """The dataclass from parsed arguments; `only_given`: a dict of the options that were given instead."""
    values = {s.name: getattr(args, s.name) for s in field_specs(cls) if hasattr(args, s.name)}
    if only_given:
        return {k: v for k, v in values.items() if v is not None}
    return cls(**values)


def field_help(cls, name: str) -> str:
    """The help text of one field (the app's widgets show the CLI's words)."""
    return next(s.help for s in field_specs(cls) if s.name == name)
