"""What failed is read again; a source that reads pages and finds nothing is not "ok"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clients.services import import_client_file
from crawlers.models import CrawlRun, SourceState
from demo.discourse_server import DiscourseSite, serve
from operations.scheduler import configured_sources, crawl_source, run_cycle
from tests.conftest import DATA, real_discourse_site, write_source
from tests.crawlers.static_site import Route, StaticSite, serve_site
from tests.test_end_to_end import CLIENTS, POST_440

pytestmark = [pytest.mark.django_db(transaction=True)]


class FlakyForum(DiscourseSite):
    """The real Discourse responses, except that the topic answers 503 while ``down``."""

    down = True

    def respond(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if self.down and path.startswith("/t/2108"):
            return 503, "text/plain", b"Service Unavailable"
        return super().respond(path, query)


@pytest.fixture
def flaky(isolated: Path, hit_store, mailbox, settings):
    site = FlakyForum()
    real = real_discourse_site()
    site.topics, site.posts, site.raw = real.topics, real.posts, real.raw
    server = serve(site)
    base_url = f"http://127.0.0.1:{server.server_port}"
    # Retries inside one run are the middleware's business; here each failure is final.
    settings.BODYGUARD_CRAWL_SETTINGS = {**settings.BODYGUARD_CRAWL_SETTINGS, "RETRY_TIMES": "0"}
    (isolated / "clients.yaml").write_text(CLIENTS, encoding="utf-8")
    import_client_file(isolated / "clients.yaml")
    write_source(isolated / "sources", "cf-forum", base_url)
    yield site, base_url
    server.shutdown()


def test_a_page_that_failed_is_fetched_and_matched_on_the_next_run(flaky, hit_store):
    site, base_url = flaky
    first = run_cycle(list(configured_sources().values()))
    assert hit_store.count() == 0
    assert first.crawls[0].status == CrawlRun.Status.DEGRADED
    assert first.crawls[0].failed_requests >= 2  # the topic, and the post its search found
    state = SourceState.objects.get(source_id="cf-forum")
    assert any(f["url"].startswith(f"{base_url}/t/2108") for f in state.failures.values())

    site.down = False
    site.requests.clear()
    second = run_cycle(list(configured_sources().values()))

    assert any(r.startswith("/t/2108") for r in site.requests)
    assert [h.url for h in hit_store.latest(client_id="allan-bloom")] == [base_url + POST_440]
    assert second.crawls[0].status == CrawlRun.Status.OK
    assert SourceState.objects.get(source_id="cf-forum").failures == {}


def test_a_source_whose_selectors_no_longer_match_is_degraded_and_staff_hear_of_it(
    isolated: Path, settings: Any, mailbox
):
    # A phpBB source whose forum moved to XenForo: every page answers, no post is found.
    page = (DATA / "forums" / "xenforo2_katzen-forum.net_thread.html").read_bytes()
    site = StaticSite({"/viewtopic.php": Route(page)})
    server = serve_site(site)
    settings.BODYGUARD_STAFF_EMAILS = ["veille@sos.example"]
    write_source(
        isolated / "sources",
        "redesigned",
        f"http://127.0.0.1:{server.server_port}",
        kind="phpbb",
        options={"start_urls": ["/viewtopic.php?f=4&t=167"], "max_pages": 1},
    )
    source = configured_sources()["redesigned"]
    try:
        runs = [crawl_source(source) for _ in range(3)]
    finally:
        server.shutdown()

    assert [r.status for r in runs] == [CrawlRun.Status.DEGRADED] * 3
    assert "no post found" in runs[0].message
    # Read again each time (never remembered as read), and staff told once, at the third.
    assert len([r for r in site.requests if r.startswith("/viewtopic.php")]) == 3
    [message] = mailbox.messages
    assert message["To"] == "veille@sos.example" and "redesigned" in message["Subject"]


class GoneForum(DiscourseSite):
    """The real Discourse responses, except that topics under ``gone`` answer 404."""

    gone: tuple[str, ...] = ("/t/2108",)

    def respond(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if path.startswith(self.gone):
            return 404, "text/plain", b"Not Found"
        return super().respond(path, query)


@pytest.fixture
def gone_forum(isolated: Path, hit_store, mailbox, settings):
    site = GoneForum()
    real = real_discourse_site()
    site.topics, site.posts, site.raw = real.topics, real.posts, real.raw
    server = serve(site)
    settings.BODYGUARD_STAFF_EMAILS = ["veille@sos.example"]
    (isolated / "clients.yaml").write_text(CLIENTS, encoding="utf-8")
    import_client_file(isolated / "clients.yaml")
    write_source(isolated / "sources", "cf-forum", f"http://127.0.0.1:{server.server_port}")
    yield site, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_thread_that_answers_404_is_no_failure_and_is_read_when_it_comes_back(
    gone_forum, hit_store, mailbox
):
    site, base_url = gone_forum
    first = run_cycle(list(configured_sources().values()))
    # A deleted thread is the web, not a broken source: no retry backoff, not degraded.
    assert first.crawls[0].status == CrawlRun.Status.OK
    assert first.crawls[0].failed_requests == 0
    assert "gone (404/410)" in first.crawls[0].message
    assert SourceState.objects.get(source_id="cf-forum").failures == {}
    assert hit_store.count() == 0

    site.gone = ()
    site.requests.clear()
    run_cycle(list(configured_sources().values()))
    # Not remembered as read: the thread is fetched again and its post matched.
    assert any(r.startswith("/t/2108") for r in site.requests)
    assert [h.url for h in hit_store.latest(client_id="allan-bloom")] == [base_url + POST_440]


def test_a_forum_whose_threads_all_answer_404_is_degraded_at_every_run(gone_forum, mailbox):
    site, _ = gone_forum
    site.gone = ("/t/",)
    source = configured_sources()["cf-forum"]
    runs = [crawl_source(source) for _ in range(3)]
    assert [r.status for r in runs] == [CrawlRun.Status.DEGRADED] * 3
    assert "no post found" in runs[2].message
    [message] = [m for m in mailbox.messages if m["To"] == "veille@sos.example"]
    assert "cf-forum" in message["Subject"]


def test_a_forum_page_that_fails_is_retried_next_run_then_backs_off(
    isolated: Path, settings: Any, mailbox
):
    # phpBB, vBulletin, XenForo, Invision and generic sources: pages known only once read.
    page = (DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html").read_bytes()
    down = Route(b"Service Unavailable", "text/plain", 503)
    site = StaticSite(
        {
            "/viewtopic.php?t=1": [down, down, Route(page, "text/html; charset=utf-8")],
            "/viewtopic.php?t=2": Route(page, "text/html; charset=utf-8"),
        }
    )
    server = serve_site(site)
    settings.BODYGUARD_CRAWL_SETTINGS = {**settings.BODYGUARD_CRAWL_SETTINGS, "RETRY_TIMES": "0"}
    write_source(
        isolated / "sources",
        "myoos",
        f"http://127.0.0.1:{server.server_port}",
        kind="phpbb",
        options={"start_urls": ["/viewtopic.php?t=1", "/viewtopic.php?t=2"], "max_pages": 0},
    )
    source = configured_sources()["myoos"]

    def asked() -> int:
        return site.requests.count("/viewtopic.php?t=1")

    try:
        first = crawl_source(source)
        assert first.failed_requests == 1 and "retried on the next run" in first.message
        [failure] = SourceState.objects.get(source_id="myoos").failures.values()
        assert failure["url"].endswith("/viewtopic.php?t=1") and failure["attempts"] == 1

        second = crawl_source(source)  # tried again at once: still down
        assert asked() == 2 and second.failed_requests == 1
        crawl_source(source)  # second failure: it waits (30 minutes) instead of being hammered
        assert asked() == 2
        state = SourceState.objects.get(source_id="myoos")
        [key] = state.failures
        assert state.failures[key]["attempts"] == 2
        state.failures[key]["failed_at"] = "2000-01-01T00:00:00+00:00"  # the wait is over
        state.save()

        last = crawl_source(source)
        assert asked() == 3 and last.failed_requests == 0
        assert SourceState.objects.get(source_id="myoos").failures == {}
    finally:
        server.shutdown()
