#!/usr/bin/env bash
# What tests/app/test_browser.py needs: Debian's chromium and Playwright's Python package.
# Only the Python package: `playwright install` downloads a browser build of its own, which fails
# on machines that reach nothing but PyPI and Debian. The test drives /usr/bin/chromium instead.
# About a minute on a fresh machine (apt), a second when both are already there.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if ! python -c "import playwright.sync_api" 2>/dev/null; then
    python -m pip install -q playwright
fi
/usr/bin/chromium --version 2>/dev/null | head -1 || true
python -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
