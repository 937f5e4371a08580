"""Golden tests: real Mastodon API answers (mastodon.social, fosstodon.org) over local HTTP.

Timelines, account statuses, account search and /api/v2/search are served as recorded. The
media timeline is built from real single statuses (/api/v1/statuses/:id answers) put in a list,
the shape a timeline answers with."""

from __future__ import annotations

import copy
import json

import pytest

from crawlers.models import CrawlRun
from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from tests.conftest import DATA, write_source
from tests.crawlers.cassettes import CassetteSite, load_cassette, routes_of
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import Route, serve_site

pytestmark = pytest.mark.django_db

MASTODON = DATA / "mastodon"
HANNA = "rtoot_mastodon.social_timelines_tag_ichbinhanna_4pages_max_id.yml"
JSON = "application/json; charset=utf-8"


def _statuses(name: str) -> list[dict]:
    return [json.loads(i.body) for i in load_cassette(MASTODON / name) if i.method == "GET"]


def _media_timeline() -> bytes:
    statuses = _statuses("mastodonpy_mastodon.social_status_video.yaml")
    statuses += _statuses("mastodonpy_mastodon.social_status_image_and_audio.yaml")
    # The same image status as a server sends it before it has cached the remote file.
    uncached = copy.deepcopy(next(s for s in statuses if s["content"] == "<p>image post</p>"))
    uncached["id"] = "1" + uncached["id"]
    attachment = uncached["media_attachments"][0]
    attachment["remote_url"], attachment["url"] = attachment["url"], None
    return json.dumps([*statuses, uncached]).encode()


def _site(local: str, search: Route | None = None) -> CassetteSite:
    routes: dict[str, Route | list[Route]] = {}
    for name, origin in (
        (HANNA, "https://mastodon.social"),
        ("rtoot_fosstodon.org_accounts_search.yml", "https://fosstodon.org"),
        ("rtoot_fosstodon.org_account_statuses.yml", "https://fosstodon.org"),
        ("mastodonpy_mastodon.social_v2_search.yaml", "https://mastodon.social"),
    ):
        routes.update(routes_of(load_cassette(MASTODON / name), origin, local))
    routes["/api/v1/timelines/public"] = Route(_media_timeline(), JSON)
    if search is not None:
        routes["/api/v2/search"] = search
    return CassetteSite(routes)


def _serve(search: Route | None = None):
    site = _site("http://127.0.0.1:0", search)
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    # Link headers name the local server, as the real ones name the real one.
    fixed = _site(base, search)
    site.routes.clear()
    site.routes.update(fixed.routes)
    return site, server, base


@pytest.fixture(scope="module")
def crawled(django_db_setup, django_db_blocker, tmp_path_factory):
    from clients.models import Client, WatchTerm

    site, server, base = _serve()
    options = {
        "hashtags": ["ichbinhanna"],
        "timelines": ["public"],
        "accounts": ["schochastics"],
        "pages": 4,
    }
    with django_db_blocker.unblock():
        client = Client.objects.create(
            reference="golden-masto", display_name="G", email="g@example.org"
        )
        WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value="Jeanne Dupont")
        try:
            items = crawl_items(
                tmp_path_factory.mktemp("mastodon"),
                "mastodon",
                base,
                options,
                credentials={"access_token": "GOLDEN_MASTODON_TOKEN"},
                env={"GOLDEN_MASTODON_TOKEN": "secret-token-for-tests"},
            )
        finally:
            client.delete()
    server.shutdown()
    return base, items, site.requests


def test_hashtag_pages_follow_the_link_header(crawled):
    _, items, requests = crawled
    walked = [r for r in requests if r.startswith("/api/v1/timelines/tag/ichbinhanna")]
    assert len(walked) == 4
    assert sum("max_id=" in r for r in walked) == 3
    hanna = [i for i in items if "ichbinhanna" in i["text"].lower()]
    assert len(hanna) >= 100


def test_content_html_becomes_text(crawled):
    _, items, _ = crawled
    assert items and not any("<p>" in i["text"] or "&#39;" in i["text"] for i in items)
    # A link's text is split into invisible and ellipsis spans; the text keeps all of it.
    assert any("https://www.simonpcouch.com" in i["text"] or "http" in i["text"] for i in items)


def test_remote_accounts_are_name_at_domain_and_local_ones_name_at_this_server(crawled):
    base, items, _ = crawled
    host = base.split("//", 1)[1].split(":")[0]
    authors = {i["author"] for i in items}
    assert any("@icosahedron.website)" in a for a in authors)
    assert any(a.endswith(f"@{host})") for a in authors)


def test_permalinks_are_pages_of_the_source(crawled):
    base, items, _ = crawled
    assert all(i["url"].startswith(base + "/@") for i in items)


def test_media_url_first_then_remote_url(crawled):
    _, items, _ = crawled
    image_posts = [i for i in items if i["text"].startswith("image post")]
    assert len(image_posts) == 2
    urls = sorted(u for i in image_posts for u in i["image_urls"])
    assert len(urls) == 2 and all(u.startswith("https://files.mastodon.social/") for u in urls)
    videos = [u for i in items for u in i["video_urls"]]
    assert any("media_proxy" in u for u in videos) and any(
        "files.mastodon.social" in u for u in videos
    )


def test_watched_accounts_are_found_by_search_then_read(crawled):
    _, items, requests = crawled
    assert any(r.startswith("/api/v1/accounts/search") for r in requests)
    assert any(r.startswith("/api/v1/accounts/109302436954721982/statuses") for r in requests)
    assert any("(@schochastics@" in i["author"] for i in items)


def test_names_are_searched_when_a_token_is_configured(crawled):
    _, items, requests = crawled
    assert any(r.startswith("/api/v2/search") and "type=statuses" in r for r in requests)
    assert any("greg@icosahedron.website" in i["author"] for i in items)


def test_language_is_the_one_the_status_declares(crawled):
    # German text declared Swedish stays "sv": what the author's client declared, never a guess;
    # a status that declares none has none.
    _, items, _ = crawled
    languages = {i["url"].rsplit("/", 1)[1]: i["language"] for i in items}
    declared = (
        "114632345540311129",
        "113775664811812491",
        "113950888863349394",
        "114822758229315057",
    )
    assert [languages[status] for status in declared] == ["sv", "fr", "", "en"]


@pytest.fixture
def source(isolated, settings):
    def make(search: Route | None = None, **options):
        site, server, base = _serve(search)
        write_source(
            settings.BODYGUARD_SOURCES_DIR,
            "masto",
            base,
            kind="mastodon",
            options=options,
            credentials={"access_token": "TEST_MASTODON_TOKEN"},
        )
        return site, server

    return make


@pytest.mark.django_db(transaction=True)
def test_a_refused_token_is_credentials_refused_not_no_results(source, monkeypatch):
    monkeypatch.setenv("TEST_MASTODON_TOKEN", "expired")
    from clients.models import Client, WatchTerm

    client = Client.objects.create(reference="c", display_name="C", email="c@example.org")
    WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value="Jeanne Dupont")
    refused = Route(b'{"error":"The access token is invalid"}', JSON, 401)
    _, server = source(search=refused)
    outcome = run_crawl(configured_sources()["masto"])
    server.shutdown()
    run = CrawlRun.objects.get(pk=outcome.run_id)
    assert run.status == CrawlRun.Status.FAILED
    assert "credentials refused" in run.message


@pytest.mark.django_db(transaction=True)
def test_few_requests_left_means_no_further_page(source, monkeypatch):
    monkeypatch.setenv("TEST_MASTODON_TOKEN", "t")
    site, server = source(hashtags=["ichbinhanna"], pages=4)
    first = site.routes["/api/v1/timelines/tag/ichbinhanna"]
    assert isinstance(first, Route)
    first.headers["x-ratelimit-remaining"] = "3"
    run_crawl(configured_sources()["masto"])
    server.shutdown()
    assert [r for r in site.requests if "ichbinhanna" in r and "max_id" in r] == []


@pytest.mark.django_db(transaction=True)
def test_a_link_to_another_host_is_not_followed(source, monkeypatch):
    monkeypatch.setenv("TEST_MASTODON_TOKEN", "t")
    site, server = source(hashtags=["ichbinhanna"], pages=4)
    first = site.routes["/api/v1/timelines/tag/ichbinhanna"]
    assert isinstance(first, Route)
    # Same server under another name: if the spider followed it, the server would see it.
    port = server.server_port
    first.headers["link"] = (
        f'<http://localhost:{port}/api/v1/timelines/tag/ichbinhanna?max_id=1>; rel="next"'
    )
    run_crawl(configured_sources()["masto"])
    server.shutdown()
    assert not [r for r in site.requests if "max_id=1" in r]
    assert len([r for r in site.requests if "ichbinhanna" in r]) == 1


# Committed for real: the crawls are other processes and must see each other's state.
@pytest.mark.django_db(transaction=True)
def test_a_second_run_reads_only_what_is_new(django_db_setup, django_db_blocker, tmp_path):
    from crawlers.models import SourceState

    site, server, base = _serve()
    options = {"hashtags": ["ichbinhanna"], "pages": 4}
    try:
        with django_db_blocker.unblock():
            first = crawl_items(tmp_path, "mastodon", base, options, source_id="masto-twice")
            site.requests.clear()
            again = crawl_items(tmp_path, "mastodon", base, options, source_id="masto-twice")
            SourceState.objects.filter(source_id="masto-twice").delete()
    finally:
        server.shutdown()
    assert len(first) > 40
    # Nothing changed: no status again, and the first page was enough to know it.
    assert again == []
    assert not any("max_id" in r for r in site.requests)
