"""Small helpers shared by the pages: engine access, process-wide caches, background searches,
form widgets driven by the engine's config dataclass, error messages and CSV downloads.

No scoring or analysis happens here: that is engine/'s job. Page state lives in the URL through
Streamlit's `bind="query-params"` on each widget, so a view can be shared by copying the address.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run app/streamlit_app.py` puts app/ on the path, not the root
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from engine.store.db import Cache, CacheLockedError  # noqa: E402
from engine.errors import is_out_of_memory  # noqa: E402
from engine.configs import SearchConfig  # noqa: E402
from engine.models.gguf import ModelLoadError  # noqa: E402
from engine.paths import home_dir  # noqa: E402
from engine.models.registry import CAUSAL_LM, REGISTRY, ModelSpec, resolve_spec  # noqa: E402

log = logging.getLogger("valuescope.app")

FILE_PREFIX = "valuescope"


# ---- where the data lives -------------------------------------------------------------------------
def home() -> str:
    """The data folder ($VALUESCOPE_HOME, else the repository's cache/), as a cache key."""
    return str(home_dir())




@st.cache_resource(show_spinner=False)
def _cache_for(home_path: str) -> Cache:
    # Cache serialises its connections within a process: sessions and search workers are threads.
    return Cache(home_path)


def cache() -> Cache:
    """The DuckDB cache of this data folder (one object per process and folder)."""
    return _cache_for(home())


@st.cache_data(show_spinner=False, max_entries=64)
def _run_scores(home_path: str, run_id: str) -> pd.DataFrame:
    return _cache_for(home_path).scores(run_id)


def run_scores(run_id: str) -> pd.DataFrame:
    """Scores of one completed run, ranked (a done run never changes, so they are memoised by id)."""
    return _run_scores(home(), run_id)


def forget_run(run_id: str) -> None:
    _run_scores.clear(home(), run_id)


def cached_result(config: SearchConfig, prompt: str, words: list[str] | None = None, candidates: str | None = None):
    """engine.workflows.runner.Runner.cached, with the scores memoised by run id (pages rerun on every click)."""
    from engine.prompts import resolve_prompt
    from engine.workflows.runner import RunResult, request_key

    _, text = resolve_prompt(prompt)
    run = cache().find_done(request_key(config, text, candidates or ("vocab" if words is None else "words"), words))
    return RunResult(run, run_scores(run["run_id"]), True) if run else None


# ---- errors ---------------------------------------------------------------------------------------
class ModelTooLargeError(ModelLoadError):
    pass


def friendly_message(exc: BaseException) -> str:
    """One readable paragraph for an exception the user can act on; never a traceback."""
    if is_out_of_memory(exc) and not isinstance(exc, ModelTooLargeError):
        return ("The machine ran out of memory: this model (or batch) is too large for it. Try a smaller model, "
                "4-bit/8-bit quantisation on a GPU, a smaller batch size, or the command line on a bigger machine.")
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, CacheLockedError):
        return f"The cache is busy: {exc}. Try again in a moment."
    if isinstance(exc, (ModelLoadError, ValueError, FileNotFoundError, PermissionError)):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}"
    return f"Unexpected error ({type(exc).__name__}: {exc}). The details are in the server log."


def show_error(exc: BaseException, what: str | None = None) -> None:
    """An st.error for `exc`, logged with its traceback on the server for unexpected types."""
    if not isinstance(exc, (ModelLoadError, ValueError, KeyError, FileNotFoundError, CacheLockedError)):
        log.error("error in the app", exc_info=exc)
    st.error((f"**{what}**: " if what else "") + friendly_message(exc), icon=":material/error:")


class guard:
    """`with guard("Loading the lexicon") as g:` shows any exception as an st.error; `g.failed` tells
    whether it did. Streamlit's own control flow (reruns, st.stop) passes through untouched."""

    def __init__(self, what: str | None = None):
        self.what, self.failed, self.error = what, False, None

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, Exception):
            return False
        self.failed, self.error = True, exc
        show_error(exc, self.what)
        return True


# ---- model ids ------------------------------------------------------------------------------------
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def check_model_name(name: str) -> ModelSpec:
    """Resolve a registry alias, local path or hub id, rejecting what cannot be any of them at once
    (before a background load would fail more slowly)."""
    name = (name or "").strip()
    spec = resolve_spec(name)  # ValueError on empty; FileNotFoundError for a missing .gguf file
    if name in REGISTRY or spec.source.startswith("gguf-") or Path(spec.source).is_dir():
        return spec
    if name.startswith(("/", "./", "../", "~", "\\")) or re.match(r"^[A-Za-z]:\\", name):
        raise FileNotFoundError(f"No model folder {name!r}: the path does not exist on the server.")
    if not _HUB_ID.match(name):
        raise ValueError(f"{name!r} is not a registry alias, an existing local folder or a Hugging Face id "
                         f"(owner/name). Registry aliases: {', '.join(REGISTRY)}.")
    return spec


# ---- will it fit? ---------------------------------------------------------------------------------
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I8": 1, "U8": 1,
                "F8_E4M3": 1, "F8_E5M2": 1, "I32": 4, "I64": 8, "I16": 2, "BOOL": 1}


def _safetensors_params(path: Path) -> int:
    """Parameters declared in a safetensors header (reads the header only)."""
    with path.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        if size > 100_000_000:
            raise ValueError(f"{path.name}: not a safetensors file")
        header = json.loads(fh.read(size))
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for dim in info.get("shape", []):
            count *= int(dim)
        total += count
    return total


def estimate_parameters(spec: ModelSpec) -> int | None:
    """Parameter count from local weight headers or the hub's safetensors metadata; None when unknown
    (embedded GGUF models are small; offline hub ids cannot be asked)."""
    if spec.source.startswith("gguf-"):
        return None
    folder = Path(spec.source)
    if folder.is_dir():
        files = sorted(folder.glob("*.safetensors"))
        if files:
            try:
                return sum(_safetensors_params(f) for f in files)
            except (OSError, ValueError, struct.error):
                return None
        weights = list(folder.glob("*.bin")) + list(folder.glob("*.pt"))
        return sum(f.stat().st_size for f in weights) // 2 if weights else None  # fp16 checkpoints, roughly
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return None
    try:
        from huggingface_hub import get_safetensors_metadata

        meta = get_safetensors_metadata(spec.source, revision=spec.revision)
        return int(sum(meta.parameter_count.values()))
    except Exception:  # no network, gated repo, no safetensors: the load itself will say more
        return None


def check_fits(spec: ModelSpec, dtype: str, quantization: str, device: str | None) -> None:
    """Raise ModelTooLargeError when the weights alone would not fit the free memory of the device."""
    params = estimate_parameters(spec)
    if not params:
        return
    import psutil
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if quantization == "8bit":
        per = 1.0
    elif quantization == "4bit":
        per = 0.55
    else:
        per = _DTYPE_BYTES.get(dtype, 4 if device == "cpu" else 2) if dtype != "auto" else (4 if device == "cpu" else 2)
    need = params * per * 1.15  # weights plus buffers and activations of a small batch
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        where = f"the GPU ({device})"
    else:
        free = psutil.virtual_memory().available
        where = "this machine's memory"
    if need > free:
        raise ModelTooLargeError(
            f"Model {spec.alias!r} is too large for this machine: about {params / 1e9:.1f} B parameters need "
            f"{need / 2**30:.1f} GiB in {dtype if quantization == 'none' else quantization}, but {where} has "
            f"{free / 2**30:.1f} GiB free. Try 4-bit quantisation on a GPU, a smaller model, or the command "
            "line on a bigger machine."
        )


# ---- models: loaded once per process --------------------------------------------------------------
class ModelStore:
    """Loaded models shared by all sessions of this process (least recently used dropped past
    `max_models`). Two sessions asking for the same model share one load; `status()` lets a page say
    that a model is being loaded by someone else rather than look frozen."""

    def __init__(self, max_models: int = 3):
        self.max_models = max_models
        self._lock = threading.Lock()
        self._models: OrderedDict = OrderedDict()
        self._loading: dict = {}

    @staticmethod
    def key(spec, mode, dtype, quantization, device, head_seed) -> tuple:
        return (spec, mode, dtype, quantization, device, head_seed, home())

    def status(self, key: tuple) -> str | None:
        with self._lock:
            if key in self._models:
                return "loaded"
            lock = self._loading.get(key)
            return "loading" if lock is not None and lock.locked() else None

    def load(self, spec, mode, dtype, quantization, device, head_seed):
        """The `model_loader` hook of engine.workflows.runner.Runner."""
        key = self.key(spec, mode, dtype, quantization, device, head_seed)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            from engine.models.loading import load_model

            check_fits(spec, dtype, quantization, device)
            lm = load_model(spec, mode=mode, dtype=dtype, quantization=quantization, device=device,
                            home=key[-1], head_seed=head_seed)
            with self._lock:
                self._models[key] = lm
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
                self._loading.pop(key, None)
            return lm


@st.cache_resource(show_spinner=False)
def model_store() -> ModelStore:
    return ModelStore(max_models=int(os.environ.get("VALUESCOPE_MAX_MODELS", "3")))


# ---- background work -----------------------------------------------------------------------------
FINISHED = ("done", "failed", "cancelled")


class Cancelled(Exception):
    pass


@dataclass
class Job:
    """Work running in a worker thread, so the page stays live, shows progress and can cancel it.
    The worker writes `phase`, `message`, `done`/`total` and `result`; pages only read them."""

    id: str
    key: str  # what is computed: equal keys are the same work
    label: str
    phase: str = "queued"  # queued | loading | scoring | done | failed | cancelled
    message: str = "Queued"
    done: int = 0
    total: int = 0
    error: str | None = None
    error_type: str | None = None
    result: object = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        self.cancel_event.set()
        if self.phase not in FINISHED:
            self.message = "Cancelling after the current batch…"

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def progress(self, done: int, total: int, what: str = "candidates") -> None:
        self.done, self.total = done, total
        self.message = f"Scoring: {done:,} of {total:,} {what}"


class JobBoard:
    """All background work of this process. Asking for work whose key is already running joins it
    (another session's identical search shows its progress instead of computing it twice)."""

    def __init__(self, keep_s: float = 3600, keep_finished: int = 32, keep_results: int = 6):
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self.keep_s, self.keep_finished, self.keep_results = keep_s, keep_finished, keep_results

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id or "")

    def latest(self, key: str) -> Job | None:
        """The newest job with this key, running or finished."""
        with self._lock:
            same = [j for j in self._jobs.values() if j.key == key]
        return max(same, key=lambda j: j.started) if same else None

    def submit(self, key: str, label: str, target, join: bool = True) -> Job:
        """Run `target(job)` in a daemon thread (unless a job with this key is running and `join`)."""
        with self._lock:
            self._prune()
            if join:
                for job in self._jobs.values():
                    if job.key == key and job.phase not in FINISHED:
                        return job
            job = Job(uuid.uuid4().hex[:12], key, label)
            self._jobs[job.id] = job
        threading.Thread(target=_run_job, args=(job, target), name=f"valuescope-{job.id}", daemon=True).start()
        return job

    def _prune(self) -> None:
        now = time.time()
        finished = sorted((j for j in self._jobs.values() if j.finished), key=lambda j: j.finished)
        old = [j for j in finished if now - j.finished > self.keep_s]
        old += finished[: max(0, len(finished) - self.keep_finished)]
        for job in old:
            self._jobs.pop(job.id, None)
        # results can be large (a battery of vocabulary joins): keep only the newest few in memory
        with_results = [j for j in finished if j.result is not None and j.id in self._jobs]
        for job in with_results[: max(0, len(with_results) - self.keep_results)]:
            job.result = None


def _is_cancellation(exc: BaseException) -> bool:
    # engine.scoring.search imports torch (seconds): look it up only if a search has imported it already
    search = sys.modules.get("engine.scoring.search")
    return isinstance(exc, Cancelled) or (search is not None and isinstance(exc, search.SearchCancelled))


def _run_job(job: Job, target) -> None:
    try:
        job.result = target(job)
        job.phase, job.message = "done", "Done"
    except BaseException as exc:  # noqa: BLE001 - a worker must report, never die silently
        if _is_cancellation(exc):
            job.phase, job.message = "cancelled", "Cancelled: nothing was saved."
        else:
            if not isinstance(exc, (ModelLoadError, ValueError, KeyError, FileNotFoundError, NotCached)):
                log.error("background job %s (%s) failed", job.id, job.label, exc_info=exc)
            job.phase, job.error, job.error_type = "failed", friendly_message(exc), type(exc).__name__
            job.message = "Failed"
    finally:
        job.finished = time.time()


@st.cache_resource(show_spinner=False)
def job_board() -> JobBoard:
    return JobBoard()


def _announce_load(job: Job, store: ModelStore, config: SearchConfig) -> None:
    """Say what the model load will do: nothing (loaded), wait for another session, or load/convert."""
    from engine.workflows.runner import mode_for, spec_for

    spec = spec_for(config)
    key = store.key(spec, mode_for(config, spec), config.dtype, config.quantization, config.device, config.head_seed)
    state = store.status(key)
    job.phase = "loading"
    if state == "loaded":
        job.message = f"{config.model} is loaded"
    elif state == "loading":
        job.message = f"Waiting for {config.model}: another session is loading it…"
    else:
        slow = " (its first use converts the embedded GGUF weights: about 25 s for SmolLM2, 95 s for Gemma)" \
            if spec.source.startswith("gguf-") else ""
        job.message = f"Loading {config.model}{slow}…"


def search_job(config: SearchConfig, prompt: str, words=None, candidates=None) -> Job:
    """Start (or join) a token search in the background; its result is the finished run's row."""
    from engine.prompts import resolve_prompt
    from engine.workflows.runner import Runner, request_key

    _, text = resolve_prompt(prompt)
    key = request_key(config, text, candidates or ("vocab" if words is None else "words"), words)
    store, run_home = model_store(), home()

    def work(job: Job):
        runner = Runner(cache=Cache(run_home), home=run_home, model_loader=store.load)
        _announce_load(job, store, config)
        lm = runner.model(config)
        if job.cancelled:
            raise Cancelled()
        job.phase = "scoring"
        job.message = "Waiting for another session's search on this model…" if lm.lock.locked() else "Scoring…"
        result = runner.run(config, prompt, words, candidates, progress=job.progress, cancel=lambda: job.cancelled)
        return result.run  # the scores are in the cache; the page reads them from there

    return job_board().submit(key, config.model, work)


class NotCached(LookupError):
    """A cached-only runner was asked for a run that is not in the cache."""


class JobRunner:
    """Wraps an engine Runner for engine functions that call `runner.run(...)` many times (the
    implicit RM): reports each run as progress, makes every run cancellable, and in `cached_only`
    mode answers from the cache alone (raising NotCached), so it never loads a model."""

    def __init__(self, runner, job: Job, total_runs: int, cached_only: bool = False, store: ModelStore | None = None):
        self.runner, self.job, self.total, self.cached_only, self.store = runner, job, total_runs, cached_only, store
        self.calls = 0

    def run(self, config, prompt, words=None, candidates=None, progress=None, cancel=None, refresh=False):
        if self.job.cancelled:
            raise Cancelled()
        self.calls += 1
        self.job.done, self.job.total = self.calls - 1, self.total
        what = f"run {self.calls} of {self.total}: {config.model}, {candidates or 'vocab'}"
        if self.cached_only:
            self.job.message = f"Reading cached {what}"
            result = self.runner.cached(config, prompt, words, candidates)
            if result is None:
                raise NotCached(f"{config.model} has no cached {candidates or 'vocab'} run for this prompt.")
            return result
        result = self.runner.cached(config, prompt, words, candidates)
        if result is not None:
            self.job.message = f"From the cache: {what}"
            return result
        if self.store is not None:
            _announce_load(self.job, self.store, config)
            self.runner.model(config)
        self.job.phase = "scoring"
        self.job.message = f"Scoring {what}"

        def progress(done: int, total: int) -> None:
            self.job.message = f"Scoring {what}: {done:,} of {total:,} candidates"

        return self.runner.run(config, prompt, words, candidates, progress=progress, cancel=lambda: self.job.cancelled)


@st.fragment(run_every=0.5)
def job_progress(job_id: str) -> None:
    """A live progress bar with a Cancel button; reruns the whole page when the job finishes."""
    job = job_board().get(job_id)
    if job is None:
        return
    elapsed = (job.finished or time.time()) - job.started
    st.progress(job.fraction(), text=f"{job.message} ({elapsed:.0f} s)")
    st.button("Cancel", key=f"cancel-{job.id}", on_click=job.cancel, icon=":material/stop:",
              disabled=job.phase in FINISHED or job.cancelled)
    if job.phase in FINISHED:
        st.rerun()


# ---- form widgets from the engine's dataclass fields ---------------------------------------------
def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def config_widgets(cls=SearchConfig, skip: tuple[str, ...] = ("model",), prefix: str = "", columns: int = 3) -> dict:
    """One widget per dataclass field, its help text and choices from the field's metadata, each
    bound to the URL query string (parameter = prefix + field name). Returns field -> value."""
    values = {}
    fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
    cols = st.columns(columns)
    for i, f in enumerate(fields):
        meta, key = f.metadata, prefix + f.name
        help_text = meta.get("help")
        with cols[i % columns]:
            choices = meta.get("choices")
            if choices:
                options = list(choices) if f.default is not None else [None, *choices]
                values[f.name] = st.selectbox(
                    _label(f.name), options, index=options.index(f.default), help=help_text, key=key,
                    format_func=lambda v: "auto" if v is None else str(v), bind="query-params")
            elif f.type in (bool, "bool"):
                values[f.name] = st.checkbox(_label(f.name), value=bool(f.default), help=help_text, key=key,
                                             bind="query-params")
            elif "int" in str(f.type):
                values[f.name] = st.number_input(_label(f.name), value=f.default, step=1,
                                                 min_value=1 if f.default is None else 0,
                                                 help=help_text, key=key, placeholder="auto", bind="query-params")
                if values[f.name] is not None:
                    values[f.name] = int(values[f.name])
            else:
                text = st.text_input(_label(f.name), value=f.default or "", help=help_text, key=key,
                                     placeholder="auto", bind="query-params")
                values[f.name] = text.strip() or None
    return values


_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def visible_token(text) -> str:
    """A token as text with spaces and control characters made visible: ' love' -> '␣love'."""
    out = []
    for ch in str(text):
        if ch in _VISIBLE:
            out.append(_VISIBLE[ch])
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) or "∅"


def settings_line(run: dict, extra: dict | None = None) -> str:
    """The settings that matter for reproducing a run, in one caption line."""
    parts = {
        "revision": run.get("revision"), "template": run.get("template"), "dtype": run.get("dtype"),
        "quantisation": run.get("quantization"), "scores": run.get("score_kind"),
        "vocabulary": run.get("vocab_filter") if run.get("candidates") == "vocab" else run.get("candidates"),
        "head": None if run.get("head_status") == "n/a" else run.get("head_status"),
        "device": run.get("device"), "source": None if run.get("source") == "computed" else run.get("source"),
        "run": (run.get("run_id") or "")[:12],
    }
    parts.update(extra or {})
    return " · ".join(f"{k}: `{v}`" for k, v in parts.items() if v not in (None, ""))


def number_columns(table: pd.DataFrame, fmt: str = "%.4g") -> dict:
    """st.dataframe column_config showing every float column with `fmt` (no 20-digit decimals)."""
    return {c: st.column_config.NumberColumn(c, format=fmt) for c in table.columns
            if pd.api.types.is_float_dtype(table[c])}


# ---- files in and out -----------------------------------------------------------------------------
def slug(text, limit: int = 40) -> str:
    """A file-name-safe fragment: 'What, in one word…' -> 'what-in-one-word'."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text or "")).strip("-._").lower()
    return (value[:limit].rstrip("-._") or "untitled")


def file_name(*parts, ext: str = "csv") -> str:
    return "_".join([FILE_PREFIX, *(slug(p) for p in parts if p not in (None, ""))]) + f".{ext}"


def save_upload(uploaded) -> Path:
    """Write an st.file_uploader file to a private temporary folder, keeping its name (engine readers
    take paths and use the file's suffix and stem)."""
    data = uploaded.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    name = Path(uploaded.name).name or "upload"
    folder = Path(tempfile.gettempdir()) / "valuescope-uploads" / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        path.write_bytes(data)
    return path


def download_csv(label: str, table: pd.DataFrame, metadata: dict, name: str, key: str | None = None,
                 help: str | None = None) -> None:
    """A download button for a table, as CSV with a `# key: value` header of the settings behind it.
    The CSV is written only when clicked (a 262k-token ranking takes a second), and the click does
    not rerun the page."""
    import functools

    from engine.reports.export import csv_bytes

    st.download_button(label, functools.partial(csv_bytes, table, metadata), file_name=name, mime="text/csv",
                       key=key, on_click="ignore", icon=":material/download:",
                       help=help or f"{name}: {len(table):,} rows, settings in the # header lines")


def default_models() -> tuple[str, ...]:
    from engine.models.registry import DEFAULT_MODELS

    return DEFAULT_MODELS


def registry_options() -> list[str]:
    """Registry aliases, embedded defaults first."""
    first = list(default_models())
    return first + [a for a in REGISTRY if a not in first]


def describe_alias(alias: str) -> str:
    spec = REGISTRY.get(alias)
    if spec is None:
        return alias
    kind = "reward model" if spec.kind != CAUSAL_LM else "causal LM"
    local = ", offline" if spec.source.startswith("gguf-") else ""
    return f"`{alias}`: {kind}, {spec.family}{local}"
