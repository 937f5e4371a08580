"""Re-check: content that goes away moves its case to removed, with the response as proof."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from takedowns.evidence import export_case, verify_evidence
from takedowns.models import Case, CaseHit, Notice, Recheck
from takedowns.notices import NoticeDraft, create_notice, send_notice
from takedowns.recheck import recheck_open_cases
from takedowns.services import Decision, decide
from tests.conftest import DATA
from tests.crawlers.static_site import Route, serve_site
from tests.takedowns.workbench import IMAGE, forum_site, seed

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def short_confirmation(settings):
    # Production waits minutes before the confirming fetch; the behaviour is the same.
    settings.BODYGUARD_RECHECK_CONFIRM_DELAY_S = 0.05


@pytest.fixture
def forum(isolated: Path, hit_store):
    site = forum_site()
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    seeded = seed(hit_store, base, isolated / "sources")
    decide(
        hit_store, [seeded.name_hit.hit_id, seeded.photo_hit.hit_id], Decision.CONFIRM, who="alice"
    )
    yield site, base, seeded
    server.shutdown()


def _states(case: Case) -> tuple[str, list[str]]:
    case.refresh_from_db()
    return case.state, sorted(case.hits.values_list("source_status", flat=True))


def test_a_page_that_starts_answering_410_moves_the_case_to_removed(forum):
    site, _base, seeded = forum

    first = recheck_open_cases()
    assert (first.present, first.gone) == (2, 0)
    assert _states(seeded.case) == ("confirmed", ["present", "present"])

    site.routes["/viewtopic.php"] = Route(b"<h1>Gone</h1>", "text/html", 410)
    second = recheck_open_cases()

    assert second.cases_removed == [seeded.case.pk]
    assert _states(seeded.case) == ("removed", ["gone", "gone"])
    transition = seeded.case.transitions.get(to_state="removed")
    assert transition.who == "re-check" and "HTTP 410" in transition.reason
    proof = Recheck.objects.filter(verdict="gone").first()
    assert proof is not None and proof.http_status == 410 and proof.evidence_warc
    assert CaseHit.objects.filter(removed_at__isnull=False).count() == 2


def test_the_proof_of_removal_is_archived_verified_and_in_the_case_pack(forum, settings):
    site, _base, seeded = forum
    site.routes["/viewtopic.php"] = Route(b"<h1>Gone</h1>", "text/html", 410)
    recheck_open_cases()

    assert verify_evidence().ok
    pack = zipfile.ZipFile(io.BytesIO(export_case(seeded.case.pk, who="alice")))
    report = pack.read("rapport.html").decode()
    assert "re-vérification" in report and "HTTP 410" in report
    statuses, metadata = [], []
    for record in ArchiveIterator(io.BytesIO(pack.read(f"case-{seeded.case.pk}.warc.gz"))):
        if record.rec_type == "response":
            statuses.append(record.http_headers.get_statuscode())
        elif record.rec_type == "metadata":
            metadata.append(json.loads(record.content_stream().read()))
    assert "410" in statuses
    assert any(m.get("recheck_verdict") == "gone" for m in metadata)


def test_a_page_that_no_longer_names_the_client_counts_as_gone(forum):
    site, _base, seeded = forum
    other = (DATA / "forums" / "vbulletin_pocketpc.ch_thread_page34.html").read_bytes()
    site.routes["/viewtopic.php"] = Route(other, "text/html; charset=utf-8")
    recheck_open_cases()
    name = CaseHit.objects.get(hit_id=seeded.name_hit.hit_id)
    assert name.source_status == "gone"
    assert "no longer names the client" in name.rechecks.get().detail


@pytest.mark.parametrize("kind", ["reported", "video"])
def test_a_page_found_by_other_means_than_a_name_stays_present_while_served(forum, kind):
    # A link the client reported (or a page with her video) may never have named her: a page
    # still served without her name is still online, never "removed".
    site, _base, seeded = forum
    CaseHit.objects.filter(hit_id=seeded.name_hit.hit_id).update(match_kind=kind)
    other = (DATA / "forums" / "vbulletin_pocketpc.ch_thread_page34.html").read_bytes()
    site.routes["/viewtopic.php"] = Route(other, "text/html; charset=utf-8")
    recheck_open_cases()
    found = CaseHit.objects.get(hit_id=seeded.name_hit.hit_id)
    assert found.source_status == "present"
    assert "still served" in found.rechecks.get().detail
    site.routes["/viewtopic.php"] = Route(b"<h1>Gone</h1>", "text/html", 404)
    recheck_open_cases()
    found.refresh_from_db()
    assert found.source_status == "gone"


def test_a_replaced_image_counts_as_gone_and_the_same_one_as_present(forum):
    site, _base, seeded = forum
    recheck_open_cases()
    photo = CaseHit.objects.get(hit_id=seeded.photo_hit.hit_id)
    assert photo.source_status == "present"
    site.routes[IMAGE] = Route((DATA / "photos" / "opencv_fruits.jpg").read_bytes(), "image/jpeg")
    recheck_open_cases()
    photo.refresh_from_db()
    assert photo.source_status == "gone"
    assert "no longer the client's photo" in photo.rechecks.order_by("-pk")[0].detail


def test_a_challenge_page_is_blocked_never_removed(forum):
    site, _base, seeded = forum
    challenge = b"<html><title>Just a moment...</title><div id='cf_chl_opt'></div></html>"
    site.routes["/viewtopic.php"] = Route(challenge, "text/html", 403)
    report = recheck_open_cases()
    assert report.blocked == 2 and not report.cases_removed
    assert _states(seeded.case) == ("confirmed", ["blocked", "blocked"])


def test_still_online_after_a_notice_raises_a_reminder_then_an_escalation(forum, hit_store):
    _site, _base, seeded = forum
    notice = create_notice(
        hit_store,
        seeded.case,
        NoticeDraft(
            route="dsa16",
            hit_ids=list(seeded.case.hits.values_list("hit_id", flat=True)),
            reasons="Publication d'une photo de la personne sans son consentement, avec son nom.",
            recipient="Host",
            good_faith=True,
        ),
        who="alice",
    )
    assert isinstance(notice, Notice)
    assert send_notice(notice, who="alice", channel="other", detail="formulaire de l'hébergeur").ok
    sent = datetime.now(UTC)

    assert not recheck_open_cases(now=sent + timedelta(days=3)).reminders
    assert recheck_open_cases(now=sent + timedelta(days=8)).reminders == [seeded.case.pk]
    assert _states(seeded.case)[0] == "no_response"
    Case.objects.filter(pk=seeded.case.pk).update(state_changed_at=sent + timedelta(days=8))
    assert recheck_open_cases(now=sent + timedelta(days=16)).escalations == [seeded.case.pk]
    assert _states(seeded.case)[0] == "escalated"


def test_urls_inside_our_network_are_not_fetched_unless_the_source_allows_it(forum, isolated):
    site, _base, _seeded = forum
    (isolated / "sources" / "myoos.yaml").write_text(
        (isolated / "sources" / "myoos.yaml")
        .read_text()
        .replace("allow_private_addresses: true", "allow_private_addresses: false"),
        encoding="utf-8",
    )
    before = len(site.requests)
    report = recheck_open_cases()
    assert report.unknown == 2 and len(site.requests) == before
    assert "private or internal address" in Recheck.objects.all()[0].detail
