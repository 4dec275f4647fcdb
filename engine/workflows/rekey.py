"""Cache keys follow the key rule: when the rule changes (engine.workflows.runner.KEY_VERSION), computed
runs already in a cache are re-keyed from their stored settings, so existing caches keep their runs.

A run's new key is the key a new request for it would get: its stored settings (the `params` JSON
every computed run records, the prompt, the candidates, for word runs the scored words themselves,
the weights fingerprint it was computed with) resolved by today's RunRequest. A run keeps its old
key, and is simply not found by new requests, when today's resolution would score it differently
(another model source, pinned revision, template or scoring mode than the run used) or cannot
resolve it at all (a model folder or trained alias that is gone). Imported runs keep their keys.
Applied once per cache file as the migration set "request_keys" (engine.migrate).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

from engine.configs import SearchConfig
from engine.errors import USER_ERRORS
from engine.migrate import apply_migrations
from engine.models.registry import is_local
from engine.store.db import Cache, transaction
from engine.workflows.runner import RunRequest

_DONE: set[str] = set()  # cache files this process has brought up to date
_GUARD = threading.Lock()


def stored_run_key(con, run: dict) -> str | None:
    """Today's key of one stored computed run, or None when it must keep its old key."""
    try:
        params = json.loads(run["params"] or "{}")
        config = SearchConfig(**{k: v for k, v in params.items() if k in SearchConfig.__dataclass_fields__})
        words = None
        if run["candidates"] != "vocab":
            words = [row[0] for row in con.execute("SELECT text FROM scores WHERE run_id = ?", [run["run_id"]]).fetchall()]
            if not words:
                return None
        request = RunRequest.resolve(config, run["prompt_key"] or run["prompt_text"], words, run["candidates"],
                                     weights=params.get("weights"))
    except (*USER_ERRORS, TypeError):  # TypeError: settings this version does not know
        return None
    spec = request.spec
    if is_local(spec) and not Path(spec.source.removeprefix("gguf-file:")).exists():
        return None  # its weights are gone: nothing new can ask for this run
    same = (spec.source == run["model_source"] and spec.revision in (None, run["revision"])
            and request.template in ("auto", run["template"]) and request.mode == run["score_kind"])
    return request.key if same else None


def _m001_resolved_keys(con) -> None:
    """Key version 2: templates and word lists resolved before hashing."""
    columns = ["run_id", "request_key", "prompt_key", "prompt_text", "candidates", "params", "model_source",
               "revision", "template", "score_kind"]
    rows = con.execute(f"SELECT {', '.join(columns)} FROM runs WHERE source = 'computed'").fetchall()
    for values in rows:
        run = dict(zip(columns, values))
        key = stored_run_key(con, run)
        if key is not None and key != run["request_key"]:
            con.execute("UPDATE runs SET request_key = ? WHERE run_id = ?", [key, run["run_id"]])


REKEY_MIGRATIONS = [("001 resolved keys", _m001_resolved_keys)]


def rekey(cache: Cache) -> list[str]:
    """Apply the re-keying migrations to this cache (once per process and file); returns those applied."""
    with _GUARD:
        if str(cache.path) in _DONE or cache.read_only:
            return []
        with cache.connect() as con, transaction(con):
            applied = apply_migrations(con, "request_keys", REKEY_MIGRATIONS)
        _DONE.add(str(cache.path))
        return applied


def open_cache(home=None) -> Cache:
    """The cache of a data folder, its keys brought up to date."""
    cache = Cache(home)
    rekey(cache)
    return cache
