"""What was published before a client registered is found too (issue 10), end to end:
a real Discourse-shaped server, real Elasticsearch, real SMTP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert
from clients.models import Client, WatchTerm
from clients.services import import_client_file
from hits.corpus import CorpusFilters, CorpusStore
from operations.backscan import run_pending_backscans
from operations.models import BackScan
from operations.scheduler import configured_sources, process_alerts, run_cycle
from takedowns.models import Case
from tests.conftest import write_source
from tests.test_end_to_end import CLIENTS

pytestmark = [pytest.mark.django_db(transaction=True)]

# Another person named in the same real thread (post 2108/1), never searched for before.
CLIENT_B = """
clients:
  - id: easter-bunny
    display_name: Easter Bunny
    names: ["Easter Bunny"]
    email: easter.bunny@example.org
    language: fr
"""


@pytest.fixture
def crawled(isolated: Path, discourse_site, hit_store, mailbox, settings):
    """Client A registered, the forum crawled once, A's alert sent."""
    site, base_url = discourse_site
    (isolated / "a.yaml").write_text(CLIENTS, encoding="utf-8")
    import_client_file(isolated / "a.yaml")
    write_source(isolated / "sources", "cf-forum", base_url)
    run_cycle(list(configured_sources().values()))
    assert len(mailbox.messages) == 1
    corpus = CorpusStore(settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX)
    yield site, corpus
    corpus.delete_index()
    corpus.close()


def test_every_post_read_is_kept_in_the_corpus(crawled):
    site, corpus = crawled
    # Every real post of both topics, not only the one that named Allan Bloom.
    assert corpus.count() == len([p for p in site.posts.values() if p.get("cooked")])
    post = corpus.by_url(next(u for u in _urls(corpus) if u.endswith("/2108/440")))
    assert post is not None and post.author == "Jarrod"
    assert post.author_ref.endswith("/u/Jarrod") and post.thread.endswith("/2108")


def _urls(corpus: CorpusStore) -> list[str]:
    return [p.url for p in corpus.search(CorpusFilters(), per_page=200).posts]


def test_a_client_registered_later_gets_what_was_already_published(
    crawled, hit_store, mailbox, isolated
):
    site, _corpus = crawled
    site.requests.clear()
    (isolated / "b.yaml").write_text(CLIENT_B, encoding="utf-8")
    import_client_file(isolated / "b.yaml")
    scan = BackScan.objects.get(client__reference="easter-bunny")
    assert scan.status == BackScan.Status.QUEUED  # the import did not wait for it

    process_alerts()  # the monitor's job: back-scans, then alerts; nothing crawled

    # Found in the corpus, not by crawling again: the only request is the fresh capture of
    # the post's public page (still online), through the guarded fetch; not the forum's API.
    [asked] = site.requests
    assert asked.startswith("/t/comments-on-the-boyfriends") and asked.endswith("/2108/434")
    hits = hit_store.latest(client_id="easter-bunny")
    assert len(hits) == 1
    assert "Easter Bunny" in [t.text for t in hits[0].matched_terms]
    assert hits[0].evidence_record_id  # the corpus record, or a fresh capture
    scan.refresh_from_db()
    assert scan.status == BackScan.Status.DONE
    assert scan.hits_created == 1 and scan.posts_read >= 1
    assert scan.first_sight_sources == ["cf-forum"]
    to_b = [m for m in mailbox.messages if m["To"] == "easter.bunny@example.org"]
    assert len(to_b) == 1
    assert Case.objects.filter(client__reference="easter-bunny").count() == 1

    # The first-sight crawl finds the same post by searching: still one hit, email and case.
    run_cycle(list(configured_sources().values()))
    assert any("Easter+Bunny" in r for r in site.requests if r.startswith("/search.json"))
    assert len(hit_store.latest(client_id="easter-bunny")) == 1
    assert len([m for m in mailbox.messages if m["To"] == "easter.bunny@example.org"]) == 1
    assert Alert.objects.filter(client__reference="easter-bunny").count() == 1
    assert Case.objects.filter(client__reference="easter-bunny").count() == 1


def test_a_back_scan_run_twice_makes_no_second_hit(crawled, hit_store, mailbox, isolated):
    (isolated / "b.yaml").write_text(CLIENT_B, encoding="utf-8")
    import_client_file(isolated / "b.yaml")
    process_alerts()
    client = Client.objects.get(reference="easter-bunny")
    BackScan.objects.create(client=client, reason="again")

    again = run_pending_backscans()
    process_alerts()

    assert [o.hits_created for o in again] == [0]
    assert len(hit_store.latest(client_id="easter-bunny")) == 1
    assert len([m for m in mailbox.messages if m["To"] == "easter.bunny@example.org"]) == 1


def test_a_new_alias_of_a_client_finds_old_posts(crawled, hit_store, mailbox):
    before = {h.url for h in hit_store.latest(client_id="allan-bloom")}
    client = Client.objects.get(reference="allan-bloom")
    # Saved as the admin inline does: a term row.
    WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.ALIAS, value="Williams Institute")
    assert BackScan.objects.filter(client=client, status=BackScan.Status.QUEUED).count() == 1

    process_alerts()

    hits = hit_store.latest(client_id="allan-bloom")
    new = [h for h in hits if h.url not in before]
    assert len(new) == 1 and [t.term for t in new[0].matched_terms] == ["Williams Institute"]
    # A second alert email for the new hit, and the case grows (one case per client).
    assert len(mailbox.messages) == 2
    assert Case.objects.filter(client=client).count() == 1


def test_a_back_scan_interrupted_mid_way_is_run_again(crawled, hit_store, mailbox, isolated):
    (isolated / "b.yaml").write_text(CLIENT_B, encoding="utf-8")
    with transaction.atomic():  # the import's on-commit queueing runs at the block's end
        import_client_file(isolated / "b.yaml")
    # The monitor died during the scan: the row says running, and nothing else will run it.
    BackScan.objects.filter(client__reference="easter-bunny").update(
        status=BackScan.Status.RUNNING, started_at=timezone.now() - timedelta(hours=2)
    )
    process_alerts()
    assert BackScan.objects.filter(
        client__reference="easter-bunny", status=BackScan.Status.DONE
    ).exists()
    assert len(hit_store.latest(client_id="easter-bunny")) == 1


def test_a_back_scan_verifying_in_worker_processes_finds_the_same(
    crawled, hit_store, mailbox, isolated, monkeypatch
):
    import operations.backscan as backscan

    # Every candidate in its own batch, verified by two worker processes.
    monkeypatch.setattr(backscan, "VERIFY_BATCH", 1)
    monkeypatch.setattr(backscan, "VERIFY_WORKERS", 2)
    (isolated / "b.yaml").write_text(CLIENT_B, encoding="utf-8")
    import_client_file(isolated / "b.yaml")
    process_alerts()
    scan = BackScan.objects.get(client__reference="easter-bunny")
    assert scan.status == BackScan.Status.DONE and scan.posts_read >= 1
    assert scan.hits_created == 1
    assert len(hit_store.latest(client_id="easter-bunny")) == 1
