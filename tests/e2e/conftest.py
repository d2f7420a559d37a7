"""The end-to-end tests' shared fixture: one headless Chromium per test module."""

from __future__ import annotations

import pytest

from bench.live_server import CHROMIUM_ARGS
from tests.e2e.test_browser import _chromium


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (skipped, or failed under
    OPTATLAS_REQUIRE_BROWSER=1, where there is none)."""
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
