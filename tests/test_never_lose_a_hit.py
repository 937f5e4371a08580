"""Never lose a hit: real crawl subprocesses against a local Discourse serving real responses,
a real Elasticsearch node. A refused document, a killed crawl, an erasure during a crawl."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from clients.services import import_client_file
from config.environment import BASE_DIR
from crawlers.models import CrawlRun
from crawlers.runner import crawl_environment
from demo.discourse_server import DiscourseSite, serve
from hits.journal import HitJournal
from hits.store import HitStore
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import real_discourse_site, write_source
from tests.hits.test_journal import _hit
from tests.hits.test_store import IMMENSE
from tests.test_outage_mid_crawl import CLIENT

pytestmark = [pytest.mark.django_db(transaction=True)]

# Post #3 of topic 2108 names the watched alias "Elliot"; served through /t/2108/posts.json.
HOSTILE_POST = 18848
STAFF = "veille@sos.example"


def _watch(isolated: Path, base_url: str) -> None:
    (isolated / "clients.yaml").write_text(CLIENT, encoding="utf-8")
    import_client_file(isolated / "clients.yaml")
    write_source(isolated / "sources", "cf-forum", base_url)


def _cycle():
    return run_cycle(list(configured_sources().values()))


def test_a_hit_elasticsearch_refuses_is_set_aside_for_staff_and_the_others_are_indexed(
    isolated: Path, settings, discourse_site, hit_store: HitStore, mailbox
):
    site, base_url = discourse_site
    site.posts[HOSTILE_POST]["username"] = IMMENSE  # an author name too long to index
    settings.BODYGUARD_STAFF_EMAILS = [STAFF]
    _watch(isolated, base_url)

    [crawl] = _cycle().crawls

    assert crawl.status == CrawlRun.Status.DEGRADED, crawl.message
    assert "refused by Elasticsearch" in crawl.message and "dead-letter" in crawl.message
    journal = HitJournal(settings.BODYGUARD_JOURNAL_DIR, hit_store.index)
    [letter] = journal.dead_letters.entries()
    assert letter.document["url"].endswith("/2108/3") and letter.document["author"] == IMMENSE
    indexed = {h.url for h in hit_store.latest(size=100)}
    assert len(indexed) == 9 and letter.document["url"] not in indexed
    assert crawl.hits == 9
    [warning] = [m for m in mailbox.messages if STAFF in m["To"]]
    body = warning.get_content()
    assert str(journal.dead_letters.directory) in body and letter.error_type in body
    assert "xxxxxxxx" not in body and "Elliot" not in body  # never the content

    # The refused document trips no later crawl.
    site.posts[HOSTILE_POST]["username"] = "anonymous45"
    [again] = run_cycle(list(configured_sources().values()), full=True).crawls
    assert again.status == CrawlRun.Status.OK, again.message
    assert len({h.url for h in hit_store.latest(size=100)}) == 10


def test_a_journaled_hit_elasticsearch_refuses_does_not_stop_the_next_crawls(
    isolated: Path, settings, discourse_site, hit_store: HitStore, mailbox
):
    _site, base_url = discourse_site
    _watch(isolated, base_url)
    journal = HitJournal(settings.BODYGUARD_JOURNAL_DIR, hit_store.index)
    refused, waiting = _hit("watched", 1, author=IMMENSE), _hit("watched", 2)
    journal.append([refused, waiting])

    [crawl] = _cycle().crawls

    assert crawl.status == CrawlRun.Status.DEGRADED, crawl.message
    assert hit_store.get(waiting.hit_id) is not None  # replayed
    assert crawl.hits >= 10  # and this crawl's own hits written
    assert journal.pending() == []
    assert [d.doc_id for d in journal.dead_letters.entries()] == [refused.hit_id]
    [second] = _cycle().crawls
    assert second.status == CrawlRun.Status.OK, second.message


class HangingSite(DiscourseSite):
    """Answers every request but those for ``hang_path``, which wait until released."""

    hang_path = "/t/57.json"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.reached = threading.Event()
        self.release = threading.Event()
        self.last_request = time.monotonic()

    def respond(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        self.last_request = time.monotonic()
        if path == self.hang_path:
            self.reached.set()
            self.release.wait(120)
        return super().respond(path, query)


@pytest.fixture
def hanging_site():
    real = real_discourse_site()
    site = HangingSite(topics=real.topics, posts=real.posts, raw=real.raw)
    server = serve(site)
    yield site, f"http://127.0.0.1:{server.server_port}"
    site.release.set()
    server.shutdown()


def _start_crawl(source_id: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "scrapy", "crawl", "discourse", "-a", f"source={source_id}"]
    for key, value in {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "0"}.items():
        command += ["-s", f"{key}={value}"]
    return subprocess.Popen(
        command, cwd=BASE_DIR, env=crawl_environment(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait_until_idle(site: HangingSite, quiet_s: float = 4) -> None:
    """Until the crawl waits on the hanging page only: every other page answered and read."""
    assert site.reached.wait(60), "the crawl never asked for the hanging page"
    deadline = time.monotonic() + 60
    while time.monotonic() - site.last_request < quiet_s and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_crawl_killed_at_its_time_limit_keeps_every_hit_it_had_matched(
    isolated: Path, settings, hanging_site, hit_store: HitStore
):
    site, base_url = hanging_site
    _watch(isolated, base_url)
    crawl = _start_crawl("cf-forum")
    try:
        _wait_until_idle(site)
        # Written as matched, not held for the crawl's end: all ten arrive while it still runs
        # (a slow write on a busy machine is waited for, a write kept back until the close is not).
        deadline = time.monotonic() + 30
        while hit_store.count() < 10 and time.monotonic() < deadline:
            time.sleep(0.5)
            hit_store._es.indices.refresh(index=hit_store.index)
    finally:
        crawl.send_signal(signal.SIGKILL)  # what the runner does when SIGTERM is not enough
        crawl.wait()
    hit_store._es.indices.refresh(index=hit_store.index)
    kept = {h.url for h in hit_store.latest(size=100)}

    # What the same crawl finds when nothing interrupts it (topic 57 names no one).
    site.release.set()
    settings.BODYGUARD_INDEX_PREFIX += "-reference"
    reference = HitStore(settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX)
    try:
        run_cycle(list(configured_sources().values()), full=True)
        expected = {h.url for h in reference.latest(size=100)}
    finally:
        reference.delete_index()
        reference.close()
    assert len(expected) == 10
    assert kept == expected


def test_a_client_erased_during_a_crawl_gets_no_hits_from_it(
    isolated: Path, settings, hanging_site, hit_store: HitStore
):
    from operations.privacy import erase_client

    site, base_url = hanging_site
    # Topic 57 is walked after the hang: its pages come only once the client is erased.
    site.hang_path = "/latest.json"
    _watch(isolated, base_url)
    crawl = _start_crawl("cf-forum")
    try:
        assert site.reached.wait(60), "the crawl never started"
        erase_client("watched")
        site.release.set()
        crawl.wait(timeout=120)
    finally:
        crawl.kill()
    hit_store._es.indices.refresh(index=hit_store.index)
    assert hit_store.count() == 0
    assert HitJournal(settings.BODYGUARD_JOURNAL_DIR, hit_store.index).pending() == []
