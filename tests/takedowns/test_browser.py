"""The takedown team's day in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from takedowns.models import AuditEvent, Case, Notice
from tests.crawlers.static_site import serve_site
from tests.takedowns.conftest import ARTIFACTS
from tests.takedowns.workbench import NOTIFIER, PASSWORD, forum_site, make_user, seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def forum(isolated: Path, hit_store, settings):
    settings.BODYGUARD_NOTIFIER = NOTIFIER
    site = forum_site()
    server = serve_site(site)
    seeded = seed(hit_store, f"http://127.0.0.1:{server.server_port}", isolated / "sources")
    yield seeded
    server.shutdown()


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")


def _wait_until_loaded(image: Locator) -> None:
    """The image was served and decoded (through CDP: our CSP rightly forbids eval)."""
    for _ in range(100):
        if image.evaluate("img => img.complete && img.naturalWidth") > 0:
            return
        image.page.wait_for_timeout(100)
    raise AssertionError("the image never loaded")


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_reviewer_goes_from_the_queue_to_a_sent_lcen_notice(page, live_server, forum):
    make_user("alice", "reviewer")
    base = live_server.url
    _sign_in(page, base, "alice")
    expect(page.locator("h1")).to_contain_text("Publications à examiner")
    _shot(page, "01-queue")

    # Filter the queue down to photo matches.
    page.select_option("select[name=kind]", "image")
    page.click("#apply-filters")
    rows = page.locator("table tr:has(input[name=hit])")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("photo « photo 1 »")
    rows.first.locator("a", has_text="Examiner").click()

    # The image comes blurred from our server; revealing it is logged.
    image = page.locator("#hit-image")
    expect(image).to_have_class("blurred")
    _wait_until_loaded(page.locator("#hit-image"))
    _shot(page, "02-hit-blurred")
    assert not AuditEvent.objects.filter(action="reveal_image").exists()
    page.click("#reveal")
    expect(page.locator("#hit-image")).not_to_have_class("blurred")
    _wait_until_loaded(page.locator("#hit-image"))
    assert AuditEvent.objects.filter(
        action="reveal_image", who="alice", target=forum.photo_hit.hit_id
    ).exists()
    _shot(page, "03-hit-revealed")

    # Confirm it: the case follows.
    page.click("#decide-confirm")
    expect(page.locator("#status")).to_have_text("Confirmée")
    page.locator("a", has_text="dossier n°").click()
    expect(page.locator("#case-state")).to_have_text("Confirmé")

    # Generate an LCEN notice.
    page.fill("#contact input[name=abuse_email]", "abuse@myoos.example")
    page.fill("#contact input[name=name]", "MyOOS")
    page.click("#contact button")
    page.select_option("#route", "lcen6")
    page.check("input[name=ground][value=cp-226-2-1]")
    page.fill(
        "textarea[name=reasons]",
        "Diffusion sans son consentement d'une photo de la personne, accompagnée de son nom.",
    )
    page.fill("textarea[name=facts]", "Un message du fil publie la photo du client.")
    page.fill("input[name=prior_request_impossible]", "l'auteur publie sous un pseudonyme anonyme")
    page.check("input[name=good_faith]")
    _shot(page, "04-notice-form")
    page.click("#draft-notice")
    expect(page.locator("#notice-body")).to_contain_text("article 226-2-1 du Code pénal")
    expect(page.locator("#notice-body")).to_contain_text("Date de la notification")
    _shot(page, "05-notice-draft")

    # Mark it as sent by another channel: the case shows notice_sent.
    page.check("input[name=channel][value=other]")
    page.fill("input[name=detail]", "formulaire de signalement de l'hébergeur, accusé n° 42")
    page.click("#send")
    expect(page.locator("#notice-status")).to_contain_text("Envoyée le")
    page.locator("a", has_text="Dossier n°").click()
    expect(page.locator("#case-state")).to_have_text("Notification envoyée")
    _shot(page, "06-case-notice-sent")
    case = Case.objects.get(pk=forum.case.pk)
    assert case.state == Case.State.NOTICE_SENT
    notice = Notice.objects.get()
    assert notice.sent_by == "alice" and notice.route == "lcen6"


def test_staff_cannot_reach_the_review_queue(page, live_server, forum):
    make_user("sam", "staff")
    _sign_in(page, live_server.url, "sam")
    response = page.goto(f"{live_server.url}/review/")
    assert response is not None and response.status == 403
    _shot(page, "07-staff-forbidden")
