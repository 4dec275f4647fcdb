"""Opening an HTML report in Chromium with the network blocked, and checking what it drew."""
from __future__ import annotations

from pathlib import Path


def open_offline(browser, path: Path):
    """A page on `path` with every non-file, non-data request aborted; returns (page, attempted, errors)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    attempted, errors = [], []

    def block(route):
        attempted.append(route.request.url)
        route.abort()

    page.route(lambda url: not url.startswith(("file:", "data:")), block)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(Path(path).as_uri())
    page.wait_for_function("document.body.dataset.ready === '1' && "
                           "[...document.querySelectorAll('.chart')].every(c => c.dataset.rendered)", timeout=60_000)
    return page, attempted, errors


def check_rendered(page, attempted, errors, screenshot: Path) -> dict:
    """Every chart drew SVG marks, every table has rows, nothing was fetched; a full-page screenshot."""
    charts = page.eval_on_selector_all(".chart", "els => els.map(e => ({name: e.dataset.name, state: e.dataset.rendered, "
                                                 "marks: e.querySelectorAll('svg .mark-rect path, svg .mark-symbol path, "
                                                 "svg .mark-rule line, svg .mark-line path, svg path.background').length}))")
    tables = page.eval_on_selector_all("table.sortable", "els => els.map(e => e.tBodies[0].rows.length)")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    assert attempted == [] and errors == []
    assert all(c["state"] == "1" and c["marks"] > 0 for c in charts), charts
    assert (charts or tables) and all(n > 0 for n in tables), tables
    return {"charts": charts, "tables": tables}
