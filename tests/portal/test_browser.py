"""The victim space in a real browser: Debian's Chromium driven by Playwright, at a phone size."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import Page, expect
from warcio.archiveiterator import ArchiveIterator

from alerts.models import Alert
from clients.models import Mandate
from hits.documents import MatchKind, Severity
from portal import access
from portal.mandates import has_consent, mandate_for_pack, mandate_line, valid_mandate
from portal.models import PortalSession
from takedowns.models import Case, CaseNote
from tests.conftest import DATA
from tests.crawlers.static_site import Route, StaticSite, serve_site
from tests.portal.conftest import link_in, wait_for_mail
from tests.takedowns.workbench import PASSWORD, make_user, seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FORUM_PAGE = (DATA / "forums" / "xenforo2_katzen-forum.net_thread.html").read_bytes()
NEUTRAL = b"<!DOCTYPE html><html lang='fr'><head><title>Meteo</title></head><body><h1>Meteo du jour</h1></body></html>"


@pytest.fixture
def neutral_site(settings):
    server = serve_site(StaticSite({"/": Route(NEUTRAL, "text/html; charset=utf-8")}))
    settings.BODYGUARD_PORTAL_EXIT_URL = f"http://127.0.0.1:{server.server_port}/"
    yield settings.BODYGUARD_PORTAL_EXIT_URL
    server.shutdown()


def _open_link(page: Page, base: str, url: str) -> None:
    page.goto(base + url[url.index("/espace/") :])


def test_she_signs_in_with_a_link_that_works_once(page, live_server, jeanne, settings):
    settings.BODYGUARD_SITE_URL = live_server.url
    page.goto(f"{live_server.url}/espace/")
    expect(page.locator("h1")).to_have_text("Entrer dans votre espace")
    page.fill("#id_email", "jeanne@example.org")
    page.click("#send-link")
    expect(page.locator("#link-sent")).to_contain_text("un lien de connexion est en route")
    url = link_in(wait_for_mail(1)[0])
    assert url.startswith(live_server.url)

    page.goto(url)
    page.click("#continue")
    page.wait_for_url("**/espace/situation/")
    expect(page.locator("h1")).to_have_text("Où en sont les choses")
    expect(page.locator("main")).to_contain_text("Bonjour Jeanne.")

    # The same link again, in another browser: refused.
    other = page.context.browser.new_context(locale="fr-FR")
    again = other.new_page()
    response = again.goto(url)
    assert response is not None and response.status == 410
    expect(again.locator("#link-refused")).to_be_visible()
    assert again.locator("#continue").count() == 0
    again.goto(f"{live_server.url}/espace/situation/")
    again.wait_for_url(f"{live_server.url}/espace/")
    other.close()


def test_an_expired_link_is_refused(page, live_server, jeanne):
    url = access.new_link(jeanne, now=datetime.now(UTC) - timedelta(minutes=16))
    response = page.goto(live_server.url + url[url.index("/espace/") :])
    assert response is not None and response.status == 410
    expect(page.locator("h1")).to_have_text("Ce lien ne fonctionne plus")
    assert "Jeanne" not in page.content()


def _sign_in(page: Page, base: str, client) -> None:
    url = access.new_link(client)
    _open_link(page, base, url)
    page.click("#continue")
    page.wait_for_url("**/espace/situation/")


def test_a_link_she_reports_becomes_a_captured_hit_first_in_the_queue(
    page, live_server, jeanne, hit_store, isolated: Path, settings
):
    forum = serve_site(StaticSite({"/threads/jeanne.123/": Route(FORUM_PAGE, "text/html")}))
    other_site = seed(hit_store, "http://127.0.0.1:1", isolated / "sources")  # older hits
    port = forum.server_port
    settings.BODYGUARD_PORTAL_PRIVATE_ALLOWLIST = [f"127.0.0.1:{port}"]
    reported_url = f"http://127.0.0.1:{port}/threads/jeanne.123/"
    try:
        _sign_in(page, live_server.url, jeanne)
        page.click("text=J'ai trouvé un lien")
        # An internal address (here, our own server) is refused by the address guard.
        page.fill("#id_links", f"{live_server.url}/admin/")
        page.click("#send-links")
        expect(page.locator("#links-errors")).to_contain_text("ne mène pas à un site public")
        page.fill("#id_links", reported_url)
        page.fill("#id_note", "Vu hier soir, partagé par un ancien collègue")
        page.click("#send-links")
        expect(page.locator("#received")).to_have_text("Reçu, notre équipe s'en occupe.")
        assert "katzen" not in page.content().lower()
    finally:
        forum.shutdown()

    hits = [h for h in hit_store.of_client("jeanne-dupont")]
    assert len(hits) == 1
    hit = hits[0]
    assert hit.match_kind == MatchKind.REPORTED and hit.severity == Severity.CRITICAL
    assert hit.url == reported_url and hit.evidence_record_id and hit.captured_at
    assert hit.evidence_sha256 == hashlib.sha256(FORUM_PAGE).hexdigest()
    # The capture is in the evidence store: request, response (the page as served), metadata.
    warc = Path(settings.BODYGUARD_EVIDENCE_DIR) / hit.evidence_warc
    with open(warc, "rb") as stream:
        records = {
            r.rec_headers.get_header("WARC-Record-ID"): r.content_stream().read()
            for r in ArchiveIterator(stream)
            if r.rec_type == "response"
        }
    assert records[hit.evidence_record_id] == FORUM_PAGE
    # Filed under her case for that site, her note with it; no alert email about her own link.
    case = Case.objects.get(client=jeanne)
    assert case.host == "127.0.0.1" and case.hits.get().hit_id == hit.hit_id
    assert "ancien collègue" in CaseNote.objects.get(case=case).text
    assert Alert.objects.get(hit_id=hit.hit_id).status == Alert.Status.SUPPRESSED
    assert not mail.outbox

    # The reviewer's queue: her link comes first, before the strongest photo match.
    make_user("alice", "reviewer")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("h1")).to_contain_text("Publications à examiner")
    rows = page.locator("table tr:has(input[name=hit])")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("jeanne-dupont")
    expect(rows.first).to_contain_text("lien signalé par la cliente")
    expect(rows.nth(1)).to_contain_text(other_site.client.reference)
    rows.first.locator("a", has_text="Examiner").click()
    expect(page.locator("h1")).to_contain_text("jeanne-dupont")


def test_quick_exit_leaves_no_page_of_the_space_in_history(page, live_server, jeanne, neutral_site):
    _sign_in(page, live_server.url, jeanne)
    page.click("text=J'ai trouvé un lien")
    page.wait_for_url("**/espace/signaler/")
    length = page.evaluate("() => history.length")
    page.click("#quick-exit")
    page.wait_for_url(neutral_site)
    expect(page.locator("h1")).to_have_text("Meteo du jour")
    # Replaced, not added: the history is as long as before, the report page is gone from it.
    assert page.evaluate("() => history.length") == length
    for _ in range(150):  # the session is ended on the way out (a beacon)
        if not PortalSession.objects.exists():
            break
        page.wait_for_timeout(100)
    assert not PortalSession.objects.exists()
    page.go_back()
    assert "/espace/signaler/" not in page.url
    # Back lands on the page before, which now asks to sign in again.
    expect(page.locator("h1")).to_have_text("Entrer dans votre espace")


def test_escape_leaves_at_once(page, live_server, jeanne, neutral_site):
    _sign_in(page, live_server.url, jeanne)
    page.keyboard.press("Escape")
    page.wait_for_url(neutral_site)


def test_she_signs_her_mandate_then_revokes_it(page, live_server, jeanne):
    assert valid_mandate(jeanne) is None and mandate_line(jeanne) == ""
    _sign_in(page, live_server.url, jeanne)
    page.click("text=Mon mandat")
    page.fill("#id_full_name", "Jeanne Dupont")
    page.fill("#id_postal_address", "1 rue de la Paix, 75002 Paris")
    page.check("input[name=scopes][value=removal_notices]")
    page.check("input[name=scopes][value=delisting]")
    page.fill("#id_signature", "Jeanne Dupon")  # not the same name: refused
    page.check("#id_agree")
    page.click("#sign")
    expect(page.locator("main")).to_contain_text("Tapez exactement les mêmes nom et prénom")
    assert not Mandate.objects.exists()
    page.fill("#id_signature", "Jeanne Dupont")
    page.check("#id_agree")
    page.click("#sign")
    expect(page.locator("#signed")).to_be_visible()
    expect(page.locator("#current-mandate")).to_contain_text("Jeanne Dupont")
    expect(page.locator("#current-mandate")).to_contain_text("Envoyer des demandes de retrait")

    mandate = valid_mandate(jeanne)
    assert mandate is not None and mandate.signature == "Jeanne Dupont"
    assert mandate.scopes == ["removal_notices", "delisting"] and mandate.ip == "127.0.0.1"
    assert valid_mandate(jeanne, "removal_notices") == mandate
    assert valid_mandate(jeanne, "hash_sharing") is None
    line = mandate_line(jeanne, "fr")
    assert line.startswith("agissant pour le compte de Jeanne Dupont en vertu d'un mandat du ")
    assert mandate_line(jeanne, "en").startswith("acting on behalf of Jeanne Dupont under a")
    pack = mandate_for_pack(jeanne)
    assert pack is not None and "Signature (tapée) : Jeanne Dupont" in pack[1].decode()
    copy = wait_for_mail(1)[0]
    assert copy.to == ["jeanne@example.org"] and "Envoyer des demandes de retrait" in copy.body

    # Consent to each use of her photos' fingerprints, apart from the mandate.
    page.locator("#consent-monitoring button").click()
    expect(page.locator("#consent-monitoring")).to_contain_text("Accepté le")
    assert has_consent(jeanne, "monitoring") and not has_consent(jeanne, "partner_export")

    page.click("#revoke")
    expect(page.locator("#revoked")).to_be_visible()
    assert valid_mandate(jeanne) is None and mandate_line(jeanne) == ""
    assert mandate_for_pack(jeanne) is None
    assert Mandate.objects.get().revoked_at is not None
    assert "révoqué" in wait_for_mail(2)[1].subject
    expect(page.locator("#sign")).to_be_visible()  # she can give a new one
