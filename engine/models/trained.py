"""The index of trained reward-model checkpoints, `<home>/trained/checkpoints.jsonl`, so that model lists
never walk the trained folder on a page's rerun.

Training registers each checkpoint when it saves it (`register_checkpoint`: one JSON line appended in
one write, so a training worker and the app can use the index at once). The first time a process asks
for the checkpoints of a data folder, one scan (`scan_trained`) walks `<home>/trained/` for folders
copied in or saved by versions without the index, rewrites the index from what it found (a deleted
folder drops out) and keeps one line per damaged folder (`scan_problems`), which hides nothing else.
A line is what the registry needs to list the checkpoint without opening it: alias, folder (as seen
through `<home>/trained/`), family, template, revision (the adapter's hash, part of cache keys) and notes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from engine.errors import ModelLoadError
from engine.models.manifests import adapter_revision, damaged_checkpoint, find_manifests, read_manifest
from engine.paths import home_dir

INDEX = "checkpoints.jsonl"
_scanned: dict[str, list[str]] = {}  # trained folder -> the one-line problems its scan in this process found
_read: dict[str, tuple[tuple[int, int], dict[str, dict]]] = {}  # index file -> ((mtime, size), entries)


def trained_dir(home=None) -> Path:
    return home_dir(home) / "trained"


def checkpoint_entry(folder: Path, manifest: dict) -> dict:
    """The index line of a checkpoint folder and its manifest."""
    accuracy = (manifest.get("eval") or {}).get("accuracy")
    notes = (f"Reward model trained from {manifest.get('base')} ({manifest.get('variant')}, "
             f"{manifest.get('n_train_pairs')} pairs), step {manifest.get('step')} of {manifest.get('total_steps')}"
             + (f", held-out accuracy {accuracy:.3f}" if accuracy is not None else "") + ".")
    return {"alias": manifest["alias"], "path": str(folder), "family": manifest.get("family") or "unknown",
            "template": manifest.get("template") or "auto", "revision": adapter_revision(folder, manifest),
            "notes": notes}


def register_checkpoint(folder: Path, manifest: dict, home=None) -> None:
    """Add a saved checkpoint to the index (a later line for the same alias replaces an earlier one)."""
    index = trained_dir(home) / INDEX
    index.parent.mkdir(parents=True, exist_ok=True)
    with index.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(checkpoint_entry(Path(folder), manifest)) + "\n")


def scan_trained(home=None) -> list[str]:
    """Walk `<home>/trained/` once: index every checkpoint found, drop entries whose folder is gone, and return
    (and keep for `scan_problems`) one line per folder that cannot be listed."""
    root = trained_dir(home)
    entries, problems = {}, []
    for folder in find_manifests(root):
        try:
            manifest = read_manifest(folder)
            if manifest.get("alias"):
                entries[manifest["alias"]] = checkpoint_entry(folder, manifest)
        except ModelLoadError as exc:
            problems.append(str(exc))
        except OSError as exc:  # e.g. an old manifest without the hash and no weights file to hash
            problems.append(str(damaged_checkpoint(folder, f"{type(exc).__name__}: {exc.strerror or exc}")))
    text, index = "".join(json.dumps(e) + "\n" for e in entries.values()), root / INDEX
    # Rewritten only when it differs: a line a training process appends during a rewrite would be lost
    # (its folder is found again by the next process's scan).
    if (text or index.exists()) and (not index.exists() or index.read_text(encoding="utf-8") != text):
        tmp = root / f".{INDEX}.tmp-{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, index)
    _scanned[str(root)] = problems
    return problems


def scan_problems(home=None) -> list[str]:
    """The damaged folders this process's scan of `<home>/trained/` found, one line each."""
    return _scanned.get(str(trained_dir(home)), [])


def trained_entries(home=None) -> dict[str, dict]:
    """alias -> index line, from the index (scanned once per process and data folder); reread only when it changed."""
    root = trained_dir(home)
    if str(root) not in _scanned:
        scan_trained(home)
    index = root / INDEX
    try:
        stat = index.stat()
    except FileNotFoundError:
        return {}
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _read.get(str(index))
    if cached is None or cached[0] != stamp:
        entries = {}
        for line in index.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                entries[entry["alias"]] = entry
            except (ValueError, KeyError, TypeError):  # a line being appended right now; the next read has it
                continue
        cached = _read[str(index)] = (stamp, entries)
    return cached[1]
