"""Every source kind, from its YAML file to hits in Elasticsearch, on real pages over HTTP."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clients.services import import_client_file
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import DATA, write_source
from tests.crawlers.static_site import Route, StaticSite, serve_site

pytestmark = [pytest.mark.django_db(transaction=True)]

JSON = "application/json; charset=utf-8"
REDDIT_THREAD = "/r/self/comments/1cebxh/my_wife_passed_away_eight_months_ago_yesterday_i/"


@dataclass
class Case:
    routes: dict[str, Route]
    options: dict[str, Any]
    names: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    expected_path: str = ""  # a hit URL must end with this
    post: bool = False  # the API is called with POST (Misskey): its routes answer POST too
    # purpose -> environment variable; TEST_API_KEY is set for every case
    credentials: dict[str, str] = field(default_factory=dict)


def _file(*parts: str) -> bytes:
    return DATA.joinpath(*parts).read_bytes()


def _search_response(name: str, base_placeholder: str = "BASE") -> bytes:
    """A real API response whose result URLs point at the local server instead of the web."""
    text = _file("search", name).decode("utf-8-sig")
    text = re.sub(r"https?://[a-z0-9.-]+\.[a-z]{2,}(?=[/\"])", base_placeholder, text)
    return text.encode("utf-8")


def _accept_post(server: Any) -> None:
    """The server's routes answer POST as GET (by path and query), the body read and set aside."""
    handler = server.RequestHandlerClass

    def do_post(self: Any) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        handler.do_GET(self)

    handler.do_POST = do_post


def _lemmy_search() -> bytes:
    """Lemmy's saved material has no search answer: a real post view, in the search's shape."""
    post = json.loads(_file("lemmy", "lemoa_lemmy.ml_v0.18_post_1465740.json"))["post_view"]
    answer = {"type_": "All", "posts": [post], "comments": [], "communities": [], "users": []}
    return json.dumps(answer).encode()


CASES: dict[str, Case] = {
    "phpbb": Case(
        {"/viewtopic.php": Route(_file("forums", "phpbb3_foren.myoos.de_viewtopic.html"))},
        {"start_urls": ["/viewtopic.php?f=4&t=167"], "max_pages": 1},
        names=["Richard Stallman"],
        expected_path="#p453",
    ),
    "vbulletin": Case(
        {"/t-34.html": Route(_file("forums", "vbulletin_pocketpc.ch_thread_page34.html"))},
        # Its permalinks are absolute, on the forum's real host: declared as its own.
        {"start_urls": ["/t-34.html"], "max_pages": 1, "extra_domains": ["www.pocketpc.ch"]},
        aliases=["TheFreeman"],
        expected_path="-post949757.html?s=22c09551c71c1a6b64e4364ca45cbf28#post949757",
    ),
    "xenforo": Case(
        {"/threads/pepe.230143/": Route(_file("forums", "xenforo2_katzen-forum.net_thread.html"))},
        {"start_urls": ["/threads/pepe.230143/"], "max_pages": 1},
        aliases=["Pepe"],
        expected_path="/post-6331411",
    ),
    "invision": Case(
        {"/2018/04/23/350937/": Route(_file("forums", "invision_ipb_4pda.ru_topic.html"))},
        {"start_urls": ["/2018/04/23/350937/"], "max_pages": 1},
        names=["Fredi Yana"],
        expected_path="#comment",
    ),
    "generic": Case(
        {"/t7-forums-regeln": Route(_file("forums", "forumotion_forumieren.com_topic.html"))},
        {
            "start_urls": ["/t7-forums-regeln"],
            "max_pages": 1,
            "selectors": {
                "post": "div.post[id^='p']",
                "text": "div.post-entry",
                "author": "p.author strong::text",
                "time": "p.author::text",
                "permalink": "h3 a::attr(href)",
            },
        },
        names=["Forums Regeln"],
        expected_path="/t7-forums-regeln#7",
    ),
    "reddit": Case(
        {
            REDDIT_THREAD.rstrip("/") + ".json": Route(
                _file("reddit", "graw_testdata_thread.json"), JSON
            )
        },
        {"threads": [REDDIT_THREAD]},
        aliases=["sexybutt"],
        expected_path=REDDIT_THREAD,
    ),
    "fourchan": Case(
        {
            "/po/catalog.json": Route(
                _file("fourchan", "4chan-API_docs_catalog_example0.json"), JSON
            ),
            "/po/thread/570368.json": Route(
                _file("fourchan", "4chan-API_docs_threads_example0.json"), JSON
            ),
        },
        {"boards": ["po"]},
        names=["Pepakura Designer"],
        expected_path="/po/thread/570368#p570370",
    ),
    "brave": Case(
        {
            "/res/v1/web/search": Route(
                _search_response("semantic-kernel_brave_what_is_the_semantic_kernel.json"), JSON
            )
        },
        {"pages": 1},
        names=["Semantic Kernel"],
        expected_path="/en-us/semantic-kernel/overview/",
    ),
    "google_cse": Case(
        {
            "/customsearch/v1": Route(
                _search_response("semantic-kernel_google_what_is_the_semantic_kernel.json"), JSON
            )
        },
        {"pages": 1, "cx": "x"},
        names=["Semantic Kernel"],
        expected_path="/en-us/semantic-kernel/overview/",
    ),
    "bing": Case(
        {
            "/v7.0/search": Route(
                _search_response("semantic-kernel_bing_what_is_the_semantic_kernel.json"), JSON
            )
        },
        {"pages": 1},
        names=["Semantic Kernel"],
        expected_path="/en-us/semantic-kernel/overview/",
    ),
    "searxng": Case(
        # SearXNG's saved JSON only has key/value answers (url: null): the page behind a result
        # comes from the same shape with a URL, as SearXNG serves for web results.
        {"/search": Route(b"", JSON)},
        {"pages": 1},
        names=["Richard Stallman"],
        expected_path="/viewtopic.php?f=4&t=167",
    ),
    "misskey": Case(
        {
            "/api/notes/search": Route(
                _file("misskey", "go-misskey_slippy.xyz_notes_search.json"), JSON
            )
        },
        {"pages": 1},
        names=["Antonio Vivaldi"],
        expected_path="/notes/8dlo8p9s7g",
        post=True,
    ),
    "lemmy": Case(
        {"/api/v3/search": Route(_lemmy_search(), JSON)},
        {"pages": 1},
        aliases=["johanndt"],
        expected_path="/post/1465740",
    ),
    "bluesky": Case(
        {
            # No session call was recorded (the client always signs in): its answer is built
            # in the documented shape; POST answers like GET (post=True).
            "/xrpc/com.atproto.server.createSession": Route(
                b'{"accessJwt": "a", "refreshJwt": "r", "handle": "h.bsky.social"}', JSON
            ),
            "/xrpc/app.bsky.feed.searchPosts": Route(
                _file("bluesky", "bskyr_2023_searchPosts_body_httptest2.json"), JSON
            ),
        },
        {"pages": 1},
        names=["Carolyn Maloney"],
        expected_path="/post/3kghfbaw4xr2u",
        post=True,
        credentials={"identifier": "TEST_API_KEY", "app_password": "TEST_API_KEY"},
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_crawl_of_each_kind_puts_its_hits_in_elasticsearch(
    kind, isolated: Path, hit_store, mailbox, monkeypatch
):
    case = CASES[kind]
    site = StaticSite(dict(case.routes))
    server = serve_site(site)
    if case.post:
        _accept_post(server)
    base = f"http://127.0.0.1:{server.server_port}"
    for path, route in site.routes.items():
        if isinstance(route, Route) and b"BASE" in route.body:
            site.routes[path] = Route(
                route.body.replace(b"BASE", base.encode()), route.content_type
            )
    if kind == "searxng":
        saved = json.loads(_file("search", "searxng", "q1.json"))
        saved["results"][0].update(
            {"url": f"{base}/viewtopic.php?f=4&t=167", "title": "Freie Software", "content": ""}
        )
        site.routes["/search"] = Route(json.dumps(saved).encode(), JSON)
        site.routes["/viewtopic.php"] = Route(
            _file("forums", "phpbb3_foren.myoos.de_viewtopic.html")
        )
    if kind in ("brave", "google_cse", "bing"):
        # Result pages (depth 1) are served too: every other path answers with a real page.
        site.routes["/en-us/semantic-kernel/overview/"] = Route(
            _file("forums", "phpbb3_foren.myoos.de_viewtopic.html")
        )
    clients = isolated / "clients.yaml"
    clients.write_text(
        json.dumps(
            {
                "clients": [
                    {
                        "id": "watched",
                        "display_name": "Watched",
                        "email": "w@example.org",
                        "names": case.names or ["Personne Inconnue"],
                        "aliases": case.aliases,
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    import_client_file(clients)
    monkeypatch.setenv("TEST_API_KEY", "k")
    extra = (
        {"credentials": {"api_key": "TEST_API_KEY"}}
        if kind in ("brave", "google_cse", "bing")
        else {}
    )
    if case.credentials:
        extra = {"credentials": case.credentials}
    write_source(
        isolated / "sources",
        f"src-{kind.replace('_', '-')}",
        base,
        kind=kind,
        options=case.options,
        **extra,
    )
    try:
        report = run_cycle(list(configured_sources().values()))
    finally:
        server.shutdown()

    assert [c.status for c in report.crawls] == ["ok"], report.crawls[0].message
    urls = [h.url for h in hit_store.latest(client_id="watched", size=100)]
    assert urls, f"no hit for {kind}; requests: {site.requests[:10]}"
    assert any(u.endswith(case.expected_path) or case.expected_path in u for u in urls), urls
    assert len(mailbox.messages) == 1
