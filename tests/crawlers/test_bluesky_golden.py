"""Golden tests: real Bluesky XRPC answers (bsky.social, bskyr's recordings) over local HTTP.

``searchPosts`` (May 2025, cursor "25") and ``getAuthorFeed`` (timestamp cursor) are served as
recorded; their second pages are other real answers of the same shape: the December 2023
``searchPosts`` body and a ``getFeed`` answer (a ``feed`` list like ``getAuthorFeed``'s).

bskyr always signs in and its recordings hold no session call, so ``createSession`` and
``refreshSession`` are answered here in the shape the lexicons document
(``com.atproto.server.createSession``: accessJwt, refreshJwt, handle, did, didDoc, active),
and errors as XRPC sends them (``{"error": "ExpiredToken", "message": ...}``)."""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail

from crawlers.health import alert_staff_if_failing
from crawlers.models import CrawlRun, SourceState
from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from tests.conftest import DATA, write_source
from tests.crawlers.cassettes import load_cassette
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import ClosingServer

pytestmark = pytest.mark.django_db

BLUESKY = DATA / "bluesky"
JSON = "application/json; charset=utf-8"
HANDLE = "veille-test.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"  # the shape of a Bluesky app password
WEB = "https://bsky.app/profile"
ACTOR = "chriskenny.bsky.social"


def _recorded(name: str) -> tuple[bytes, dict[str, str]]:
    (interaction,) = load_cassette(BLUESKY / name)
    headers = {k: v for k, v in interaction.headers.items() if k.lower() != "content-type"}
    return interaction.body, headers


SEARCH_1 = _recorded("bskyr_searchPosts_redistricting.yml")
SEARCH_2: tuple[bytes, dict[str, str]] = (
    (BLUESKY / "bskyr_2023_searchPosts_body_httptest2.json").read_bytes(),
    {},
)
FEED_1 = _recorded("bskyr_getAuthorFeed.yml")
FEED_2 = _recorded("bskyr_getFeed_bsky-team.yml")


def _views(body: bytes) -> dict[str, dict[str, Any]]:
    data = json.loads(body)
    views = data.get("posts") or [i["post"] for i in data["feed"]]
    return {v["uri"].rsplit("/", 1)[1]: v for v in views}


RECORDED = {**_views(SEARCH_1[0]), **_views(FEED_1[0])}


@dataclass
class Seen:
    method: str
    target: str
    authorization: str
    body: bytes
    status: int = 0


@dataclass
class BlueskyServer:
    """searchPosts wants a valid access token; getAuthorFeed answers signed out too, but checks
    a token it is given. The first access token of each session expires after
    ``expire_after`` uses, as a real one does after minutes."""

    expire_after: int | None = None
    search_status: int = 200
    redirect_to: str = ""  # searchPosts answers 302 to there
    requests: list[Seen] = field(default_factory=list)
    sessions: int = 0
    valid: dict[str, int] = field(default_factory=dict)  # access token -> uses left (-1: any)
    refresh_tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tokens(self) -> set[str]:
        return {*self.valid, *self.refresh_tokens}

    def answer(
        self, method: str, target: str, authorization: str, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            answer = self._answer(method, target, authorization, body)
            self.requests.append(Seen(method, target, authorization, body, answer[0]))
            return answer

    def _answer(
        self, method: str, target: str, authorization: str, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        path = urlsplit(target).path
        query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        if method == "POST" and path.endswith("createSession"):
            return self._create(json.loads(body or b"{}"))
        if method == "POST" and path.endswith("refreshSession"):
            return self._refresh(authorization)
        if method != "GET":
            return _error(405, "InvalidRequest", "Method not allowed")
        refused = self._check(authorization, required=path.endswith("searchPosts"))
        if refused:
            return refused
        if path == "/xrpc/app.bsky.feed.searchPosts":
            if self.redirect_to:
                return 302, b"", {"Location": self.redirect_to}
            if self.search_status != 200:
                return _error(self.search_status, "RateLimitExceeded", "Rate Limit Exceeded")
            page = SEARCH_2 if query.get("cursor") == "25" else SEARCH_1
            return 200, *page
        if path == "/xrpc/app.bsky.feed.getAuthorFeed":
            if query.get("actor") != ACTOR:
                return _error(400, "InvalidRequest", "Profile not found")
            page = FEED_2 if query.get("cursor") else FEED_1
            return 200, *page
        return _error(404, "MethodNotImplemented", "Method Not Implemented")

    def _create(self, asked: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        if asked != {"identifier": HANDLE, "password": PASSWORD}:
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        self.sessions += 1
        return self._session(f"s{self.sessions}", first=True)

    def _refresh(self, authorization: str) -> tuple[int, bytes, dict[str, str]]:
        token = authorization.removeprefix("Bearer ")
        if token not in self.refresh_tokens:
            return _error(400, "ExpiredToken", "Token has expired")
        self.refresh_tokens.discard(token)  # refresh tokens are single use
        return self._session(f"{token.split('.')[1]}-r", first=False)

    def _session(self, name: str, first: bool) -> tuple[int, bytes, dict[str, str]]:
        access, refresh = f"eyJhY2Nlc3Mi.{name}.access", f"eyJyZWZyZXNoIi.{name}.refresh"
        self.valid[access] = self.expire_after if first and self.expire_after else -1
        self.refresh_tokens.add(refresh)
        session = {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": HANDLE,
            "did": "did:plc:veilletest0000000000000",
            # Where the account lives; a client must not send its tokens there on its own.
            "didDoc": {
                "id": "did:plc:veilletest0000000000000",
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": "https://pds.elsewhere.invalid",
                    }
                ],
            },
            "active": True,
        }
        return 200, json.dumps(session).encode(), {}

    def _check(
        self, authorization: str, required: bool
    ) -> tuple[int, bytes, dict[str, str]] | None:
        if not authorization:
            return _error(401, "AuthMissing", "Authentication Required") if required else None
        token = authorization.removeprefix("Bearer ")
        left = self.valid.get(token)
        if left is None:
            return _error(401, "InvalidToken", "Token could not be verified")
        if left == 0:
            return _error(400, "ExpiredToken", "Token has expired")
        if left > 0:
            self.valid[token] = left - 1
        return None


def _error(status: int, error: str, message: str) -> tuple[int, bytes, dict[str, str]]:
    return status, json.dumps({"error": error, "message": message}).encode(), {}


def _serve(site: BlueskyServer) -> tuple[ClosingServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload, headers = site.answer(
                method, self.path, self.headers.get("Authorization", ""), body
            )
            self.send_response(status)
            self.send_header("Content-Type", JSON)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ClosingServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


CREDENTIALS = {"identifier": "GOLDEN_BSKY_HANDLE", "app_password": "GOLDEN_BSKY_PASSWORD"}
ENV = {"GOLDEN_BSKY_HANDLE": HANDLE, "GOLDEN_BSKY_PASSWORD": PASSWORD}


@dataclass
class Crawled:
    items: list[dict[str, Any]]
    again: list[dict[str, Any]]  # a second run, right after
    site: BlueskyServer
    first_run: list[Seen]
    second_run: list[Seen]

    def post(self, rkey: str) -> dict[str, Any]:
        (found,) = [i for i in self.items if i["url"].endswith(f"/post/{rkey}")]
        return found


@pytest.fixture(scope="module")
def crawled(django_db_setup, django_db_blocker, tmp_path_factory):
    from clients.models import Client, WatchTerm

    site = BlueskyServer(expire_after=2)
    server, base = _serve(site)
    with django_db_blocker.unblock():
        client = Client.objects.create(
            reference="golden-bsky", display_name="G", email="g@example.org"
        )
        WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value="Jeanne Dupont")
        try:
            tmp = tmp_path_factory.mktemp("bluesky")

            def crawl() -> list[dict[str, Any]]:
                return crawl_items(
                    tmp,
                    "bluesky",
                    base,
                    {"accounts": [ACTOR], "pages": 2},
                    source_id="golden-bluesky",
                    credentials=CREDENTIALS,
                    env=ENV,
                )

            items = crawl()
            done = len(site.requests)
            again = crawl()
        finally:
            client.delete()
            SourceState.objects.filter(source_id="golden-bluesky").delete()
    server.shutdown()
    return Crawled(items, again, site, site.requests[:done], site.requests[done:])


def _expanded(rkey: str) -> str:
    """The recorded text with each link's visible, shortened form replaced by its full URI."""
    record = RECORDED[rkey]["record"]
    text = record["text"]
    for facet in record["facets"]:
        for feature in facet["features"]:
            if feature["$type"] == "app.bsky.richtext.facet#link":
                shown = text.encode()[facet["index"]["byteStart"] : facet["index"]["byteEnd"]]
                text = text.replace(shown.decode(), feature["uri"])
    return text


def test_links_are_full_urls_from_the_facets(crawled):
    text = crawled.post("3lpjzka2pzc2l")["text"]
    assert text.endswith(
        "\n\nhttps://drive.google.com/file/d/1rporOuFeT8tvgIITtUCWAw6W_iM_RgfH/view?usp=sharing"
    )
    assert "1rpor..." not in text


def test_facet_offsets_are_utf8_bytes_after_an_emoji(crawled):
    # "🧵" is one character but four bytes before the link: character offsets would cut it.
    assert "🧵" in RECORDED["3lpjy3eabqs2l"]["record"]["text"]
    assert crawled.post("3lpjy3eabqs2l")["text"] == _expanded("3lpjy3eabqs2l")


def test_facet_offsets_are_utf8_bytes_after_a_typographic_apostrophe(crawled):
    # "’" (three bytes) in "Let’s", two lines before the link.
    assert crawled.post("3lpjlye6o6c2c")["text"] == _expanded("3lpjlye6o6c2c")
    assert crawled.post("3lpjlye6o6c2c")["text"].endswith(
        "\n\nhttps://apple.news/AcGBmSTmyTiabB-T0uj90Cg"
    )


def test_alt_texts_are_appended_to_the_text(crawled):
    text = crawled.post("3lnghukd7vk22")["text"]
    assert text.startswith("A quick little project: `typr`")
    assert text.endswith("\n\n" + RECORDED["3lnghukd7vk22"]["embed"]["media"]["images"][0]["alt"])


def test_author_is_display_name_and_handle(crawled):
    assert crawled.post("3lpjzka2pzc2l")["author"] == "Michael Li (李之樸) (@mcpli.bsky.social)"


def test_an_empty_display_name_leaves_the_handle(crawled):
    assert crawled.post("3lpjlye6o6c2c")["author"] == "@bodyballistics.bsky.social"


def test_author_ref_is_the_stable_did(crawled):
    assert crawled.post("3lpjzka2pzc2l")["author_ref"] == (
        f"{WEB}/did:plc:7nagdvjqrzaquzk7mueohne5"
    )


def test_date_is_the_records_created_at(crawled):
    posted = crawled.post("3lpjzka2pzc2l")["posted_at"]
    assert datetime.fromisoformat(posted) == datetime(2025, 5, 19, 16, 46, 41, 792000, UTC)


def test_permalink_is_on_bsky_app_whatever_the_api_host(crawled):
    assert crawled.post("3lpjzka2pzc2l")["url"] == f"{WEB}/mcpli.bsky.social/post/3lpjzka2pzc2l"
    assert all(i["url"].startswith(f"{WEB}/") for i in crawled.items)


def test_a_reply_belongs_to_its_threads_first_post(crawled):
    reply = crawled.post("3lpjzka2pzc2l")
    assert reply["thread_url"] == f"{WEB}/did:plc:7nagdvjqrzaquzk7mueohne5/post/3lpjy3eabqs2l"
    assert reply["is_thread_start"] is False
    assert crawled.post("3lpjy3eabqs2l")["is_thread_start"] is True


def test_a_repost_is_the_original_authors_post(crawled):
    # In the account's feed with a "reason" (reposted by chriskenny): shown as Melody Huang's.
    post = crawled.post("3lasbyedrss2p")
    assert post["author"] == "Melody Huang (@melodyyhuang.bsky.social)"


def test_images_are_the_fullsize_urls_of_images_view(crawled):
    assert crawled.post("3lpjzka2pzc2l")["image_urls"] == [
        RECORDED["3lpjzka2pzc2l"]["embed"]["images"][0]["fullsize"]
    ]
    thumbs = {
        image["thumb"]
        for view in RECORDED.values()
        for image in (view.get("embed") or {}).get("images") or []
    }
    assert thumbs and not thumbs & {u for i in crawled.items for u in i["image_urls"]}


def test_a_link_cards_picture_is_an_image_of_the_post(crawled):
    # Bluesky shows it on the post, from its own CDN, whatever page the link leads to.
    card = RECORDED["3lpjlye6o6c2c"]["embed"]["external"]
    assert crawled.post("3lpjlye6o6c2c")["image_urls"] == [card["thumb"]]


def test_images_beside_a_quoted_post_come_from_record_with_media(crawled):
    media = RECORDED["3loagm2phgk2t"]["embed"]["media"]
    assert media["$type"] == "app.bsky.embed.images#view"
    urls = crawled.post("3loagm2phgk2t")["image_urls"]
    assert urls and urls == [image["fullsize"] for image in media["images"]]


def test_language_is_the_first_one_the_record_declares(crawled):
    assert crawled.post("3lpjzka2pzc2l")["language"] == "en"
    assert crawled.post("3lpk2u6qo222m")["language"] == ""  # no langs in the record


def test_search_pages_follow_the_cursor(crawled):
    searches = [s.target for s in crawled.first_run if "searchPosts" in s.target]
    assert any("cursor=" not in t for t in searches)
    assert any("cursor=25" in t for t in searches)
    assert "q=%22Jeanne+Dupont%22" in searches[0]
    # A post of the second page (the 2023 answer) was read.
    assert any(i["url"].endswith("/post/3kghpycppiw2n") for i in crawled.items)


def test_author_feed_pages_follow_the_cursor_up_to_the_pages_option(crawled):
    feeds = [s.target for s in crawled.first_run if "getAuthorFeed" in s.target]
    cursors = {parse_qs(urlsplit(t).query).get("cursor", [""])[0] for t in feeds}
    assert cursors == {"", "2024-03-21T23:36:16.378Z"}
    assert any(i["url"].endswith("/post/3lpk2lf7k6k2t") for i in crawled.items)  # page 2
    # pages: 2: the second page's cursor (2025-04-21T16:01:54Z) is not followed.
    assert not any("2025-04-21" in t for t in feeds)


def test_a_second_run_skips_what_the_first_read(crawled):
    assert len(crawled.items) > 100
    assert crawled.again == []
    assert not [s for s in crawled.second_run if "cursor=" in s.target]


def test_one_session_is_created_with_the_app_password(crawled):
    created = [s for s in crawled.first_run if s.target.endswith("createSession")]
    assert len(created) == 1
    assert json.loads(created[0].body) == {"identifier": HANDLE, "password": PASSWORD}
    api = [s for s in crawled.first_run if "/app.bsky." in s.target]
    assert api and all(s.authorization.startswith("Bearer eyJhY2Nlc3Mi.") for s in api)


def test_an_expired_token_is_refreshed_and_the_request_sent_again(crawled):
    run = crawled.first_run
    refreshed = [s for s in run if s.target.endswith("refreshSession")]
    assert [(s.authorization, s.status) for s in refreshed] == [
        ("Bearer eyJyZWZyZXNoIi.s1.refresh", 200)
    ]
    expired = [s for s in run if s.status == 400]
    assert expired and all(s.authorization == "Bearer eyJhY2Nlc3Mi.s1.access" for s in expired)
    after = run[run.index(refreshed[0]) + 1 :]
    renewed = "Bearer eyJhY2Nlc3Mi.s1-r.access"
    assert after and all(s.authorization == renewed for s in after if s.status == 200)
    # A request already queued in the downloader when the refresh was answered may still leave
    # with the old token: refused once, like those before it, never a second time.
    expired_targets = [s.target for s in expired]
    assert len(expired_targets) == len(set(expired_targets))
    # What found the token expired was asked again with the new one, and answered.
    answered = {s.target for s in after if s.status == 200}
    assert set(expired_targets) <= answered
    # Two pages of searches and two of the feed, each answered once in the end.
    assert len({s.target for s in run if s.status == 200 and "/app.bsky." in s.target}) == 4


# One crawl each through the runner, as the monitor runs it.


@pytest.fixture
def bluesky(isolated, settings, monkeypatch):
    from clients.models import Client, WatchTerm

    client = Client.objects.create(reference="c", display_name="C", email="c@example.org")
    WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value="Manny Ramirez")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    servers: list[ClosingServer] = []

    def make(
        site: BlueskyServer,
        credentials: dict[str, str] | None = CREDENTIALS,
        redirect_port: bool = False,
        **options: Any,
    ) -> Any:
        server, base = _serve(site)
        if redirect_port:
            site.redirect_to = site.redirect_to.format(port=server.server_port)
        servers.append(server)
        extra = {"credentials": credentials} if credentials else {}
        write_source(
            settings.BODYGUARD_SOURCES_DIR, "bsky", base, kind="bluesky", options=options, **extra
        )
        return run_crawl(configured_sources()["bsky"])

    yield make
    for server in servers:
        server.shutdown()


@pytest.mark.django_db(transaction=True)
def test_a_refused_app_password_is_credentials_refused_not_no_results(
    bluesky, settings, monkeypatch
):
    monkeypatch.setenv("GOLDEN_BSKY_PASSWORD", "revoked-app-password")
    site = BlueskyServer()
    outcome = bluesky(site)
    run = CrawlRun.objects.get(pk=outcome.run_id)
    assert run.status == CrawlRun.Status.FAILED
    assert run.message.startswith("credentials refused by 127.0.0.1 (HTTP 401")
    # Nothing read without a session (robots.txt aside).
    assert [s.target for s in site.requests if s.target.startswith("/xrpc/")] == [
        "/xrpc/com.atproto.server.createSession"
    ]
    # Staff are told at the third failure in a row, with the reason.
    settings.BODYGUARD_STAFF_EMAILS = ["staff@example.org"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for days in (1, 2):
        CrawlRun.objects.create(
            source_id="bsky",
            kind="bluesky",
            started_at=run.started_at - timedelta(days=days),
            status=CrawlRun.Status.FAILED,
            message=run.message,
        )
    assert alert_staff_if_failing("bsky")
    assert "credentials refused by 127.0.0.1" in mail.outbox[0].body


@pytest.mark.django_db(transaction=True)
def test_rate_limited_is_a_failed_run(bluesky):
    outcome = bluesky(BlueskyServer(search_status=429))
    assert outcome.status == CrawlRun.Status.FAILED
    assert outcome.message.startswith("rate limited by 127.0.0.1 (HTTP 429)")


@pytest.mark.django_db(transaction=True)
def test_an_unknown_account_fails_the_run_with_the_reason(bluesky):
    outcome = bluesky(BlueskyServer(), credentials=None, accounts=["nobody.invalid"])
    assert outcome.status == CrawlRun.Status.FAILED
    assert "1 account(s) not found" in outcome.message
    assert "@nobody.invalid: HTTP 400: InvalidRequest (Profile not found)" in outcome.message


@pytest.mark.django_db(transaction=True)
def test_without_credentials_accounts_are_read_signed_out_and_no_name_searched(bluesky):
    site = BlueskyServer()
    outcome = bluesky(site, credentials=None, accounts=[ACTOR], pages=1)
    assert outcome.status == CrawlRun.Status.OK, outcome.message
    api = [s for s in site.requests if s.target.startswith("/xrpc/")]
    assert [(s.method, urlsplit(s.target).path) for s in api] == [
        ("GET", "/xrpc/app.bsky.feed.getAuthorFeed")
    ]
    assert api[0].authorization == ""


@pytest.mark.django_db(transaction=True)
def test_a_redirect_never_takes_the_token_elsewhere(bluesky):
    site = BlueskyServer()
    # The same server under another name: had the crawler followed, it would be seen here.
    site.redirect_to = "http://localhost:{port}/stolen"
    outcome = bluesky(site, redirect_port=True)
    assert not [s for s in site.requests if s.target.startswith("/stolen")]
    assert outcome.errors >= 1  # the search failed, and says so


def _plain(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


@pytest.mark.django_db(transaction=True)
def test_secrets_reach_the_source_only(bluesky, hit_store, settings):
    site = BlueskyServer(expire_after=1)
    outcome = bluesky(site, accounts=[ACTOR], pages=1)
    assert outcome.hits > 0, outcome.message  # "Manny Ramirez", in a search result
    tokens = site.tokens()
    assert any(t.endswith("-r.access") for t in tokens)  # a refreshed session too
    secrets = [PASSWORD.encode(), HANDLE.encode(), *(t.encode() for t in tokens)]
    assert any(PASSWORD.encode() in s.body for s in site.requests)  # it was used, here only
    kept = {"log": Path(CrawlRun.objects.get(pk=outcome.run_id).log_file).read_bytes()}
    kept["message"] = outcome.message.encode()
    warcs = sorted(Path(settings.BODYGUARD_EVIDENCE_DIR).rglob("*.warc.gz"))
    assert warcs
    for warc in warcs:
        kept[warc.name] = _plain(warc.read_bytes())
    hits = hit_store.latest(client_id="c", size=100)
    assert hits
    kept["hits"] = repr(hits).encode()
    for where, data in kept.items():
        for value in secrets:
            assert value not in data, f"a secret in the {where}"
    # The search answer is the evidence; the session answers never are.
    assert b"searchPosts" in kept[warcs[0].name]
    assert b"createSession" not in kept[warcs[0].name]
    assert b"refreshSession" not in kept[warcs[0].name]


# Answers no service sent, for what the recordings cannot show.


def _spider() -> Any:
    from config.sources import Source
    from crawlers.spiders.bluesky import BlueskySpider

    spider = BlueskySpider(source="unit")
    spider.source = Source("unit", "bluesky", "https://bsky.social", timedelta(hours=1))
    return spider


def _link(start: int, end: int, uri: str = "https://example.org/full/path") -> dict[str, Any]:
    return {
        "index": {"byteStart": start, "byteEnd": end},
        "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}],
    }


def test_a_facet_that_cuts_a_character_or_overflows_leaves_the_text_as_written():
    spider = _spider()
    text = "é example.org/fu..."  # 20 bytes: "é" is two, byte 1 is inside it
    for facets in ([_link(1, 20)], [_link(3, 999)], [_link(3, 20, "javascript:alert(1)")]):
        assert spider._parse_text({"text": text, "facets": facets}, None) == text
    assert spider._parse_text({"text": text, "facets": [_link(3, 20)]}, None) == (
        "é https://example.org/full/path"
    )


def test_a_video_gives_its_playlist_and_its_thumbnail_and_alt_text():
    spider = _spider()
    embed = {
        "$type": "app.bsky.embed.video#view",
        "playlist": "https://video.bsky.app/watch/did%3Aplc%3Ax/bafk/playlist.m3u8",
        "thumbnail": "https://video.bsky.app/watch/did%3Aplc%3Ax/bafk/thumbnail.jpg",
        "alt": "a webcam",
    }
    assert spider._parse_media(embed) == ([embed["thumbnail"]], [embed["playlist"]])
    assert spider._parse_text({"text": "look"}, embed) == "look\n\na webcam"


def test_broken_shapes_are_skipped_not_fatal():
    spider = _spider()
    view = {
        "uri": "at://did:plc:abc/app.bsky.feed.post/3lpk2u6qo222m",
        "author": "not an object",
        "record": {"text": 42, "facets": "x", "langs": [None], "reply": ["x"]},
        "embed": {"$type": "app.bsky.embed.images#view", "images": ["x", {"fullsize": 1}]},
    }
    assert spider._parse_media(view["embed"]) == ([], [])
    assert spider._parse_permalink(view) == f"{WEB}/did:plc:abc/post/3lpk2u6qo222m"
    assert spider._parse_author(view) == ""
    assert spider._parse_language(view["record"]) == ""
    hostile = {**view, "uri": "at://did:plc:abc/app.bsky.feed.post/../../evil"}
    assert spider._parse_permalink(hostile) is None
