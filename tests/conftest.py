"""Shared fixtures: a temporary data folder for every test, tiny random models, the embedded models."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from helpers import make_tiny_model_dir  # noqa: E402


@pytest.fixture(autouse=True)
def valuescope_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty data folder (DuckDB cache, converted models)."""
    home = tmp_path / "vshome"
    monkeypatch.setenv("VALUESCOPE_HOME", str(home))
    return home


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs to fill up, where the test may mount one (root); else None (then fake the error)."""
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.fixture
def tiny_llama_dir(tmp_path) -> Path:
    return make_tiny_model_dir(tmp_path / "tiny-llama", "llama")


@pytest.fixture
def tiny_gemma_dir(tmp_path) -> Path:
    return make_tiny_model_dir(tmp_path / "tiny-gemma", "gemma3", vocab_size=280, seed=1)


@pytest.fixture(scope="session")
def embedded_home(tmp_path_factory) -> Path:
    """One data folder per test session for the embedded models, so each is converted only once."""
    return tmp_path_factory.mktemp("embedded-home")
