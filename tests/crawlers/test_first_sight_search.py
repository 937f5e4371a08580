"""A newly watched name reads what its search returns, even what another name's search read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.models import Client, WatchTerm
from config.sources import Source, parse_interval
from crawlers.runner import run_crawl
from crawlers.spiders.mastodon import MastodonSpider
from hits.images import ImageStore
from operations.backscan import searching_sources
from operations.scheduler import configured_sources
from tests.conftest import DATA, write_source
from tests.crawlers.static_site import Route, StaticSite, serve_site

THREAD = "/r/self/comments/1cebxh/my_wife_passed_away_eight_months_ago_yesterday_i/"
JSON = "application/json; charset=utf-8"


def _watch(reference: str, name: str) -> None:
    client = Client.objects.create(
        reference=reference, display_name=name, email=f"{reference}@example.org"
    )
    WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value=name)


@pytest.mark.django_db(transaction=True)
def test_reddit_a_new_names_search_fetches_a_thread_another_names_search_read(
    isolated: Path, settings, hit_store, request
):
    thread = (DATA / "reddit" / "graw_testdata_thread.json").read_bytes()
    # Reddit answers a search with a listing of submissions: the thread's own, as recorded.
    found = json.dumps(json.loads(thread)[0]).encode()
    site = StaticSite(
        {"/search.json": Route(found, JSON), THREAD.rstrip("/") + ".json": Route(thread, JSON)}
    )
    server = serve_site(site)
    write_source(
        isolated / "sources",
        "reddit",
        f"http://127.0.0.1:{server.server_port}",
        kind="reddit",
        options={"max_pages": 1},
    )
    # State and requests are what this is about: no Elasticsearch write needed.
    settings.BODYGUARD_CRAWL_SETTINGS = settings.BODYGUARD_CRAWL_SETTINGS | {
        "BODYGUARD_INDEX_HITS": "0",
        "BODYGUARD_CORPUS": "0",
    }
    request.addfinalizer(ImageStore(hit_store._es, settings.BODYGUARD_INDEX_PREFIX).delete_index)
    fetches = THREAD.rstrip("/") + ".json"
    try:
        _watch("allan", "Allan Bloom")
        run_crawl(configured_sources()["reddit"])
        assert site.requests.count(fetches) == 1
        site.requests.clear()
        run_crawl(configured_sources()["reddit"])  # unchanged: not fetched again for Allan
        assert fetches not in site.requests
        site.requests.clear()

        _watch("easter", "Easter Bunny")
        run_crawl(configured_sources()["reddit"])
    finally:
        server.shutdown()

    assert any("Easter+Bunny" in r for r in site.requests if r.startswith("/search.json"))
    assert site.requests.count(fetches) == 1


def _mastodon(source_id: str = "masto", **credentials: str) -> Source:
    return Source(
        id=source_id,
        kind="mastodon",
        base_url="https://mastodon.example",
        crawl_interval=parse_interval("1h"),
        options={"hashtags": ["ichbinhanna"]},
        credentials=credentials,
    )


def test_mastodon_searches_only_with_an_access_token():
    assert MastodonSpider.searches(_mastodon(access_token="MASTODON_TOKEN")) is True
    assert MastodonSpider.searches(_mastodon()) is False


def test_mastodon_with_a_token_gets_a_first_sight_crawl():
    sources = {
        "with-token": _mastodon("with-token", access_token="MASTODON_TOKEN"),
        "without": _mastodon("without"),
    }
    assert [s.id for s in searching_sources(sources)] == ["with-token"]
