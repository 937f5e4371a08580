"""Golden tests: real Lemmy API answers (lemmy.ml 0.19.1 in January 2024, programming.dev and
lemmy.ml 0.18 in June 2023) over local HTTP.

The saved material has user, post and community answers only, no ``search``, ``post/list`` or
``comment/list`` one; those are built here from the same real objects, in the shapes Lemmy
answers them with: the search for a name is the ``posts`` and ``comments`` arrays of the real
``/api/v3/user`` answer of kzhe@lemmy.zip (0.19); a community's first page of posts is the
real 0.18 post view of post 1465740 and its cross-posts, with a 0.19-style ``next_page``
cursor, its second page the posts of the real programming.dev user answer (0.18, times without
a zone) and copies of a real post view with the fields the material lacks changed (an image
link, a video link, a deleted post, a hostile ``ap_id``); the community's comments are the
comments of that user answer, plus a copy with a malformed ``path``. Errors follow Lemmy's
``{"error": "..."}`` shape."""

from __future__ import annotations

import copy
import json
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest

from crawlers.models import CrawlRun
from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from tests.conftest import DATA, write_source
from tests.crawlers.cassettes import CassetteSite, canonical_target
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import Route, serve_site

pytestmark = pytest.mark.django_db

LEMMY = DATA / "lemmy"
JSON = "application/json; charset=utf-8"
NAME = "Jeanne Dupont"
SEARCH = {"q": NAME, "type_": "All", "sort": "New", "listing_type": "All", "limit": 50}
POSTS = {"community_name": "asklemmy", "sort": "New", "limit": 50}
COMMENTS = {"community_name": "asklemmy", "sort": "New", "type_": "All", "limit": 50}


def _saved(name: str) -> dict[str, Any]:
    return json.loads((LEMMY / name).read_text("utf-8"))


KZHE = _saved("lemoa_lemmy.ml_v0.19_user_kzhe.json")
BNYRO = _saved("lemoa_programming.dev_v0.18_user_bnyro.json")
RELEASE = _saved("lemoa_lemmy.ml_v0.18_post_1465740.json")


def _target(path: str, params: dict[str, Any]) -> str:
    return canonical_target(f"{path}?{urlencode(params)}")


def _answer(data: object, status: int = 200) -> Route:
    return Route(json.dumps(data).encode(), JSON, status)


def _derived_posts(port: int) -> list[dict[str, Any]]:
    """Copies of a real post view with the fields the material lacks (module docstring)."""
    base = RELEASE["cross_posts"][0]
    image, video, deleted, hostile = (copy.deepcopy(base) for _ in range(4))
    image["post"].update(id=9000001, url="https://lemmy.ml/pictrs/image/photo.webp?format=webp")
    video["post"].update(id=9000002, url="https://lemmy.ml/pictrs/image/clip.mp4", name="clip")
    deleted["post"].update(id=9000003, deleted=True, name="deleted", body="")
    # A federated post names its own page and links elsewhere: we cite our page of it.
    hostile["post"].update(
        id=9000004,
        name="hostile",
        ap_id=f"http://localhost:{port}/post/elsewhere",
        url=f"http://localhost:{port}/evil.png",
    )
    return [image, video, deleted, hostile]


def _site(port: int) -> CassetteSite:
    # The cursor Lemmy gives is opaque: a hostile one is only ever a value in our own URL.
    cursor = f"http://localhost:{port}/elsewhere?page=9"
    bad_path = copy.deepcopy(BNYRO["comments"][0])
    bad_path["comment"].update(id=9000005, path="0.281217", content="misfiled comment")
    routes: dict[str, Route | list[Route]] = {
        _target("/api/v3/search", SEARCH): _answer(
            {"type_": "All", "comments": KZHE["comments"], "posts": KZHE["posts"]}
            | {"communities": [], "users": []}
        ),
        _target("/api/v3/search", {**SEARCH, "page": 2}): _answer(
            {"type_": "All", "comments": [], "posts": [], "communities": [], "users": []}
        ),
        _target("/api/v3/post/list", POSTS): _answer(
            {"posts": [RELEASE["post_view"], *RELEASE["cross_posts"]], "next_page": cursor}
        ),
        _target("/api/v3/post/list", {**POSTS, "page_cursor": cursor}): _answer(
            {"posts": [*BNYRO["posts"], *_derived_posts(port)]}
        ),
        _target("/api/v3/post/list", {**POSTS, "page": 3}): _answer({"posts": []}),
        _target("/api/v3/comment/list", COMMENTS): _answer(
            {"comments": [*BNYRO["comments"], bad_path]}
        ),
        _target("/api/v3/comment/list", {**COMMENTS, "page": 2}): _answer({"comments": []}),
    }
    return CassetteSite(routes)


def _start() -> tuple[CassetteSite, ThreadingHTTPServer, str]:
    site = CassetteSite()
    server = serve_site(site)
    site.routes.update(_site(server.server_port).routes)
    return site, server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def crawled(django_db_setup, django_db_blocker, tmp_path_factory):
    from clients.models import Client, WatchTerm

    site, server, base = _start()
    options = {"communities": ["asklemmy"], "pages": 3}
    with django_db_blocker.unblock():
        client = Client.objects.create(
            reference="golden-lemmy", display_name="G", email="g@example.org"
        )
        WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value=NAME)
        try:
            items = crawl_items(tmp_path_factory.mktemp("lemmy"), "lemmy", base, options)
        finally:
            client.delete()
    server.shutdown()
    return base, {item["url"].removeprefix(base): item for item in items}, site.requests


def test_posts_and_comments_of_every_answer_are_read(crawled):
    _, items, _ = crawled
    posts = [u for u in items if u.startswith("/post/")]
    comments = [u for u in items if u.startswith("/comment/")]
    # 1 searched + 10 release and cross-posts + 1 programming.dev + 3 derived (one deleted).
    assert len(posts) == 1 + 10 + 1 + 3
    # 10 searched + 10 of the community (its copy with a malformed path is left out).
    assert len(comments) == 10 + 10


def test_markdown_becomes_text(crawled):
    _, items, _ = crawled
    assert items["/post/10133939"]["text"].startswith(
        "I saw this https://lemmy.world/post/10314727 post and wanted to ask the opposite."
    )
    assert items["/comment/7117193"]["text"] == "Linux gaming is good now."
    quoted = items["/comment/7114329"]["text"]
    assert quoted.startswith("Examples of third places include churches, cafes, bars")
    assert "**" not in quoted and not quoted.startswith(">")


def test_a_post_is_a_thread_start_under_its_title(crawled):
    base, items, _ = crawled
    post = items["/post/10133939"]
    assert post["is_thread_start"] is True
    assert post["thread_url"] == f"{base}/post/10133939"
    assert post["thread_title"].startswith("What are some items that really aren't worth")


def test_a_comment_belongs_to_its_post_thread(crawled):
    base, items, _ = crawled
    comment = items["/comment/7117360"]
    assert comment["is_thread_start"] is False
    assert comment["thread_url"] == f"{base}/post/10034634"
    assert comment["thread_title"] == "Steam no longer supports Windows 7, 8, and 8.1"


def test_a_comment_whose_path_is_not_its_own_is_left_out(crawled):
    _, items, _ = crawled
    assert "/comment/9000005" not in items
    assert "/comment/281217" in items


def test_author_is_name_at_the_home_server_of_the_account(crawled):
    _, items, _ = crawled
    assert items["/comment/7117360"]["author"] == "kzhe@lemmy.zip"
    assert items["/post/91261"]["author"] == "bnyro@programming.dev"
    assert items["/post/1465740"]["author"] == "dessalines@lemmy.ml"


def test_dates_are_utc_with_or_without_a_zone(crawled):
    _, items, _ = crawled
    assert items["/post/10133939"]["posted_at"] == "2024-01-05T01:31:15.817052+00:00"
    # 0.18 writes UTC without "Z": not read as Paris time.
    assert items["/post/91261"]["posted_at"] == "2023-06-18T19:22:51.244313+00:00"


def test_images_from_markdown_thumbnails_and_image_links(crawled):
    _, items, _ = crawled
    assert items["/post/91261"]["image_urls"] == [
        "https://programming.dev/pictrs/image/0515ec44-c83c-4929-9ced-1d4c7645e5e9.png",
        "https://programming.dev/pictrs/image/61170b78-ea0f-40b1-9446-eef96184d0c7.png",
    ]
    assert items["/post/9000001"]["image_urls"] == [
        "https://lemmy.ml/pictrs/image/photo.webp?format=webp"
    ]
    # A link to a page is text, not an image.
    assert "https://github.com/lemmy-gtk/lemoa" in items["/post/91261"]["text"]
    assert not any("github.com" in u for u in items["/post/91261"]["image_urls"])


def test_videos_from_video_links(crawled):
    _, items, _ = crawled
    assert items["/post/9000002"]["video_urls"] == ["https://lemmy.ml/pictrs/image/clip.mp4"]
    assert all(not i["video_urls"] for u, i in items.items() if u != "/post/9000002")


def test_a_deleted_post_is_not_read(crawled):
    _, items, _ = crawled
    assert "/post/9000003" not in items


def test_pages_follow_the_cursor_then_the_page_number(crawled):
    _, _, requests = crawled
    listed = [canonical_target(r) for r in requests if r.startswith("/api/v3/post/list")]
    assert len(listed) == 3
    assert "page_cursor=" in listed[1] and "page=3" in listed[2]
    commented = [r for r in requests if r.startswith("/api/v3/comment/list")]
    assert len(commented) == 2 and "page=2" in commented[1]


def test_names_are_searched(crawled):
    _, items, requests = crawled
    searched = [canonical_target(r) for r in requests if r.startswith("/api/v3/search")]
    assert searched[0] == _target("/api/v3/search", SEARCH)
    assert len(searched) == 2  # the second page is empty: the end
    assert "/comment/7106909" in items


def test_hostile_links_neither_move_the_permalink_nor_the_crawl(crawled):
    base, items, requests = crawled
    hostile = items["/post/9000004"]
    assert hostile["url"] == hostile["thread_url"] == f"{base}/post/9000004"
    assert all(item["url"].startswith(f"{base}/") for item in items.values())
    assert all(item["author_ref"].startswith(f"{base}/u/") for item in items.values())
    # Only the API was asked: no page, image or cursor URL a post or an answer names.
    assert requests and all(r.startswith("/api/v3/") or r == "/robots.txt" for r in requests)


@pytest.fixture
def source(isolated, settings):
    servers: list[ThreadingHTTPServer] = []

    def make(change: dict[str, Route] | None = None, **options: Any) -> CassetteSite:
        site, server, base = _start()
        site.routes.update(change or {})
        servers.append(server)
        write_source(
            settings.BODYGUARD_SOURCES_DIR,
            "lemmy",
            base,
            kind="lemmy",
            options=options,
            credentials={"access_token": "TEST_LEMMY_TOKEN"},
        )
        return site

    yield make
    for server in servers:
        server.shutdown()


@pytest.fixture
def watched(transactional_db):
    from clients.models import Client, WatchTerm

    client = Client.objects.create(reference="c", display_name="C", email="c@example.org")
    WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value=NAME)
    return client


def _run() -> CrawlRun:
    outcome = run_crawl(configured_sources()["lemmy"])
    return CrawlRun.objects.get(pk=outcome.run_id)


@pytest.mark.django_db(transaction=True)
def test_an_unknown_community_fails_the_run_with_the_reason(source, monkeypatch):
    monkeypatch.setenv("TEST_LEMMY_TOKEN", "t")
    missing = _answer({"error": "couldnt_find_community"}, 404)
    source(
        {
            _target("/api/v3/post/list", {**POSTS, "community_name": "nowhere"}): missing,
            _target("/api/v3/comment/list", {**COMMENTS, "community_name": "nowhere"}): missing,
        },
        communities=["nowhere"],
        search_names=False,
    )
    run = _run()
    assert run.status == CrawlRun.Status.FAILED
    assert "no community !nowhere on 127.0.0.1" in run.message


@pytest.mark.django_db(transaction=True)
def test_a_refused_token_is_credentials_refused_not_no_results(source, monkeypatch, watched):
    monkeypatch.setenv("TEST_LEMMY_TOKEN", "expired")
    refused = _answer({"error": "incorrect_login"}, 401)
    source({_target("/api/v3/search", SEARCH): refused})
    run = _run()
    assert run.status == CrawlRun.Status.FAILED
    assert "credentials refused" in run.message


@pytest.mark.django_db(transaction=True)
def test_a_page_read_before_is_not_followed_again(source, monkeypatch, watched):
    monkeypatch.setenv("TEST_LEMMY_TOKEN", "t")
    site = source(pages=3)
    assert _run().status == CrawlRun.Status.OK
    assert len([r for r in site.requests if r.startswith("/api/v3/search")]) == 2
    site.requests.clear()
    assert _run().status == CrawlRun.Status.OK
    # Its first page unchanged, the search does not go on.
    searched = [r for r in site.requests if r.startswith("/api/v3/search")]
    assert len(searched) == 1 and "page=" not in searched[0]
