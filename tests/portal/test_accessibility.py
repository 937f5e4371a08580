"""WCAG 2.1 AA on every page of the space, at a phone size and a desktop size: axe-core
(vendored from npm by `make axe`) finds no serious or critical violation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page

from alerts.services import preferences_url
from portal import access
from portal.mandates import sign_mandate
from takedowns.models import Case, CaseHit
from tests.portal.conftest import ARTIFACTS, VIEWPORTS, axe_source, new_context

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _check(page: Page, source: str, name: str, found: dict[str, list]) -> None:
    page.wait_for_load_state("load")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"axe-{name}.png"), full_page=True)
    from tests.portal.conftest import axe_violations

    violations = axe_violations(page, source)
    if violations:
        found[name] = violations


def _path(url: str) -> str:
    return url[url.index("/espace/") :] if "/espace/" in url else url[url.index("/preferences/") :]


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_no_serious_or_critical_violation_on_any_page(
    browser: Browser, live_server, jeanne, hit_store, size
):
    source = axe_source()
    case = Case.objects.create(
        client=jeanne, client_reference=jeanne.reference, host="forum.example"
    )
    CaseHit.objects.create(
        case=case, hit_id="a" * 40, url="https://forum.example/p/1", review_status="confirmed"
    )
    base = live_server.url
    context = new_context(browser, VIEWPORTS[size])
    page = context.new_page()
    found: dict[str, list] = {}
    try:
        page.goto(f"{base}/espace/")
        _check(page, source, f"{size}-sign-in", found)
        page.fill("#id_email", "nobody@example.org")
        page.click("#send-link")
        _check(page, source, f"{size}-link-sent", found)
        expired = access.new_link(jeanne, now=datetime.now(UTC) - timedelta(hours=1))
        page.goto(base + _path(expired))
        _check(page, source, f"{size}-link-refused", found)
        page.goto(base + _path(preferences_url(jeanne)))
        _check(page, source, f"{size}-preferences-by-email-link", found)
        page.goto(f"{base}/preferences/not-a-link/")
        _check(page, source, f"{size}-preferences-refused", found)
        page.goto(base + _path(access.new_link(jeanne)))
        _check(page, source, f"{size}-link-confirm", found)
        page.click("#continue")
        page.wait_for_url("**/espace/situation/")
        _check(page, source, f"{size}-overview", found)
        for path, name in [
            ("/espace/signaler/", "report"),
            ("/espace/signaler/recu/?n=1", "reported"),
            ("/espace/preferences/", "preferences"),
            ("/espace/mandat/", "mandate-form"),
            ("/espace/donnees/", "data"),
            ("/espace/donnees/effacer/", "erase"),
        ]:
            page.goto(base + path)
            _check(page, source, f"{size}-{name}", found)
        page.goto(f"{base}/espace/signaler/")
        page.click("#send-links")  # empty: the form shows its error
        _check(page, source, f"{size}-report-error", found)
        sign_mandate(
            jeanne, full_name="Jeanne Dupont", postal_address="", scopes=["removal_notices"],
            signature="Jeanne Dupont", ip="127.0.0.1",
        )  # fmt: skip
        page.goto(f"{base}/espace/mandat/")
        _check(page, source, f"{size}-mandate-signed", found)
        page.goto(f"{base}/espace/donnees/effacer/")
        page.check("#id_confirm")
        page.click("#confirm-erase")
        page.wait_for_selector("#erased")
        _check(page, source, f"{size}-erased", found)
    finally:
        context.close()
    assert not found, found
