"""Helpers for the browser tests (tests/app/test_browser*.py): a `streamlit run` server on a free port over a
given data folder, opening a page and waiting for it to settle, and screenshots."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from helpers import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"  # git-ignored
CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(home: Path, log_path: Path):
    """The app on a free port over data folder `home`, started from the repository root (so it reads
    .streamlit/config.toml); yields its URL."""
    port = free_port()
    env = {**os.environ, "VALUESCOPE_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def open_page(tab, url: str, heading: str) -> None:
    tab.goto(url)
    tab.get_by_role("heading", name=heading).first.wait_for()
    settle(tab)


def settle(tab) -> None:
    tab.wait_for_load_state("networkidle")
    tab.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    time.sleep(0.8)  # charts finish drawing


def shoot(tab, name: str, folder: Path = ARTIFACTS) -> Path:
    """A 1280x800 screenshot and a full-page one (`<name>-full.png`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    tab.screenshot(path=str(path))
    # Streamlit scrolls inside its main container, so a full-page shot needs a tall window
    height = tab.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    tab.set_viewport_size({"width": 1280, "height": min(max(800, height + 40), 6000)})
    time.sleep(1.0)
    tab.screenshot(path=str(folder / f"{name}-full.png"))
    tab.set_viewport_size({"width": 1280, "height": 800})
    return path
