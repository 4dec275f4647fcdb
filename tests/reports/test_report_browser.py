"""Reports and the static site in a real browser with the network blocked: Debian's Chromium driven by
Playwright (`.ci/browser-deps.sh` installs both). Every request that is not a file: or data: URL is
aborted and recorded; each page must make none, draw every chart (Vega's SVG marks in the DOM), fill
every table, sort a table on a click, and hand over the embedded CSV of a chart and of a table. Full-page
screenshots go to tests/artifacts/reports/ (git-ignored): look at them."""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.reports.export import read_table
from report_helpers import check_rendered, open_offline
from helpers import DEMO_MODELS, ROOT, seed_compared_home

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "tests" / "artifacts" / "reports"
CHROMIUM = Path("/usr/bin/chromium")
PROMPT = "What, in one word, is the greatest thing ever?"
DEMO = [name for name, *_ in DEMO_MODELS]  # the imported Fig 1-style reward models

if not CHROMIUM.exists():
    pytest.skip("needs Debian's chromium at /usr/bin/chromium: run .ci/browser-deps.sh", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright's Python package: run .ci/browser-deps.sh")


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict:
    """One report of each kind, and a site, built through the command line from tiny local models."""
    from engine.reports.implicit import write_implicit_tables
    from engine.training.config import preset_config
    from engine.training.trainer import train_comparison

    root = tmp_path_factory.mktemp("browser-reports")
    seeded = seed_compared_home(root, PROMPT, ["love", "freedom", "money"], resamples=199)
    home, tiny, other, search = seeded["home"], seeded["tiny"], seeded["other"], seeded["search"]
    write_implicit_tables(seeded["implicit"], root / "implicit", top_n=10)
    pairs = root / "prefs.jsonl"
    pairs.write_text("\n".join(f'{{"prompt": "What is best?", "chosen": "{g}", "rejected": "{b}"}}'
                               for g, b in zip(["Love.", "Kindness.", "Peace."] * 8, ["War.", "Hate.", "Harm."] * 8)))
    config = preset_config("cpu-demo", bases=[str(tiny), str(other)], data=str(pairs), pairs=[0], eval_pairs=6, num_train_epochs=1,
                           learning_rate=3e-3, lora_r=4, lora_alpha=8, max_length=48, prompts=["greatest_ever_one"],
                           out=str(root / "run"))
    trained = train_comparison(config, home=home)
    assert main(["--home", str(home), "trajectory", str(trained.run_dir)]) in (0, 1)
    assert main(["--home", str(home), "analyze", "--families", "llama", "gemma", "--models", *DEMO,
                 "--resamples", "999", "--out", str(root / "analysis")]) == 0
    out = {}
    for name, target, extra in (("search", search.run["run_id"], ["--words", "love,the,nosuchword"]),
                                ("values", str(root / "analysis"), []), ("implicit", str(root / "implicit"), []),
                                ("training", str(trained.run_dir), [])):
        out[name] = root / f"{name}.html"
        assert main(["--home", str(home), "report", target, "--out", str(out[name]), *extra]) == 0
    assert main(["--home", str(home), "site", "--out", str(root / "site"), "--families", "llama", "gemma",
                 "--models", *DEMO, "--resamples", "999", "--training", str(trained.run_dir)]) == 0
    return {"root": root, "site": root / "site", **out}


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def download(page, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(selector)
    item = info.value
    return item.suggested_filename, Path(item.path()).read_bytes()


@pytest.mark.parametrize("name, n_charts", [("search", 2), ("values", 3), ("implicit", 2), ("training", 3)])
def test_each_report_renders_offline_and_hands_over_its_data(reports, browser, name, n_charts):
    page, attempted, errors = open_offline(browser, reports[name])
    seen = check_rendered(page, attempted, errors, ARTIFACTS / f"report-{name}.png")
    assert len(seen["charts"]) == n_charts
    # the first chart's data and the first table's CSV come out of the page as files
    file_name, data = download(page, "section.figure a.download")
    chart_data = pd.read_csv(io.BytesIO(data), keep_default_na=False)
    assert file_name.endswith(".csv") and len(chart_data) > 0
    file_name, data = download(page, "section.table a.download")
    shown_rows = page.eval_on_selector("table.sortable", "t => t.tBodies[0].rows.length")
    assert len(pd.read_csv(io.BytesIO(data), keep_default_na=False)) >= shown_rows
    _, provenance = download(page, "a[download='provenance.json']")
    assert b'"valuescope_version"' in provenance
    page.context.close()


def test_tables_sort_on_a_click(reports, browser):
    page, attempted, errors = open_offline(browser, reports["values"])
    table = "section.table[data-name='category-means'] table"
    headers = page.eval_on_selector_all(f"{table} th", "hs => hs.map(h => h.textContent)")
    column = headers.index("Agency") + 1
    cells = f"{table} tbody td:nth-child({column})"
    page.click(f"{table} th:nth-child({column})")
    ascending = [float(v) for v in page.eval_on_selector_all(cells, "cs => cs.map(c => c.dataset.sort)")]
    page.click(f"{table} th:nth-child({column})")
    descending = [float(v) for v in page.eval_on_selector_all(cells, "cs => cs.map(c => c.dataset.sort)")]
    assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True) and len(ascending) == 6
    assert attempted == [] and errors == []
    page.context.close()


def test_search_report_shows_where_the_words_land(reports, browser):
    page, attempted, errors = open_offline(browser, reports["search"])
    rows = page.eval_on_selector_all("section.table[data-name='word-positions-table'] tbody tr",
                                     "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    by_word = {r[1]: r for r in rows}
    assert set(by_word) == {"love", "the", "nosuchword"}
    assert by_word["nosuchword"][2] == "" and by_word["the"][2] != ""  # no rank for a word that is not a token
    page.context.close()


def test_site_renders_every_page_offline_with_analyzes_numbers(reports, browser):
    site = reports["site"]
    page, attempted, errors = open_offline(browser, site / "index.html")
    links = page.eval_on_selector_all("a.page", "as => as.map(a => a.getAttribute('href'))")
    page.screenshot(path=str(ARTIFACTS / "site-index.png"), full_page=True)
    assert attempted == [] and errors == [] and len(links) >= 8  # six analysis pages, two or more training pages
    page.context.close()
    for link in links:
        page, attempted, errors = open_offline(browser, site / link)
        check_rendered(page, attempted, errors, ARTIFACTS / f"site-{Path(link).stem}.png")
        if link == "family-comparison.html":
            rows = page.eval_on_selector_all("section.table[data-name='family-summary'] tbody tr",
                                             "rs => rs.map(r => [...r.cells].map(c => c.dataset.sort))")
            headers = page.eval_on_selector_all("section.table[data-name='family-summary'] th", "hs => hs.map(h => h.textContent)")
            shown = pd.DataFrame(rows, columns=headers)
            expected = read_table(reports["root"] / "analysis" / "family_summary.csv")
            for column in ("llama", "gemma", "diff", "p_perm", "p_bonferroni", "effect_size"):
                np.testing.assert_allclose(shown[column].astype(float), expected[column])
            assert list(shown["category"]) == list(expected["category"])
        page.context.close()
    assert re.search(r"^sdk: static$", (site / "README.md").read_text(), re.M)
