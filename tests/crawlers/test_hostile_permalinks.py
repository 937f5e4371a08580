"""Hostile pages choose their permalinks: a hit's address is http(s) on the source's own host,
or the page it was read on; never a script, a data: page or another site."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from tests.conftest import DATA
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import Route, StaticSite, serve_site

pytestmark = pytest.mark.django_db

PHPBB = (DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html").read_bytes()
REAL_PERMALINK = b"./viewtopic.php?p=453&amp;sid=c613f07a94d24ae130f878df2f758925#p453"
HOSTILE = [
    "javascript:alert(document.cookie)",
    "data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;",
    "http://evil.example/viewtopic.php?p=453#p453",
    "//evil.example/viewtopic.php?p=453#p453",
    "http://{netloc}@evil.example/viewtopic.php?p=453#p453",
    "https://127.0.0.1.evil.example/viewtopic.php#p453",
    "http:\\\\evil.example\\viewtopic.php#p453",
    "file:///etc/passwd",
]


def _on(url: str, netloc: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.netloc == netloc


def test_phpbb_posts_never_take_a_permalink_off_their_forum(tmp_path):
    site = StaticSite({"/viewtopic.php?t=0": Route(PHPBB)})
    server = serve_site(site)
    netloc = f"127.0.0.1:{server.server_port}"
    for i, link in enumerate(HOSTILE, start=1):
        page = PHPBB.replace(REAL_PERMALINK, link.format(netloc=netloc).encode())
        site.routes[f"/viewtopic.php?t={i}"] = Route(page)
    starts = [f"/viewtopic.php?t={i}" for i in range(len(HOSTILE) + 1)]
    try:
        items = crawl_items(
            tmp_path, "phpbb", f"http://{netloc}", {"start_urls": starts, "max_pages": 0}
        )
    finally:
        server.shutdown()

    by_page = {item["thread_url"]: item["url"] for item in items}
    assert len(by_page) == len(starts), by_page
    # The real page's own permalink is kept, resolved against the page.
    assert by_page[f"http://{netloc}/viewtopic.php?t=0"] == (
        f"http://{netloc}/viewtopic.php?p=453&sid=c613f07a94d24ae130f878df2f758925#p453"
    )
    for i in range(1, len(starts)):
        page_url = f"http://{netloc}/viewtopic.php?t={i}"
        # The page itself, or the post's anchor on it ("#p453", the preset's second choice).
        assert by_page[page_url].split("#")[0] == page_url, HOSTILE[i - 1]


def test_discourse_post_urls_cannot_move_the_host(tmp_path):
    topic = json.loads((DATA / "discourse" / "discourse_api_fixture_topic.json").read_bytes())
    posts = topic["post_stream"]["posts"]
    hostile = ["@evil.example/t/x/57/1", "//evil.example/t/x/57/2", "javascript:alert(1)"]
    for post, link in zip(posts, hostile, strict=False):
        post["post_url"] = link
    posts[-1]["post_url"] = f"/t/{topic['slug']}/57/{posts[-1]['post_number']}"
    site = StaticSite({"/t/57.json": Route(json.dumps(topic).encode(), "application/json")})
    server = serve_site(site)
    netloc = f"127.0.0.1:{server.server_port}"
    try:
        items = crawl_items(
            tmp_path, "discourse", f"http://{netloc}", {"topics": [57], "latest_pages": 0}
        )
    finally:
        server.shutdown()

    urls = {item["url"] for item in items}
    assert items and all(_on(u, netloc) for u in urls), urls
    assert f"http://{netloc}/t/{topic['slug']}/57/{posts[-1]['post_number']}" in urls


@pytest.mark.django_db(transaction=True)
def test_search_results_that_are_not_web_pages_are_dropped(tmp_path):
    from clients.models import Client

    client = Client.objects.create(reference="jeanne", display_name="J", email="j@example.org")
    client.terms.create(kind="name", value="Jeanne Dupont")
    results = [
        {"url": "javascript:alert(1)", "title": "Jeanne Dupont", "content": "Jeanne Dupont"},
        {"url": "data:text/html,hi", "title": "Jeanne Dupont", "content": "Jeanne Dupont"},
        {"url": "file:///etc/passwd", "title": "Jeanne Dupont", "content": "Jeanne Dupont"},
        {"url": "http://127.0.0.1:9/page", "title": "Jeanne Dupont", "content": "Jeanne Dupont"},
    ]
    body = json.dumps({"query": "x", "results": results}).encode()
    site = StaticSite({"/search": Route(body, "application/json")})
    server = serve_site(site)
    netloc = f"127.0.0.1:{server.server_port}"
    try:
        items = crawl_items(
            tmp_path,
            "searxng",
            f"http://{netloc}",
            {"fetch_pages": False, "pages": 1},
        )
    finally:
        server.shutdown()
    assert {item["url"] for item in items} == {"http://127.0.0.1:9/page"}


def test_reddit_permalinks_cannot_move_the_host(tmp_path):
    listing = json.loads((DATA / "reddit" / "graw_testdata_subreddit.json").read_bytes())
    children = listing["data"]["children"]
    hostile = ["@evil.example/r/x/", "//evil.example/r/x/", "javascript:alert(1)"]
    for child, link in zip(children, hostile, strict=False):
        child["data"]["permalink"] = link
        child["data"]["num_comments"] = 0
    site = StaticSite(
        {"/r/netsec/new.json": Route(json.dumps(listing).encode(), "application/json")}
    )
    server = serve_site(site)
    netloc = f"127.0.0.1:{server.server_port}"
    try:
        items = crawl_items(
            tmp_path, "reddit", f"http://{netloc}", {"subreddits": ["netsec"], "max_pages": 1}
        )
    finally:
        server.shutdown()
    urls = [item["url"] for item in items]
    assert len(urls) == len(children)
    assert all(_on(u, netloc) for u in urls), urls
    # A refused permalink falls back to Reddit's short form of the submission.
    second = children[1]["data"]["id"]
    assert f"http://{netloc}/comments/{second}/" in urls
