"""Golden tests: search APIs' real responses (BOMs, null URLs, a refused JSON format)."""

from __future__ import annotations

import pytest

from crawlers.models import CrawlRun
from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from tests.conftest import DATA, write_source
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import Route, StaticSite, serve_site

# The crawl processes read the test database: it must exist even for module fixtures.
pytestmark = pytest.mark.django_db

SEARCH = DATA / "search"
JSON = "application/json; charset=utf-8"
CASES = {
    "brave": ("/res/v1/web/search", "semantic-kernel_brave_what_is_the_semantic_kernel.json"),
    "google_cse": (
        "/customsearch/v1",
        "semantic-kernel_google_site_filter_devblogs_microsoft.com.json",
    ),
    "bing": ("/v7.0/search", "semantic-kernel_bing_site_filter_devblogs_microsoft.com.json"),
    "searxng": ("/search", "searxng/q1.json"),
}


@pytest.fixture(scope="module")
def searched(django_db_setup, django_db_blocker, tmp_path_factory):
    from clients.models import Client, WatchTerm

    out = {}
    with django_db_blocker.unblock():
        client = Client.objects.create(
            reference="golden-search", display_name="G", email="g@example.org"
        )
        WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value="Jeanne Dupont")
        try:
            for kind, (path, name) in CASES.items():
                site = StaticSite({path: Route((SEARCH / name).read_bytes(), JSON)})
                server = serve_site(site)
                base = f"http://127.0.0.1:{server.server_port}"
                items = crawl_items(
                    tmp_path_factory.mktemp(kind),
                    kind,
                    base,
                    {"fetch_pages": False, "pages": 2, "cx": "test-cx"},
                    env={"TEST_SEARCH_KEY": "secret-from-env"},
                    credentials={"api_key": "TEST_SEARCH_KEY"},
                )
                server.shutdown()
                out[kind] = (items, [r for r in site.requests if r != "/robots.txt"])
        finally:
            client.delete()
    return out


def test_brave_results_become_items_with_snippets(searched):
    items, _ = searched["brave"]
    assert len(items) == 10
    assert items[0]["url"] == "https://learn.microsoft.com/en-us/semantic-kernel/overview/"
    assert items[0]["thread_title"] == "Introduction to Semantic Kernel | Microsoft Learn"
    assert items[0]["text"].startswith("Semantic Kernel combines prompts with existing APIs")


def test_brave_query_is_quoted_and_paginated_within_the_budget(searched):
    _, requests = searched["brave"]
    assert requests[0].startswith("/res/v1/web/search?q=%22Jeanne+Dupont%22")
    assert len(requests) == 2  # more_results_available: a second page, then pages=2 stops


def test_google_response_with_a_byte_order_mark_is_read(searched):
    items, requests = searched["google_cse"]
    assert items and all(i["url"].startswith("https://devblogs.microsoft.com/") for i in items)
    assert "cx=test-cx" in requests[0] and "key=secret-from-env" in requests[0]


def test_bing_response_with_a_byte_order_mark_is_read(searched):
    items, _ = searched["bing"]
    assert len({i["url"] for i in items}) == 4
    assert all(i["text"] for i in items)


def test_searxng_key_value_results_without_url_are_skipped(searched):
    items, requests = searched["searxng"]
    assert items == []
    assert "format=json" in requests[0]
    assert len(requests) == 1  # no URL results: no second page asked for


@pytest.mark.django_db(transaction=True)
def test_searxng_with_json_disabled_fails_with_a_clear_message(isolated, client_with_name):
    body = (SEARCH / "searxng" / "q3_json_disabled.body").read_bytes()
    site = StaticSite({"/search": Route(body, "text/html; charset=utf-8", status=403)})
    server = serve_site(site)
    write_source(
        isolated / "sources", "sx", f"http://127.0.0.1:{server.server_port}", kind="searxng"
    )
    try:
        outcome = run_crawl(configured_sources()["sx"])
    finally:
        server.shutdown()
    assert outcome.status == CrawlRun.Status.FAILED
    assert "enable json in SearXNG settings" in outcome.message


@pytest.fixture
def client_with_name(db):
    from clients.models import Client, WatchTerm

    client = Client.objects.create(reference="someone", display_name="S", email="s@example.org")
    WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value="Jeanne Dupont")
    return client
