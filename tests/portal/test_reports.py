"""A reported link captured at once: the page (WARC), a screenshot when enabled, and a link
that cannot be fetched still reaches the team."""

from __future__ import annotations

from pathlib import Path

import pytest

from hits.documents import MatchKind
from portal.models import ReportedLink
from portal.reports import report_links, split_links
from takedowns.models import CaseNote
from tests.conftest import DATA
from tests.crawlers.static_site import Route, StaticSite, serve_site

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.elasticsearch]

PAGE = (DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html").read_bytes()


def test_pasted_text_becomes_a_list_of_links():
    pasted = " https://a.example/1\nhttps://b.example/2  https://a.example/1\n\n"
    assert split_links(pasted) == ["https://a.example/1", "https://b.example/2"]


@pytest.mark.browser
def test_a_reported_page_is_captured_and_photographed(jeanne, hit_store, isolated: Path, settings):
    server = serve_site(StaticSite({"/viewtopic.php": Route(PAGE, "text/html; charset=utf-8")}))
    port = server.server_port
    settings.BODYGUARD_PORTAL_PRIVATE_ALLOWLIST = [f"127.0.0.1:{port}"]
    settings.BODYGUARD_SCREENSHOTS = True
    try:
        done = report_links(
            jeanne, [f"http://127.0.0.1:{port}/viewtopic.php?f=4&t=167"], "", ip="10.0.0.1"
        )
    finally:
        server.shutdown()
    assert len(done) == 1 and done[0].captured
    hit = hit_store.get(done[0].hit_id)
    assert hit is not None and hit.match_kind == MatchKind.REPORTED
    assert hit.evidence_record_id and hit.screenshot_record_id
    assert (Path(settings.BODYGUARD_EVIDENCE_DIR) / hit.screenshot_warc).exists()


def test_a_page_that_cannot_be_fetched_still_reaches_the_team(jeanne, hit_store, settings):
    server = serve_site(StaticSite({}))
    port = server.server_port
    server.shutdown()  # gone: the connection is refused
    settings.BODYGUARD_PORTAL_PRIVATE_ALLOWLIST = [f"127.0.0.1:{port}"]
    done = report_links(jeanne, [f"http://127.0.0.1:{port}/p/1"], "à voir", ip=None)
    assert len(done) == 1 and not done[0].captured
    hit = hit_store.get(done[0].hit_id)
    assert hit is not None and not hit.evidence_record_id
    link = ReportedLink.objects.get()
    assert link.outcome == ReportedLink.Outcome.NOT_CAPTURED and link.detail
    notes = " ".join(CaseNote.objects.values_list("text", flat=True))
    assert "à voir" in notes and "Capture impossible" in notes
