"""Shared by the victim space's tests: a client, signing in, Chromium at two sizes, axe-core."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from clients.models import Client
from config.environment import BASE_DIR
from crawlers.screenshots import CHROMIUM_ARGS
from portal import access

# Playwright waits 5 s for an expectation; what a click starts on the server (a retro-match,
# a crawl) can take longer than that on a busy CI machine.
expect.set_options(timeout=20_000)

ARTIFACTS = BASE_DIR / "test-artifacts" / "portal"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}


@pytest.fixture
def jeanne(db: Any) -> Client:
    return Client.objects.create(
        reference="jeanne-dupont",
        display_name="Jeanne Dupont",
        email="jeanne@example.org",
    )


def wait_for_mail(count: int = 1, timeout_s: float = 10.0) -> list[mail.EmailMessage]:
    """Emails are sent from a background thread: wait until they are in the outbox."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(mail.outbox) >= count:
            return list(mail.outbox)
        time.sleep(0.05)
    raise AssertionError(f"expected {count} email(s), got {len(mail.outbox)}")


def link_in(message: mail.EmailMessage) -> str:
    found = re.search(r"https?://\S+/espace/lien/[^/\s]+/", str(message.body))
    assert found, message.body
    return found.group(0)


def sign_in(django_client: Any, client: Client) -> None:
    """Sign in through a real link (Django's test client)."""
    url = access.new_link(client)
    path = url[url.index("/espace/") :]
    response = django_client.post(path)
    assert response.status_code == 302, response.content[:300]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed for browser tests: make test installs it"
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


def new_context(browser: Browser, viewport: dict[str, int] = PHONE) -> BrowserContext:
    return browser.new_context(locale="fr-FR", viewport=viewport)  # type: ignore[arg-type]


@pytest.fixture
def signed_in(client: Any, jeanne: Client, isolated: Path) -> Any:
    """Django's test client, signed in to Jeanne's space."""
    sign_in(client, jeanne)
    return client


@contextmanager
def scripts_page(browser: Browser, title: str, scripts: list[Path]) -> Iterator[Page]:
    """A blank page running our own scripts only (the ports' tests call them directly)."""
    context = new_context(browser)
    opened = context.new_page()
    opened.set_content(f"<!DOCTYPE html><title>{title}</title>")
    for script in scripts:
        opened.add_script_tag(content=script.read_text(encoding="utf-8"))
    yield opened
    context.close()


@pytest.fixture
def page(browser: Browser, request: Any) -> Iterator[Page]:
    """A phone-sized page (mobile first); the axe test also uses a desktop one."""
    context = new_context(browser)
    opened = context.new_page()
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
    context.close()


def browser_sign_in(page: Page, base: str, client: Client) -> None:
    url = access.new_link(client)
    page.goto(base + url[url.index("/espace/") :])
    page.click("#continue")
    page.wait_for_url("**/espace/situation/")


def axe_source() -> str:
    """axe-core as vendored by `make axe` (scripts/axe-core.sh), never from a CDN."""
    result = subprocess.run(
        [str(BASE_DIR / "scripts" / "axe-core.sh")], check=True, capture_output=True, text=True
    )
    return Path(result.stdout.strip()).read_text(encoding="utf-8")


_AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    resultTypes: ["violations"],
  });
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
}"""


def axe_violations(page: Page, source: str) -> list[dict[str, Any]]:
    """Serious and critical WCAG 2.1 A/AA violations on the page as it is now. axe is
    evaluated through the DevTools protocol: the page's CSP (no inline script) stays on."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(source)
    return list(page.evaluate(_AXE_RUN))
