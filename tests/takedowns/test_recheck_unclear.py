"""Re-check never says "removed" while the content may still be online.

Each test is an attack or an accident seen on real sites: a host answering 404 to re-checks
only, a page cut at the size limit, an image address answering HTML or a wall, a page that is
gone once and back a minute later, and the usual ambiguous answers.
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from takedowns.models import Case, CaseHit, Recheck
from takedowns.recheck import REMOVED_WATCH_DAYS, recheck_open_cases
from takedowns.services import Decision, decide
from tests.conftest import DATA, write_source
from tests.crawlers.static_site import Route, serve_site
from tests.crawlers.test_hostile_inputs import CHALLENGE
from tests.takedowns.workbench import IMAGE, PHPBB_PAGE, TOPIC, forum_site, reposted_photo, seed

pytestmark = [pytest.mark.django_db(transaction=True)]

OTHER_PAGE = (DATA / "forums" / "vbulletin_pocketpc.ch_thread_page34.html").read_bytes()


@pytest.fixture(autouse=True)
def short_confirmation(settings):
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


def _outcomes(seeded) -> dict[str, tuple[str, str, str]]:
    """Per hit kind: the URL's status at the source, and its last re-check's verdict, reason."""
    out = {}
    for kind, hit in (("name", seeded.name_hit), ("photo", seeded.photo_hit)):
        case_hit = CaseHit.objects.get(hit_id=hit.hit_id)
        last = case_hit.rechecks.order_by("-pk").first()
        assert last is not None, f"the {kind} URL was not re-checked"
        out[kind] = (case_hit.source_status, last.verdict, last.reason)
    return out


def _state(seeded) -> str:
    return Case.objects.get(pk=seeded.case.pk).state


# --- same identity as crawls ------------------------------------------------------------------


# Headers that describe the connection, not the client: they may differ between HTTP stacks.
CONNECTION_HEADERS = frozenset(
    {"host", "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}
)
Identity = tuple[tuple[str, str], ...]


@dataclass
class CloakingSite:
    """Serves the real phpBB topic to whoever crawled it, and 404 to any other client: what a
    host does to have a case closed while the page stays online for everyone else. A client is
    told apart by every request header it sends (names, values and order), as a host can."""

    learning: bool = True
    identities: set[Identity] = field(default_factory=set)
    refused: list[Identity] = field(default_factory=list)
    # The headers of each request for the topic: while learning (the crawl), then after.
    crawl_headers: list[Identity] = field(default_factory=list)
    recheck_headers: list[Identity] = field(default_factory=list)


def serve_cloaking(site: CloakingSite) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            identity = tuple(
                (name, value)
                for name, value in self.headers.items()
                if name.lower() not in CONNECTION_HEADERS
            )
            body, kind, status = PHPBB_PAGE, "text/html; charset=utf-8", 200
            if self.path.startswith(IMAGE):
                body, kind = reposted_photo(), "image/jpeg"
            elif not self.path.startswith("/viewtopic.php"):
                body, kind, status = b"not found", "text/plain", 404
            elif site.learning:
                site.identities.add(identity)
                site.crawl_headers.append(identity)
            else:
                site.recheck_headers.append(identity)
                if identity not in site.identities:
                    site.refused.append(identity)
                    body, kind, status = b"<h1>404 Not Found</h1>", "text/html", 404
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_site_telling_rechecks_from_crawls_by_their_headers_cannot_have_a_case_removed(
    isolated, hit_store
):
    site = CloakingSite()
    server = serve_cloaking(site)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        seeded = seed(hit_store, base, isolated / "sources")
        decide(hit_store, [seeded.name_hit.hit_id], Decision.CONFIRM, who="alice")
        # A real crawl of the topic, by the crawler: the site learns what a crawl looks like.
        write_source(
            isolated / "sources",
            "myoos",
            base,
            kind="phpbb",
            options={"start_urls": [TOPIC], "max_pages": 0},
        )
        outcome = run_crawl(configured_sources()["myoos"])
        assert outcome.pages >= 1, outcome
        assert site.identities
        site.learning = False

        report = recheck_open_cases()
    finally:
        server.shutdown()

    assert site.crawl_headers and site.recheck_headers
    # Every header a crawl sends, with its value, the re-check sends too, and nothing else.
    assert {dict(h).get("Accept-Encoding") for h in site.crawl_headers} != {None}
    for sent in site.recheck_headers:
        assert sent == site.crawl_headers[0], (sent, site.crawl_headers[0])
    assert not site.refused, f"the re-check looked different from the crawl: {site.refused}"
    assert report.gone == 0 and not report.cases_removed
    assert _outcomes(seeded)["name"] == ("present", "present", "still_named")
    assert _state(seeded) == "confirmed"


# --- answers that prove nothing ---------------------------------------------------------------


def test_a_page_cut_at_the_size_limit_is_unknown_never_removed(forum):
    site, _base, seeded = forum
    # The name comes after 11 MB of markup: a fetch cut at 10 MB sees none of it.
    padded = PHPBB_PAGE.replace(b"<body", b"<!--" + b"x" * (11 * 1024 * 1024) + b"--><body", 1)
    site.routes["/viewtopic.php"] = Route(padded, "text/html; charset=utf-8")
    report = recheck_open_cases()
    assert report.gone == 0 and not report.cases_removed
    status, verdict, reason = _outcomes(seeded)["name"]
    assert (status, verdict, reason) == ("unknown", "unknown", "truncated")
    assert _state(seeded) == "confirmed"


def test_a_page_served_compressed_is_read_and_still_names_the_client(forum):
    """Crawls accept gzip, br...; so do re-checks, and a compressed page is read, not judged
    as bytes that name nobody."""
    site, _base, seeded = forum
    site.routes["/viewtopic.php"] = Route(
        gzip.compress(PHPBB_PAGE), "text/html; charset=utf-8", headers={"Content-Encoding": "gzip"}
    )
    report = recheck_open_cases()
    assert report.gone == 0 and not report.cases_removed
    assert _outcomes(seeded)["name"] == ("present", "present", "still_named")


def test_a_compressed_page_inflating_past_the_size_limit_is_unknown_never_removed(forum):
    site, _base, seeded = forum
    # A few dozen KB on the wire, 11 MB of markup once inflated, then the name.
    padded = PHPBB_PAGE.replace(b"<body", b"<!--" + b"x" * (11 * 1024 * 1024) + b"--><body", 1)
    site.routes["/viewtopic.php"] = Route(
        gzip.compress(padded), "text/html; charset=utf-8", headers={"Content-Encoding": "gzip"}
    )
    report = recheck_open_cases()
    assert report.gone == 0 and not report.cases_removed
    assert _outcomes(seeded)["name"] == ("unknown", "unknown", "truncated")
    assert _state(seeded) == "confirmed"


def test_a_page_our_html_parser_rejects_is_still_judged_and_the_run_goes_on(forum):
    """A comment opened before the body and never closed makes lxml give up on the page."""
    site, _base, seeded = forum
    head, body = PHPBB_PAGE.split(b"<body", 1)
    hostile = head + b"<!-- never closed <body" + body.replace(b"-->", b"")
    site.routes["/viewtopic.php"] = Route(hostile, "text/html; charset=utf-8")
    report = recheck_open_cases()
    assert report.checked == 2 and report.gone == 0
    assert _outcomes(seeded)["name"] == ("present", "present", "still_named")


def test_an_image_address_answering_html_is_unknown_never_removed(forum):
    site, _base, seeded = forum
    site.routes[IMAGE] = Route(OTHER_PAGE, "text/html; charset=utf-8")
    recheck_open_cases()
    assert _outcomes(seeded)["photo"] == ("unknown", "unknown", "wrong_type")
    assert _state(seeded) == "confirmed"


def test_an_image_address_answering_a_wall_is_blocked_never_removed(forum):
    site, _base, seeded = forum
    site.routes[IMAGE] = Route(CHALLENGE, "text/html", 200)
    recheck_open_cases()
    assert _outcomes(seeded)["photo"] == ("blocked", "unknown", "wall")


def test_a_wall_served_with_200_instead_of_the_page_is_blocked(forum):
    site, _base, seeded = forum
    site.routes["/viewtopic.php"] = Route(CHALLENGE, "text/html", 200)
    report = recheck_open_cases()
    assert report.blocked == 2 and report.gone == 0
    assert _outcomes(seeded)["name"] == ("blocked", "unknown", "wall")


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(b"<h1>Internal Server Error</h1>", "text/html", 500), "server_error"),
        (Route(b"<h1>Service Unavailable</h1>", "text/html", 503), "server_error"),
        (Route(b"<h1>Forbidden</h1>", "text/html", 403), "wall"),
        (Route(b"Too many requests", "text/plain", 429), "wall"),
        (Route(b"", "text/html", 204), "unexpected_status"),
        (Route(b"", "text/html", 302, {"Location": "/"}), "redirected"),
        (Route(b"", "text/html", 302, {"Location": "/moved"}), "redirected"),
    ],
    ids=["500", "503", "403", "429", "204", "redirect-home", "redirect-to-a-404"],
)
def test_ambiguous_answers_are_unknown_never_removed(forum, route, reason):
    site, _base, seeded = forum
    site.routes["/viewtopic.php"] = route
    site.routes["/"] = Route(OTHER_PAGE, "text/html; charset=utf-8")  # the forum's home page
    report = recheck_open_cases()
    assert report.gone == 0 and not report.cases_removed
    status, verdict, got = _outcomes(seeded)["name"]
    assert verdict == "unknown" and got == reason
    assert status in ("unknown", "blocked")
    assert _state(seeded) == "confirmed"


def test_a_host_that_does_not_resolve_is_unknown_never_removed(forum):
    _site, base, seeded = forum
    port = base.rsplit(":", 1)[1]
    CaseHit.objects.update(url=f"http://forum.bodyguard-test.invalid:{port}{TOPIC}")
    report = recheck_open_cases()
    assert report.unknown == 2 and report.gone == 0
    assert _outcomes(seeded)["name"] == ("unknown", "unknown", "network")


# --- removal is confirmed ---------------------------------------------------------------------


def test_a_page_gone_once_and_back_on_the_second_fetch_stays_online(forum):
    site, _base, seeded = forum
    gone = Route(b"<h1>Gone</h1>", "text/html", 410)
    # First pass: both URLs answer 410; the confirming fetch finds the page back.
    site.routes["/viewtopic.php"] = [gone, gone, Route(PHPBB_PAGE, "text/html; charset=utf-8")]
    report = recheck_open_cases()
    assert report.gone == 0 and not report.cases_removed
    outcomes = _outcomes(seeded)
    assert outcomes["name"] == ("present", "present", "came_back")
    assert outcomes["photo"] == ("present", "present", "came_back")
    assert _state(seeded) == "confirmed"
    first = Recheck.objects.filter(reason="came_back").first()
    assert first is not None
    assert first.first_http_status == 410 and first.http_status == 200


def test_a_removal_is_confirmed_by_a_second_fetch_before_the_case_is_removed(forum):
    site, _base, seeded = forum
    site.routes["/viewtopic.php"] = Route(b"<h1>Gone</h1>", "text/html", 410)
    before = len(site.requests)
    report = recheck_open_cases()
    assert report.cases_removed == [seeded.case.pk]
    # Two URLs, each fetched twice.
    assert len(site.requests) - before == 4
    proof = Recheck.objects.filter(verdict="gone")
    assert proof.count() == 2
    assert all(r.confirmed_at is not None and r.first_http_status == 410 for r in proof)


def test_a_url_back_online_after_it_was_gone_keeps_the_case_from_being_removed(forum):
    """A goes (confirmed), then comes back while B goes: the case is not removed, A is online."""
    site, base, seeded = forum
    page_a, page_b = TOPIC, "/viewtopic.php?f=4&t=168"
    CaseHit.objects.filter(hit_id=seeded.photo_hit.hit_id).update(url=f"{base}{page_b}#p454")
    online = Route(PHPBB_PAGE, "text/html; charset=utf-8")
    gone = Route(b"<h1>Gone</h1>", "text/html", 410)

    site.routes[page_a], site.routes[page_b] = gone, online
    first = recheck_open_cases()
    assert first.gone == 1 and not first.cases_removed
    assert _outcomes(seeded) == {
        "name": ("gone", "gone", "gone_status"),
        "photo": ("present", "present", "image_matches"),
    }

    site.routes[page_a], site.routes[page_b] = online, gone
    before = list(site.requests)
    second = recheck_open_cases()

    assert not second.cases_removed
    assert _state(seeded) == "confirmed"
    assert page_a in site.requests[len(before) :], "the URL gone at the last run was not re-checked"
    outcomes = _outcomes(seeded)
    assert outcomes["name"] == ("present", "present", "still_named")
    assert outcomes["photo"] == ("gone", "gone", "gone_status")
    name = CaseHit.objects.get(hit_id=seeded.name_hit.hit_id)
    assert name.removed_at is None
    assert "back online" in name.rechecks.order_by("-pk")[0].detail


def test_the_case_page_shows_each_urls_re_check_outcome(client, forum):
    from tests.takedowns.workbench import make_user

    site, _base, seeded = forum
    site.routes[IMAGE] = Route(OTHER_PAGE, "text/html; charset=utf-8")
    recheck_open_cases()
    client.force_login(make_user("rev", "reviewer"))
    page = client.get(f"/review/case/{seeded.case.pk}/").content.decode()
    assert "Toujours en ligne — la page nomme toujours la personne" in page  # the name
    assert "l’adresse de l’image ne renvoie plus une image" in page  # the photo: why unknown


def test_content_back_online_after_its_removal_reopens_the_case(forum, settings, mailbox):
    """Removed, then re-uploaded at the same address: the case is confirmed again, the team told."""
    site, _base, seeded = forum
    settings.BODYGUARD_STAFF_EMAILS = ["veille@sos.example"]
    gone = Route(b"<h1>Gone</h1>", "text/html", 410)
    site.routes[TOPIC], site.routes[IMAGE] = gone, gone
    assert recheck_open_cases().cases_removed == [seeded.case.pk]
    assert _state(seeded) == "removed"

    site.routes[TOPIC] = Route(PHPBB_PAGE, "text/html; charset=utf-8")  # the post is back
    report = recheck_open_cases()

    assert report.cases_back == [seeded.case.pk]
    assert _state(seeded) == "confirmed"
    transition = Case.objects.get(pk=seeded.case.pk).transitions.order_by("-pk")[0]
    assert "back online" in transition.reason
    assert any("back online after its removal" in m.get_content() for m in mailbox.messages)


def test_a_case_removed_long_ago_is_no_longer_fetched(forum):
    site, _base, seeded = forum
    gone = Route(b"<h1>Gone</h1>", "text/html", 410)
    site.routes[TOPIC], site.routes[IMAGE] = gone, gone
    recheck_open_cases()
    assert _state(seeded) == "removed"
    Case.objects.filter(pk=seeded.case.pk).update(
        state_changed_at=timezone.now() - timedelta(days=REMOVED_WATCH_DAYS + 1)
    )
    before = len(site.requests)
    assert recheck_open_cases().checked == 0
    assert len(site.requests) == before
