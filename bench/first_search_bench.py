"""The first search in the browser on a fresh install against the CLI, and how busy the app stays.

    python bench/first_search_bench.py            # both, each on its own empty data folder
    python bench/first_search_bench.py --skip-cli # browser only

CLI: `valuescope search` on each default model in turn (GGUF conversion included), the same prompt
and settings the page uses by default. Browser: `streamlit run` on an empty data folder, headless
Chromium at 1280x800 opens the page and presses Run search; the clock stops when every model column
shows its ranking. Meanwhile the Streamlit server process is sampled every second: the CPU time of
its main thread (the event loop) and of the whole process (script threads included; the work itself
runs in worker processes, which are not counted). Needs /usr/bin/chromium and playwright
(`.ci/browser-deps.sh`). Prints every figure; run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.models.registry import DEFAULT_MODELS  # noqa: E402
from engine.prompts import BATTERY  # noqa: E402

PROMPT = BATTERY["greatest_ever_one"].text


def cli_seconds(home: Path) -> float:
    started = time.perf_counter()
    for model in DEFAULT_MODELS:
        subprocess.run([sys.executable, "-m", "engine", "--home", str(home), "search", "--model", model,
                        "--prompt", PROMPT], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_app(home: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "VALUESCOPE_HOME": str(home), "HF_HUB_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/streamlit_app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not start")


def _cpu(proc: psutil.Process) -> tuple[float, float]:
    """(main thread CPU seconds, whole process CPU seconds, children excluded)."""
    main = next((t for t in proc.threads() if t.id == proc.pid), None)
    times = proc.cpu_times()
    return (main.user_time + main.system_time if main else float("nan")), times.user + times.system


def browser_run(home: Path, shots: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    proc, url = _start_app(home)
    server = psutil.Process(proc.pid)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(1_800_000)
            page.goto(url)
            page.get_by_role("button", name="Run search").wait_for()
            time.sleep(2)  # the first page view settles
            main0, proc0 = _cpu(server)
            started = time.perf_counter()
            page.get_by_role("button", name="Run search").click()
            stages, samples = [], []
            while page.get_by_text("Bottom 10").count() < len(DEFAULT_MODELS):
                time.sleep(1.0)
                elapsed = time.perf_counter() - started
                main, whole = _cpu(server)
                samples.append((elapsed, main - main0, whole - proc0))
                texts = [re.sub(r" \(\d+ s\)$", "", t.strip()) for t in
                         page.locator("[data-testid='stProgress']").all_inner_texts()]  # stage changes only
                if texts and (not stages or stages[-1][1] != texts):
                    stages.append((round(elapsed), texts))
                if shots is not None and len(samples) == 20:
                    page.screenshot(path=str(shots / "first-search-running.png"))
            seconds = time.perf_counter() - started
            main, whole = _cpu(server)
            if shots is not None:
                page.screenshot(path=str(shots / "first-search-done.png"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return {"seconds": seconds, "main_share": (main - main0) / seconds, "process_share": (whole - proc0) / seconds,
            "stages": stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--shots", help="folder for two screenshots (while running, when done)")
    args = parser.parse_args()
    shots = Path(args.shots) if args.shots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as cli_home, tempfile.TemporaryDirectory() as app_home:
        cli = None if args.skip_cli else cli_seconds(Path(cli_home))
        if cli is not None:
            print(f"CLI, {' then '.join(DEFAULT_MODELS)} on an empty data folder: {cli:.1f} s")
        run = browser_run(Path(app_home), shots)
    print(f"browser, Run search on the default models, empty data folder: {run['seconds']:.1f} s")
    for at, texts in run["stages"]:
        print(f"  {at:4d} s  " + " | ".join(t.replace(chr(10), ' ') for t in texts))
    if cli is not None:
        budget = 1.3 * cli + 15
        print(f"budget 1.3 x CLI + 15 s = {budget:.1f} s: {'within' if run['seconds'] <= budget else 'OVER'} "
              f"(browser / CLI = {run['seconds'] / cli:.2f})")
    print(f"Streamlit server while the jobs ran: main thread {100 * run['main_share']:.1f}% of one core, "
          f"whole server process {100 * run['process_share']:.1f}% (the work runs in worker processes)")


if __name__ == "__main__":
    main()
