"""Golden tests: Reddit listings, 4chan's API and search APIs, real responses over local HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import DATA
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import Route, StaticSite, serve_site

# The crawl processes read the test database: it must exist even for module fixtures.
pytestmark = pytest.mark.django_db

THREAD = "/r/self/comments/1cebxh/my_wife_passed_away_eight_months_ago_yesterday_i/"
JSON = "application/json; charset=utf-8"


def _crawl(tmp, blocker, kind, routes, options, terms=()):
    from clients.models import Client, WatchTerm

    site = StaticSite(routes)
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    with blocker.unblock():
        client = None
        if terms:
            client = Client.objects.create(
                reference=f"golden-{kind}", display_name="G", email="g@example.org"
            )
            for term in terms:
                WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value=term)
        try:
            items = crawl_items(tmp, kind, base, options)
        finally:
            if client is not None:
                client.delete()
    server.shutdown()
    return base, items, site.requests


@pytest.fixture(scope="module")
def reddit(django_db_setup, django_db_blocker, tmp_path_factory):
    routes = {
        "/r/netsec/new.json": Route(
            (DATA / "reddit" / "graw_testdata_subreddit.json").read_bytes(), JSON
        ),
        THREAD.rstrip("/") + ".json": Route(
            (DATA / "reddit" / "graw_testdata_thread.json").read_bytes(), JSON
        ),
    }
    options = {"subreddits": ["netsec"], "threads": [THREAD], "max_pages": 1}
    return _crawl(tmp_path_factory.mktemp("reddit"), django_db_blocker, "reddit", routes, options)


@pytest.fixture(scope="module")
def fourchan(django_db_setup, django_db_blocker, tmp_path_factory):
    routes = {
        "/po/catalog.json": Route(
            (DATA / "fourchan" / "4chan-API_docs_catalog_example0.json").read_bytes(), JSON
        ),
        "/po/thread/570368.json": Route(
            (DATA / "fourchan" / "4chan-API_docs_threads_example0.json").read_bytes(), JSON
        ),
        "/wsg/catalog.json": Route(
            (DATA / "fourchan" / "4bot_spec_board_page_wsg.json").read_bytes(), JSON
        ),
    }
    return _crawl(
        tmp_path_factory.mktemp("4chan"),
        django_db_blocker,
        "fourchan",
        routes,
        {"boards": ["po", "wsg"]},
    )


# -- Reddit -------------------------------------------------------------------------------------


def _by_url(items, suffix):
    return next(i for i in items if i["url"].endswith(suffix))


def test_reddit_every_comment_of_the_thread_is_read_including_nested_replies(reddit):
    _base, items, _ = reddit
    comments = [i for i in items if "/1cebxh/" in i["url"] and not i["url"].endswith("_i/")]
    assert len(comments) == 199


def test_reddit_submission_fields(reddit):
    _base, items, _ = reddit
    post = _by_url(items, THREAD)
    assert post["author"] == "hglkgkjd"
    assert post["posted_at"] == "2013-04-15T16:44:39+00:00"
    assert post["thread_title"].startswith("my wife passed away eight months ago")
    assert post["text"].startswith("it feels like I'm losing my shit all over again")


def test_reddit_comment_permalink_is_built_when_the_api_gives_none(reddit):
    base, items, _ = reddit
    comment = _by_url(items, "/c9ftsjg/")
    assert comment["url"] == f"{base}{THREAD}c9ftsjg/"
    assert comment["author"] == "bacon_cake"


def test_reddit_listing_posts_are_read(reddit):
    _base, items, _ = reddit
    assert any(
        i["thread_title"] == "The /r/netsec Weekly Discussion Thread - October 17, 2016"
        for i in items
    )


# -- 4chan --------------------------------------------------------------------------------------


def test_fourchan_thread_posts(fourchan):
    _base, items, _ = fourchan
    po = [i for i in items if "/po/thread/570368" in i["url"]]
    assert len({i["url"] for i in po}) == 3


def test_fourchan_permalink_and_author(fourchan):
    _base, items, _ = fourchan
    post = next(i for i in items if i["url"].endswith("/po/thread/570368#p570370"))
    assert post["url"] == "https://boards.4chan.org/po/thread/570368#p570370"
    assert post["author"] == "Anonymous"


def test_fourchan_time_is_the_epoch_of_the_api(fourchan):
    post = next(i for i in fourchan[1] if i["url"].endswith("#p570370"))
    assert post["posted_at"] == "2018-12-31T22:14:56+00:00"


def test_fourchan_image_url_from_tim_and_ext(fourchan):
    post = next(i for i in fourchan[1] if i["url"].endswith("#p570370"))
    assert post["image_urls"] == ["https://i.4cdn.org/po/1546294496751.png"]


def test_fourchan_text_is_visible_text(fourchan):
    post = next(i for i in fourchan[1] if i["url"].endswith("#p570370"))
    assert post["text"].startswith("FAQs about papercraft")
    assert "<br>" not in post["text"] and "<wbr>" not in post["text"]


def test_fourchan_board_pages_with_inline_posts_are_read(fourchan):
    assert any(
        i["url"].startswith("https://boards.4chan.org/wsg/thread/881624") for i in fourchan[1]
    )
