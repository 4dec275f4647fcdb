"""Browser fixtures for tests/app/test_browser*.py: one headless Chromium per module, a fresh 1280x800 tab
per test."""
from __future__ import annotations

import pytest

from browser_helpers import CHROMIUM


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium: run .ci/browser-deps.sh")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright's Python package: run .ci/browser-deps.sh")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()
