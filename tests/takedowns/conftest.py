"""Shared by the workbench's browser tests: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from config.environment import BASE_DIR
from crawlers.screenshots import CHROMIUM_ARGS

# Playwright waits 5 s for an expectation; what a click starts on the server (a retro-match,
# a crawl) can take longer than that on a busy CI machine.
expect.set_options(timeout=20_000)

ARTIFACTS = BASE_DIR / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed for browser tests: make test installs it"
    # Playwright's sync API keeps an event loop in this thread while the browser is open; the
    # tests' own database work around it stays synchronous.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        launched = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            chromium_sandbox=False,
            args=list(CHROMIUM_ARGS),
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request) -> Iterator[Page]:
    context = browser.new_context(locale="fr-FR")
    opened = context.new_page()
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
    context.close()
