"""What a server lets its visitors do: the one place the app asks before it runs a repository's code,
deletes runs, reads a server path as a model, accepts an upload or shows server details in a message.
No torch and no Streamlit here; the command line does not consult it (its user owns the machine).

Two modes, read from the environment once per call of `ServerPolicy.from_env()`:
- local (default): everything is allowed, except running a model repository's own Python code, which
  the app offers only for models the operator allows: registry entries marked `needs_remote_code`, and
  the names listed in `VALUESCOPE_REMOTE_CODE_MODELS` (comma-separated aliases or hub ids).
- public (`VALUESCOPE_PUBLIC=1`; the Docker image of the Space sets it): no repository code at all, no
  deleting runs, no local folders or files as models, server paths and process ids scrubbed from
  messages, smaller uploads and fewer concurrent jobs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from engine.errors import InputError
from engine.models.hub_code import ENV_PUBLIC, check_hub_config, env_flag  # noqa: F401 - re-exported
from engine.models.registry import REGISTRY, ModelSpec
from engine.models.registry import check_model_name as check_name

ENV_REMOTE_CODE_MODELS = "VALUESCOPE_REMOTE_CODE_MODELS"
ENV_MAX_UPLOAD_MB = "VALUESCOPE_MAX_UPLOAD_MB"
ENV_MAX_JOBS = "VALUESCOPE_MAX_JOBS"
# (local, public) defaults. 20 MB holds a 54-prompt score table of every Gemma token as Parquet;
# two jobs keep a 2-core Space responsive.
DEFAULT_MAX_UPLOAD_MB = (200, 20)
DEFAULT_MAX_JOBS = (4, 2)


@dataclass(frozen=True)
class ServerPolicy:
    public: bool = False
    remote_code_models: frozenset[str] = field(default_factory=frozenset)  # lower-cased names and hub ids
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB[0]
    max_jobs: int = DEFAULT_MAX_JOBS[0]  # background searches and comparisons running at once
    allow_delete: bool = True
    allow_local_paths: bool = True  # folders and files on the server as models

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "ServerPolicy":
        env = os.environ if environ is None else environ
        public = env_flag(env, ENV_PUBLIC)
        listed = {name.strip() for name in env.get(ENV_REMOTE_CODE_MODELS, "").split(",") if name.strip()}
        return cls(
            public=public,
            remote_code_models=frozenset() if public else _allowed_names(listed),
            max_upload_mb=_positive_int(env, ENV_MAX_UPLOAD_MB, DEFAULT_MAX_UPLOAD_MB[public]),
            max_jobs=_positive_int(env, ENV_MAX_JOBS, DEFAULT_MAX_JOBS[public]),
            allow_delete=not public,
            allow_local_paths=not public,
        )

    def allows_remote_code(self, model: str) -> bool:
        """Whether the app may run this model repository's own code (never in public mode)."""
        name = (model or "").strip()
        spec = REGISTRY.get(name)
        names = {name, spec.source} if spec else {name}
        return not self.public and any(n.lower() in self.remote_code_models for n in names)


def check_model_name(name: str, policy: ServerPolicy | None = None) -> ModelSpec:
    """engine.models.registry.check_model_name under this server's rule for local folders and files."""
    return check_name(name, allow_local_paths=(policy or ServerPolicy.from_env()).allow_local_paths)


def check_search_config(config, policy: ServerPolicy | None = None) -> None:
    """Refuse (InputError) a search the server's policy does not allow, before anything is submitted:
    a local path as the model in public mode, or repository code for a model the operator has not allowed."""
    policy = policy or ServerPolicy.from_env()
    check_model_name(config.model, policy)
    if config.trust_remote_code and not policy.allows_remote_code(config.model):
        where = "on this public server" if policy.public else \
            f"for {config.model!r}: the operator allows it per model ({ENV_REMOTE_CODE_MODELS})"
        raise InputError(f"Running a model repository's own code is not allowed {where}. "
                         "The command line's --trust-remote-code runs it on your own machine.")


def _allowed_names(listed: set[str]) -> frozenset[str]:
    names = set(listed)
    for alias, spec in REGISTRY.items():
        if spec.needs_remote_code:
            names |= {alias, spec.source}
    return frozenset(n.lower() for n in names)


def _positive_int(env, name: str, default: int) -> int:
    raw = str(env.get(name, "")).strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise InputError(f"{name}={raw!r}: use a whole number of at least 1.")
    return int(raw)
