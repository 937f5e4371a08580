"""Golden tests: the Discourse spider crawls real Discourse responses served over HTTP.

One crawl per module; each test checks one field of what came out.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clients.models import Client, WatchTerm
from crawlers.runner import crawl_environment
from demo.discourse_server import serve
from tests.conftest import DATA, ROOT, real_discourse_site, write_source

# The crawl processes read the test database: it must exist even for module fixtures.
pytestmark = pytest.mark.django_db

BASE_SLUG = "/t/comments-on-the-boyfriends-introduction-to-feminism/2108"


@pytest.fixture(scope="module")
def crawl(django_db_setup, django_db_blocker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("golden")
    site = real_discourse_site()
    site.raw["/search.json"] = (
        DATA / "discourse" / "discourse_repo_test_fixture_search.json"
    ).read_bytes()
    server = serve(site)
    base_url = f"http://127.0.0.1:{server.server_port}"
    sources = tmp / "sources"
    sources.mkdir()
    write_source(sources, "golden", base_url, options={"latest_pages": 1, "topics": [2108]})
    with django_db_blocker.unblock():
        client = Client.objects.create(
            reference="golden-client", display_name="G", email="g@example.org"
        )
        WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value="Welcome")
        try:
            env = crawl_environment() | {"BODYGUARD_SOURCES_DIR": str(sources)}
            out = tmp / "items.jsonl"
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "scrapy",
                    "crawl",
                    "discourse",
                    "-a",
                    "source=golden",
                    "-O",
                    f"{out}:jsonlines",
                    "-s",
                    "BODYGUARD_MATCH_NAMES=0",
                    "-s",
                    "BODYGUARD_INDEX_HITS=0",
                    "-s",
                    "DOWNLOAD_DELAY=0",
                    "-s",
                    "AUTOTHROTTLE_ENABLED=0",
                    "-s",
                    "BODYGUARD_ONLY_HOSTS=127.0.0.1,localhost",
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            client.delete()
    server.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    items = [json.loads(line) for line in out.read_text().splitlines()]
    return {"items": {i["url"]: i for i in items}, "requests": site.requests, "base": base_url}


def _post(crawl, path: str) -> dict:
    return crawl["items"][crawl["base"] + path]


def test_every_real_post_of_the_topic_is_extracted_once(crawl):
    topic_posts = [u for u in crawl["items"] if BASE_SLUG in u]
    # 20 posts in /t/2108.json, 40 more fetched with /t/2108/posts.json; the other 386 ids of
    # the stream are not in the saved responses and are answered as absent.
    assert len(topic_posts) == 60


def test_author(crawl):
    assert _post(crawl, f"{BASE_SLUG}/440")["author"] == "Jarrod"


def test_post_time(crawl):
    assert _post(crawl, f"{BASE_SLUG}/440")["posted_at"] == "2025-12-17T02:19:11.853000+00:00"


def test_text_is_visible_text_without_markup(crawl):
    text = _post(crawl, f"{BASE_SLUG}/440")["text"]
    assert "Allan Bloom" in text
    assert "<" not in text


def test_thread_title(crawl):
    title = _post(crawl, f"{BASE_SLUG}/440")["thread_title"]
    assert title == "Comments on The Boyfriend's Introduction to Feminism"


def test_thread_url(crawl):
    assert _post(crawl, f"{BASE_SLUG}/440")["thread_url"] == crawl["base"] + BASE_SLUG


def test_posted_images_are_kept_and_avatars_are_not(crawl):
    images = _post(crawl, f"{BASE_SLUG}/444")["image_urls"]
    assert images == [
        "https://discuss.criticalfallibilism.com/uploads/default/original/2X/0/009cd5b160d882f9b29fd211605be81da71d3192.png"
    ]


def test_post_with_only_avatars_has_no_images(crawl):
    assert _post(crawl, f"{BASE_SLUG}/443")["image_urls"] == []


def test_first_post_is_marked_as_thread_start(crawl):
    assert _post(crawl, f"{BASE_SLUG}/1")["is_thread_start"] is True
    assert _post(crawl, f"{BASE_SLUG}/2")["is_thread_start"] is False


def test_topic_listed_by_latest_is_walked(crawl):
    sandbox = [i for i in crawl["items"].values() if "/57/" in i["url"]]
    assert sandbox, "topic 57 of the discourse_api fixture should be crawled from /latest.json"
    assert all(i["thread_title"] for i in sandbox)


def test_search_results_lead_to_their_posts(crawl):
    assert "/search.json?q=%22Welcome%22" in crawl["requests"]
    assert "/t/7/posts.json?post_ids%5B%5D=10" in crawl["requests"]


def test_missing_posts_are_asked_for_in_pages_of_twenty(crawl):
    pages = [r for r in crawl["requests"] if r.startswith("/t/2108/posts.json")]
    assert len(pages) == -(-(446 - 20) // 20)
    assert all(r.count("post_ids") <= 20 for r in pages)
