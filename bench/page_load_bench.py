"""What one page load costs the server when it only shows cached results.

    python bench/page_load_bench.py [--loads 8] [--together 8]

A fresh data folder gets two cached vocabulary runs for the Token search page's defaults (both default
models, the greatest-thing prompt, default settings), under the keys the page computes: 49,152 and
262,144 rows, the vocabulary sizes of SmolLM2 and Gemma 3. Their scores are synthetic (random, seeded):
what a load costs depends on the number of rows, not on where the scores came from, and computing the
real ones takes many minutes on a CPU. `streamlit run` serves the app; headless Chromium opens the page
`--loads` times, each a new browser context (a new session, an empty HTTP cache), and each load ends
when both rankings show. For scale, the same
page is then opened with an empty prompt (no results), and a one-line Streamlit page: what a session and
a page cost before any result is shown. The CPU time of the
Streamlit server process (all its threads; psutil) is read before and after every load, and printed:
the first load (cold: imports, first reads) and the median and worst of the others (warm). Last,
`--together` browsers open the page at the same moment on a warmed server: how long each waited until
both rankings showed (Chromium runs on the same machine, so its rendering is part of the wait).
CPU seconds vary with what else the machine runs: the load average is printed with them.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from first_search_bench import _free_port, _start_app  # noqa: E402

from engine import SCORER_VERSION  # noqa: E402
from engine.configs import SearchConfig  # noqa: E402
from engine.models.registry import DEFAULT_MODELS  # noqa: E402
from engine.prompts import BATTERY  # noqa: E402
from engine.workflows.rekey import open_cache  # noqa: E402
from engine.workflows.requests import SearchRequest  # noqa: E402

PROMPT = BATTERY["greatest_ever_one"].text
LOAD_TIMEOUT_MS = 120_000  # a page that never shows its results fails the bench, not hangs it
VOCAB_SIZES = {"smollm2-135m-instruct": 49_152, "gemma3-270m": 262_144}


def seed_cached_runs(home: Path) -> None:
    """Two synthetic vocabulary runs under the keys the page looks up."""
    cache = open_cache(home)
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    for model in DEFAULT_MODELS:
        config = SearchConfig(model=model)
        run = SearchRequest.one(config, PROMPT).resolve(home)[0]
        n = VOCAB_SIZES[model]
        texts = [(" " if i % 2 else "") + "".join(rng.choice(letters, 1 + i % 9)) for i in range(n)]
        scores = pd.DataFrame({"token_id": np.arange(n), "text": texts, "score": rng.normal(-12, 3, n),
                               "first_token_score": np.nan, "n_tokens": 1})
        cache.save_run({"request_key": run.key, "model_id": model, "model_source": run.spec.source,
                        "family": run.spec.family, "model_kind": run.spec.kind, "score_kind": run.mode,
                        "revision": "synthetic", "tokenizer_hash": "synthetic", "prompt_key": run.prompt_key,
                        "prompt_text": run.prompt_text, "template": run.template, "dtype": "float32",
                        "quantization": "none", "candidates": "vocab", "vocab_filter": "all", "head_status": "n/a",
                        "scorer_version": SCORER_VERSION, "device": "cpu",
                        "params": {**asdict(config), "prompt": run.prompt_text, "weights": None, "n_words": None}},
                       scores)


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _serve(home: Path, app: Path | None) -> tuple[subprocess.Popen, str]:
    """`streamlit run` of valuescope (from the repository root, so with its .streamlit/config.toml), or of `app`."""
    if app is None:
        return _start_app(home)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)


def _launch(playwright):
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-dev-shm-usage"])


def page_loads(home: Path, loads: int, query: str = "", done_text: str = "Bottom 10", count: int = len(DEFAULT_MODELS),
               app: Path | None = None, path: str = "/search", returning: bool = False) -> list[float]:
    """Server CPU seconds of each of `loads` page loads of `path` (Token search; Home is the default page),
    each a new browser context (no cookies, no HTTP cache) ending when `done_text` shows `count` times
    (`app`: another Streamlit script than valuescope's). `returning`: every load a new session in one
    browser context, whose HTTP cache keeps Streamlit's frontend files (served as immutable) after the first."""
    from playwright.sync_api import sync_playwright

    proc, url = _serve(home, app)
    server = psutil.Process(proc.pid)
    costs = []
    try:
        with sync_playwright() as p:
            browser = _launch(p)
            context = browser.new_context(viewport={"width": 1280, "height": 800}) if returning else None
            for _ in range(loads):
                page = context.new_page() if returning else browser.new_page(viewport={"width": 1280, "height": 800})
                page.set_default_timeout(LOAD_TIMEOUT_MS)
                before = _cpu_seconds(server)
                page.goto(url + path + query)
                page.get_by_text(done_text).nth(count - 1).wait_for()
                time.sleep(1.0)  # whatever the load still does after the tables show
                costs.append(_cpu_seconds(server) - before)
                page.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return costs


def loads_together(home: Path, browsers: int) -> tuple[list[float], float]:
    """`browsers` new sessions opening Token search at the same moment, after one load that warms the server:
    the seconds each waited until both rankings showed, and the server's CPU seconds per load."""
    import asyncio

    from playwright.async_api import async_playwright

    proc, url = _serve(home, None)
    server = psutil.Process(proc.pid)

    async def one(browser) -> float:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        page.set_default_timeout(LOAD_TIMEOUT_MS)
        started = time.perf_counter()
        await page.goto(url + "/search")
        await page.get_by_text("Bottom 10").nth(len(DEFAULT_MODELS) - 1).wait_for()
        waited = time.perf_counter() - started
        await context.close()
        return waited

    async def run() -> tuple[list[float], float]:
        async with async_playwright() as p:
            browser = await _launch(p)
            await one(browser)  # cold: imports and first reads
            before = _cpu_seconds(server)
            waits = await asyncio.gather(*(one(browser) for _ in range(browsers)))
            await asyncio.sleep(1.0)
            cpu = (_cpu_seconds(server) - before) / browsers
            await browser.close()
            return list(waits), cpu

    try:
        return asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=8)
    parser.add_argument("--together", type=int, default=8, help="browsers opening the page at once (0: skip)")
    args = parser.parse_args()
    load_before = psutil.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        seed_cached_runs(home)
        costs = page_loads(home, args.loads)
        returning = page_loads(home, args.loads, returning=True)
        floor = page_loads(home, args.loads, "?prompt=", "Type a prompt, or pick one", 1)
        one_line = home / "one_line.py"
        one_line.write_text('import streamlit as st\nst.write("Bottom 10")\n')
        trivial = page_loads(home, args.loads, count=1, app=one_line, path="")
        waits, together_cpu = loads_together(home, args.together) if args.together else ([], 0.0)
    warm = costs[1:]
    print(f"Token search with two cached vocabulary runs ({', '.join(f'{n:,}' for n in VOCAB_SIZES.values())} rows): "
          f"server CPU per page load")
    print(f"  cold (first load): {costs[0]:.2f} s")
    if warm:
        print(f"  warm ({len(warm)} loads): median {statistics.median(warm):.2f} s, worst {max(warm):.2f} s")
    print("  all: " + ", ".join(f"{c:.2f}" for c in costs))
    print(f"  returning browser (a new session, frontend files in its HTTP cache): median "
          f"{statistics.median(returning[1:] or returning):.2f} s")
    print(f"the same page with an empty prompt, so no results: median "
          f"{statistics.median(floor[1:] or floor):.2f} s warm")
    print(f"a one-line Streamlit page (st.write), for scale: median {statistics.median(trivial[1:] or trivial):.2f} s warm")
    if waits:
        print(f"{len(waits)} browsers opening Token search at once: waited median {statistics.median(waits):.1f} s, "
              f"worst {max(waits):.1f} s; server CPU {together_cpu:.2f} s per load")
    print(f"machine load average (1 min, {psutil.cpu_count()} CPUs): {load_before:.1f} before, "
          f"{psutil.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
