"""Client registered → Discourse-shaped server crawled → hit in Elasticsearch → email → case."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from alerts.models import Alert
from clients.services import import_client_file
from operations.scheduler import configured_sources, run_cycle
from takedowns.models import Case, CaseHit
from tests.conftest import write_source

pytestmark = [pytest.mark.django_db(transaction=True)]

POST_440 = "/t/comments-on-the-boyfriends-introduction-to-feminism/2108/440"

CLIENTS = """
clients:
  - id: allan-bloom
    display_name: Allan Bloom
    names: ["Allan Bloom"]
    email: allan.bloom@example.org
    language: fr
"""


@pytest.fixture
def registered(isolated: Path, discourse_site, hit_store, mailbox):
    site, base_url = discourse_site
    clients = isolated / "clients.yaml"
    clients.write_text(CLIENTS, encoding="utf-8")
    import_client_file(clients)
    write_source(isolated / "sources", "cf-forum", base_url)
    return site, base_url, hit_store, mailbox


def _cycle(full: bool = False):
    return run_cycle(list(configured_sources().values()), full=full)


def test_a_client_named_in_a_real_post_gets_a_hit_an_email_and_a_case(registered):
    _site, base_url, store, mailbox = registered

    report = _cycle()

    assert [c.status for c in report.crawls] == ["ok"]
    hits = store.latest(client_id="allan-bloom")
    assert [h.url for h in hits] == [base_url + POST_440]
    hit = hits[0]
    assert hit.source_id == "cf-forum"
    assert hit.author == "Jarrod"
    assert [t.text for t in hit.matched_terms] == ["Allan Bloom"]
    span = hit.matched_terms[0]
    assert hit.excerpt[span.start : span.end] == "Allan Bloom"

    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["To"] == "allan.bloom@example.org"
    assert "publication" in message["Subject"]

    case = Case.objects.get()
    assert case.state == Case.State.NEW
    assert case.client is not None and case.client.reference == "allan-bloom"
    assert list(case.hits.values_list("url", flat=True)) == [base_url + POST_440]
    assert Alert.objects.get().status == Alert.Status.SENT


def test_the_email_never_shows_the_offending_content(registered):
    _site, _base_url, store, mailbox = registered
    _cycle()

    body = mailbox.messages[0].get_body(preferencelist=("plain",)).get_content()
    hit = store.latest(client_id="allan-bloom")[0]
    words_of_post = [w for w in hit.excerpt.split() if len(w) > 7 and w not in {"Allan", "Bloom"}]
    assert words_of_post, "the excerpt should have long words to look for"
    assert not [w for w in words_of_post if w in body]
    # The only link is to the client's own preferences page, never to the post or its site.
    links = [w for w in body.split() if "://" in w]
    assert len(links) == 1 and urlsplit(links[0]).path.startswith("/preferences/")
    assert "/t/" not in body
    assert "Bonjour Allan Bloom" in body


def test_crawling_twice_keeps_one_hit_one_alert_one_email(registered):
    _site, _base_url, store, mailbox = registered
    _cycle()
    first = store.latest(client_id="allan-bloom")

    # A full re-crawl reads the same page again (an incremental one would not even fetch it).
    second_report = _cycle(full=True)

    again = store.latest(client_id="allan-bloom")
    assert [h.hit_id for h in again] == [h.hit_id for h in first]
    assert again[0].first_seen == first[0].first_seen
    assert again[0].last_seen > first[0].last_seen
    assert second_report.crawls[0].new_hits == 0
    assert len(mailbox.messages) == 1
    assert Alert.objects.count() == 1
    assert CaseHit.objects.count() == 1


def test_the_forum_search_is_used_for_the_clients_names(registered):
    site, _base_url, _store, _mailbox = registered
    _cycle()
    assert any(r.startswith("/search.json?q=%22Allan+Bloom%22") for r in site.requests)
