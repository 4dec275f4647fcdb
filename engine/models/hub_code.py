"""Hub repositories that load code of their own, refused on a public server before any weights come.

A repository whose config.json or tokenizer_config.json names Python classes of its own (`auto_map`)
runs that code when loaded with trust_remote_code. A public server (VALUESCOPE_PUBLIC=1) never runs it,
so such a model is refused after fetching only those small files. The flag is read here, below the
server policy (engine.policy), so that model loading can ask without depending on the policy.
"""
from __future__ import annotations

import os

from engine.errors import InputError

ENV_PUBLIC = "VALUESCOPE_PUBLIC"
CODE_LOADING_KEYS = ("auto_map",)  # a config naming Python classes in the repository, loaded as code
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def env_flag(env, name: str) -> bool:
    """A yes/no environment variable (1/0, true/false, yes/no, on/off; unset = no)."""
    value = str(env.get(name, "")).strip().lower()
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise InputError(f"{name}={env.get(name)!r}: use 1 or 0.")


def public_server(environ=None) -> bool:
    """Whether this process serves the public (VALUESCOPE_PUBLIC)."""
    return env_flag(os.environ if environ is None else environ, ENV_PUBLIC)


def check_hub_config(model: str, config: dict, public: bool | None = None) -> None:
    """Refuse (InputError), on a public server, a hub model whose config names code of its own to load."""
    public = public_server() if public is None else public
    found = [key for key in CODE_LOADING_KEYS if key in (config or {})]
    if public and found:
        raise InputError(f"{model!r} is not allowed on this public server: its configuration loads code from the "
                         f"repository ({', '.join(found)}). Pick a model that runs with transformers' own classes.")
