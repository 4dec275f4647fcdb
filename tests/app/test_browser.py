"""The dashboard in a real browser: Debian's Chromium driven by Playwright (`.ci/browser-deps.sh` installs
both). The app runs with `streamlit run` on a free port over a data folder already holding a cached search
on a tiny local model, two imported reward models and a cached implicit-RM comparison, so no real model
loads. Screenshots of every page at 1280x800 go to tests/artifacts/ (git-ignored): look at them."""
from __future__ import annotations

import io
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import openpyxl
import pandas as pd
import pytest

from browser_helpers import open_page, shoot, streamlit_server
from helpers import DEMO_MODELS, seed_compared_home

pytestmark = pytest.mark.browser

PROMPT = "What, in one word, is the greatest thing ever?"
NAMED = "freedom, love, money, power, family, success"  # the Base models page's default named words


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """A data folder with a cached token search, imported runs and a cached implicit-RM comparison."""
    return seed_compared_home(tmp_path_factory.mktemp("browser"), PROMPT, [w.strip() for w in NAMED.split(",")])


@pytest.fixture(scope="module")
def server(data):
    with streamlit_server(data["home"], data["home"].parent / "streamlit.log") as url:
        yield url


def test_values_page(server, page):
    models = "&".join(f"vmodels={name}" for name, *_ in DEMO_MODELS)
    open_page(page, f"{server}/values?{models}&basis=words&resamples=999", "Median rank by category")
    page.get_by_role("heading", name="Family comparison").wait_for()
    # the first page this server shows is a deep link: the whole app (its navigation) must run, not the page alone
    assert page.get_by_role("link", name="Token search").count() == 1
    assert page.get_by_text("demo-gemma-rm").count() > 0
    shoot(page, "2-values")


def test_cached_search_shows_top_tokens_and_downloads_the_csv(server, data, page):
    scores = data["search"].scores
    page.goto(f"{server}/search?mode=logprob&words=the%2C+love")
    page.get_by_role("button", name="Run search").wait_for()
    # choose the model as a user does: clear the defaults, type the folder, press Enter
    models = page.get_by_test_id("stMultiSelect").first
    models.get_by_role("button", name="Clear all").click()
    models.locator("input").fill(str(data["tiny"]))
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Run search").click()
    page.get_by_text("Top 10").first.wait_for()  # from the cache: no model loads, no progress bar
    assert "models=" in page.url and "words=the" in page.url  # the view is in the address, to share
    page.get_by_text("answer: from the cache").first.wait_for()
    # Streamlit draws tables on a canvas; an accessible copy of the cells sits in the DOM
    grid = page.get_by_test_id("stDataFrame").first
    grid.locator("td").nth(29).wait_for(state="attached")
    cells = grid.locator("td").all_text_contents()
    rows = [cells[i:i + 3] for i in range(0, len(cells), 3)]
    assert [int(r[0]) for r in rows] == list(range(1, 11))
    assert [float(r[2]) for r in rows] == pytest.approx(scores["score"].head(10).tolist(), abs=1e-9)
    from app.ui.formatting import visible_token

    assert [r[1] for r in rows] == [visible_token(t) for t in scores["text"].head(10)]
    time.sleep(0.8)
    shoot(page, "1-token-search")

    with page.expect_download() as info:
        page.get_by_role("button", name="Ranking CSV").first.click()
    download = info.value
    name = download.suggested_filename  # the CSV itself
    assert name.startswith("valuescope_ranking_") and name.endswith(".csv") and "greatest" in name, name
    stem = name.removesuffix(".csv")
    table = pd.read_csv(download.path(), keep_default_na=False)  # header on line 1: no options needed to find it
    assert list(table.columns) == ["token_id", "token", "score", "rank"]
    assert len(table) == len(scores)
    assert table["token_id"].tolist() == scores["token_id"].tolist()
    assert table["token"].tolist() == scores["text"].tolist()  # every token exactly as scored
    with page.expect_download() as info:
        page.get_by_role("button", name="Provenance").first.click()
    assert info.value.suggested_filename == f"{stem}.meta.json"
    meta = json.loads(Path(info.value.path()).read_text())
    assert meta["run_id"] == data["search"].run["run_id"] and meta["revision"].startswith("local:")

    with page.expect_download() as info:
        page.get_by_role("button", name="Ranking .xlsx").first.click()
    assert info.value.suggested_filename == f"{stem}.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))  # the path has no suffix
    assert book.sheetnames == ["table", "provenance"] and book["table"].max_row == len(scores) + 1
    assert not [c for row in book["table"].iter_rows() for c in row if c.data_type == "f"]


def test_base_models_page(server, data, page):
    query = urlencode({"model_a": str(data["tiny"]), "model_b": str(data["other"]), "bprompt": PROMPT})
    open_page(page, f"{server}/base-models?{query}", "Top and bottom words by MWLR")
    page.get_by_role("heading", name="Named words").wait_for()
    shoot(page, "3-base-models")


def test_training_page(server, page):
    open_page(page, f"{server}/training", "Training")
    page.get_by_text("No training runs yet").wait_for()
    shoot(page, "4-training")


def test_runs_page(server, data, page):
    from engine.store.db import Cache

    n = len(Cache(data["home"]).list_runs())
    open_page(page, f"{server}/runs", "Runs")
    page.get_by_text(f"{n} of {n} runs").wait_for()
    shoot(page, "5-runs")


def test_a_running_job_survives_a_reload_and_can_be_cancelled(server, data, page, tmp_path):
    """The page finds a search's job by its request key: after a reload (a new session) it shows the same
    job's progress again, and Cancel ends it. The job is a gated stand-in, so its timing is the test's."""
    import engine.jobs as jobs
    from engine.configs import SearchConfig
    from engine.workflows.runner import RunRequest

    prompt = "What is the worst thing ever?"
    key = RunRequest.resolve(SearchConfig(model=str(data["tiny"])), prompt).key
    jobs.register_kind("gated", "jobs_helpers:gated_job")
    job = jobs.submit("gated", {"calls": 1, "gate": str(tmp_path / "never")}, key=key, label="search tiny",
                      home=data["home"])
    url = f"{server}/?{urlencode({'models': str(data['tiny']), 'prompt': prompt})}"  # an old link: Home forwards it
    page.goto(url)
    page.get_by_text("Waiting for the gate").wait_for()
    page.reload()
    page.get_by_text("Waiting for the gate").wait_for()  # re-attached: the same job, seen from a new session
    assert jobs.get(job.id, home=data["home"]).status == "running"
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Press Run search to start it again").wait_for()
    assert jobs.get(job.id, home=data["home"]).status == "cancelled"
