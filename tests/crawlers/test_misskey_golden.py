"""Golden tests: real Misskey API answers (slippy.xyz, Misskey v12, 2020) over local HTTP.

Misskey's API is ``POST /api/<endpoint>`` with a JSON body, so a small server here answers by
endpoint and body. ``notes/search`` and ``notes/search-by-tag`` are served as recorded; the
second page of the search is the recorded ``notes/timeline`` answer (the same note objects),
the third an empty list (the end). The saved material has no ``users/show`` or ``users/notes``
answer: ``users/show`` is the real ``user`` object embedded in a recorded note (``users/show``
answers a superset of it), ``users/notes`` the recorded ``notes/featured`` list of that user's
note. Notes the material lacks (a video file, MFM functions, a renote, a hostile ``url``) are
copies of a real note with those fields changed, under the hashtag ``derived``; the
``NO_SUCH_USER`` and 401 bodies follow Misskey's error shape."""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from crawlers.models import CrawlRun
from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from tests.conftest import DATA, write_source
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import ClosingServer, Route

pytestmark = pytest.mark.django_db

MISSKEY = DATA / "misskey"
JSON = "application/json; charset=utf-8"
TOKEN = "secret-token-for-tests"
EFERTONE_NOTE = "8dsk7x47y3"  # the note with two PNG files (notes/featured)


def _notes(name: str) -> list[dict[str, Any]]:
    data = json.loads((MISSKEY / f"go-misskey_slippy.xyz_notes_{name}.json").read_text("utf-8"))
    return data if isinstance(data, list) else [data]


def _answer(data: object, status: int = 200) -> Route:
    return Route(json.dumps(data).encode(), JSON, status)


def _error(code: str, message: str, status: int) -> Route:
    return _answer({"error": {"message": message, "code": code, "kind": "client"}}, status)


def _derived(port: int) -> list[dict[str, Any]]:
    """Real notes with the fields the material lacks changed (module docstring)."""
    base = _notes("featured_with_files")[0]
    video = copy.deepcopy(base)
    video["id"], video["text"] = "8dsk7x47v1", "a clip"
    video["files"][1]["type"] = "video/mp4"
    mfm = copy.deepcopy(base)
    mfm["id"], mfm["files"] = "8dsk7x47m1", []
    mfm["text"] = (
        "$[x2 $[spin.speed=2s **Jeanne**]] <center>Dupont</center> :blobcat: [doc](https://slippy.xyz/a_b)"
    )
    hostile = copy.deepcopy(base)
    hostile["id"], hostile["text"], hostile["files"] = "8dsk7x47h1", "hostile note", []
    # A remote note claims its own page: it must not become a page of another host.
    hostile["url"] = hostile["uri"] = f"http://localhost:{port}/notes/elsewhere"
    renote = copy.deepcopy(base)
    renote["id"], renote["text"], renote["files"] = "8dsk7x47r1", None, []
    renote["renote"] = _notes("search")[1] | {"id": "8cuiy4pt7r"}
    renote["renoteId"] = renote["renote"]["id"]
    bad_id = copy.deepcopy(base)
    bad_id["id"], bad_id["files"] = "../../api/admin", []
    return [video, mfm, hostile, renote, bad_id]


@dataclass
class MisskeySite:
    """Answers keyed by endpoint and body (without the token and the page size)."""

    answers: dict[tuple[str, str], Route] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    def add(self, endpoint: str, body: dict[str, Any], answer: Route) -> None:
        self.answers[(f"/api/{endpoint}", json.dumps(body, sort_keys=True))] = answer

    def route(self, path: str, body: dict[str, Any]) -> Route:
        asked = {k: v for k, v in body.items() if k not in ("i", "limit")}
        key = (path.split("?", 1)[0], json.dumps(asked, sort_keys=True))
        return self.answers.get(key) or _error("NO_SUCH_ENDPOINT", "No such endpoint.", 404)

    def requested(self, endpoint: str) -> list[dict[str, Any]]:
        return [body for path, body, _ in self.calls if path.split("?")[0] == f"/api/{endpoint}"]


def serve_misskey(site: MisskeySite) -> ClosingServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
            site.calls.append((self.path, body, self.headers.get("Host", "")))
            route = site.route(self.path, body)
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

        def do_GET(self) -> None:
            # robots.txt aside, Misskey answers its API on POST only: a GET is a spider's bug.
            site.calls.append((self.path, {}, self.headers.get("Host", "")))
            self.send_error(404 if self.path == "/robots.txt" else 405)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ClosingServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _site(port: int) -> MisskeySite:
    site = MisskeySite()
    search = _notes("search")
    site.add("notes/search", {"query": "Jeanne Dupont"}, _answer(search))
    site.add(
        "notes/search",
        {"query": "Jeanne Dupont", "untilId": search[-1]["id"]},
        _answer(_notes("timeline")),
    )
    site.add(
        "notes/search",
        {"query": "Jeanne Dupont", "untilId": _notes("timeline")[-1]["id"]},
        _answer([]),
    )
    tagged = _notes("search-by-tag")
    site.add("notes/search-by-tag", {"tag": "test"}, _answer(tagged))
    site.add("notes/search-by-tag", {"tag": "test", "untilId": tagged[-1]["id"]}, _answer([]))
    site.add("notes/search-by-tag", {"tag": "derived"}, _answer(_derived(port)))
    efertone = _notes("search")[0]["user"]
    site.add("users/show", {"username": "efertone", "host": None}, _answer(efertone))
    featured = _notes("featured_with_files")
    site.add("users/notes", {"userId": efertone["id"]}, _answer(featured))
    site.add("users/notes", {"userId": efertone["id"], "untilId": featured[-1]["id"]}, _answer([]))
    site.add(
        "users/show",
        {"username": "nobody", "host": None},
        _error("NO_SUCH_USER", "No such user.", 400),
    )
    return site


def _start(site: MisskeySite) -> tuple[ClosingServer, str]:
    server = serve_misskey(site)
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def crawled(django_db_setup, django_db_blocker, tmp_path_factory):
    from clients.models import Client, WatchTerm

    # The port is known once the server listens: the derived notes name it.
    site = MisskeySite()
    server, base = _start(site)
    fresh = _site(server.server_port)
    site.answers.update(fresh.answers)
    options = {"hashtags": ["test", "derived"], "accounts": ["efertone"], "pages": 3}
    with django_db_blocker.unblock():
        client = Client.objects.create(
            reference="golden-misskey", display_name="G", email="g@example.org"
        )
        WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value="Jeanne Dupont")
        try:
            items = crawl_items(
                tmp_path_factory.mktemp("misskey"),
                "misskey",
                base,
                options,
                credentials={"access_token": "GOLDEN_MISSKEY_TOKEN"},
                env={"GOLDEN_MISSKEY_TOKEN": TOKEN},
            )
        finally:
            client.delete()
    server.shutdown()
    return base, {item["url"].rsplit("/", 1)[1]: item for item in items}, site


def test_every_note_is_read(crawled):
    _, items, _ = crawled
    # 2 searched, 3 on the search's second page, 10 tagged, 1 of the account, 4 derived (the
    # renote is read as the note it renotes; the note with a path for an id is left out).
    assert len(items) == 2 + 3 + 10 + 1 + 4


def test_mfm_becomes_text(crawled):
    _, items, _ = crawled
    assert items["8dsk7x47m1"]["text"] == "Jeanne Dupont :blobcat: doc https://slippy.xyz/a_b"
    assert items["8cuiy4pt7e"]["text"].startswith("The internet needs our love\n\n")


def test_mentions_and_hashtags_stay_as_written(crawled):
    _, items, _ = crawled
    assert items[EFERTONE_NOTE]["text"].startswith("@syuilo@misskey.io That's what I feel.")
    assert items["8aohsdxyqa"]["text"] == "#test 2"


def test_author_is_name_and_handle_at_host(crawled):
    base, items, _ = crawled
    host = base.split("//", 1)[1].split(":")[0]
    assert items["8dlo8p9s7g"]["author"] == f":ffxivmsq_comp: Efertone (@efertone@{host})"
    assert items["8aohsdxyqa"]["author"] == "しゅいろ:loading: (@syuilo@misskey.io)"
    assert items["89h0ufigfv"]["author"] == f"@kiki_test@{host}"  # no display name


def test_date_is_created_at_in_utc(crawled):
    _, items, _ = crawled
    assert items["8dlo8p9s7g"]["posted_at"] == "2020-10-20T15:13:09.616000+00:00"


def test_permalink_is_the_note_on_the_source(crawled):
    base, items, _ = crawled
    assert all(item["url"] == f"{base}/notes/{note}" for note, item in items.items())
    assert all(item["thread_url"] == item["url"] for item in items.values())


def test_images_are_files_of_an_image_type(crawled):
    _, items, _ = crawled
    assert items[EFERTONE_NOTE]["image_urls"] == [
        "https://slippy.xyz/files/webpublic-d1a533b6-8a18-4a63-953c-89a2f3ea0632",
        "https://slippy.xyz/files/webpublic-267db19b-5d42-42a2-a614-a3037fdf84f6",
    ]
    assert items[EFERTONE_NOTE]["image_sizes"][items[EFERTONE_NOTE]["image_urls"][0]] == (
        1861 * 892
    )
    assert len(items["89h0ufigfv"]["image_urls"]) == 1


def test_videos_are_files_of_a_video_type(crawled):
    _, items, _ = crawled
    assert items["8dsk7x47v1"]["video_urls"] == [
        "https://slippy.xyz/files/webpublic-267db19b-5d42-42a2-a614-a3037fdf84f6"
    ]
    assert len(items["8dsk7x47v1"]["image_urls"]) == 1
    assert all(not item["video_urls"] for n, item in items.items() if n != "8dsk7x47v1")


def test_a_renote_is_the_note_it_renotes(crawled):
    base, items, _ = crawled
    assert "8dsk7x47r1" not in items
    renoted = items["8cuiy4pt7r"]
    assert renoted["url"] == f"{base}/notes/8cuiy4pt7r"
    assert renoted["text"].startswith("The internet needs our love")
    assert renoted["author"].startswith("@mozilla_bot@")


def test_names_are_searched_with_the_token_in_the_body(crawled):
    _, _, site = crawled
    searches = site.requested("notes/search")
    assert [s.get("untilId") for s in searches] == [None, "8cuiy4pt7e", "8e4o1sug3f"]
    assert all(s["query"] == "Jeanne Dupont" and s["i"] == TOKEN for s in searches)
    assert not any(TOKEN in path for path, _, _ in site.calls)


def test_pages_go_back_with_until_id_and_stop_at_an_empty_one(crawled):
    _, items, site = crawled
    assert {"8e4o67so5b", "8e4o2vfc3o", "8e4o1sug3f"} <= set(items)  # the second page
    tagged = site.requested("notes/search-by-tag")
    # Each tag's first page, then its oldest note's id; "derived" ends on a refused id.
    assert [(t["tag"], t.get("untilId")) for t in tagged if t["tag"] == "test"] == [
        ("test", None),
        ("test", "87m562b43l"),
    ]
    assert [t.get("untilId") for t in tagged if t["tag"] == "derived"] == [None]


def test_watched_accounts_are_found_then_read(crawled):
    _, items, site = crawled
    assert site.requested("users/show")[0]["username"] == "efertone"
    assert site.requested("users/notes")[0]["userId"] == "83sv4lyx22"
    assert EFERTONE_NOTE in items


def test_a_hostile_note_url_stays_a_page_of_the_source(crawled):
    base, items, site = crawled
    assert items["8dsk7x47h1"]["url"] == f"{base}/notes/8dsk7x47h1"
    assert not any("elsewhere" in item["url"] for item in items.values())
    assert "../../api/admin" not in str(site.requested("notes/search-by-tag"))
    # Every request went to the source's host, robots.txt aside with POST only.
    assert {host for _, _, host in site.calls} == {base.split("//", 1)[1]}
    api = [(path, body) for path, body, _ in site.calls if path != "/robots.txt"]
    assert api and all(path.startswith("/api/") and body for path, body in api)


@pytest.fixture
def source(isolated, settings):
    servers: list[ClosingServer] = []

    def make(site: MisskeySite, **options: Any) -> MisskeySite:
        server, base = _start(site)
        servers.append(server)
        write_source(
            settings.BODYGUARD_SOURCES_DIR,
            "misskey",
            base,
            kind="misskey",
            options=options,
            credentials={"access_token": "TEST_MISSKEY_TOKEN"},
        )
        return site

    yield make
    for server in servers:
        server.shutdown()


@pytest.fixture
def watched(transactional_db):
    from clients.models import Client, WatchTerm

    client = Client.objects.create(reference="c", display_name="C", email="c@example.org")
    WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value="Jeanne Dupont")
    return client


def _run() -> CrawlRun:
    outcome = run_crawl(configured_sources()["misskey"])
    return CrawlRun.objects.get(pk=outcome.run_id)


@pytest.mark.django_db(transaction=True)
def test_an_unknown_account_fails_the_run_with_the_reason(source, monkeypatch):
    monkeypatch.setenv("TEST_MISSKEY_TOKEN", "t")
    source(_site(0), accounts=["nobody"], search_names=False)
    run = _run()
    assert run.status == CrawlRun.Status.FAILED
    assert "no account @nobody on 127.0.0.1" in run.message


@pytest.mark.django_db(transaction=True)
def test_a_refused_token_is_credentials_refused_not_no_results(source, monkeypatch, watched):
    monkeypatch.setenv("TEST_MISSKEY_TOKEN", "expired")
    site = _site(0)
    refused = _error("AUTHENTICATION_FAILED", "Authentication failed.", 401)
    site.add("notes/search", {"query": "Jeanne Dupont"}, refused)
    source(site)
    run = _run()
    assert run.status == CrawlRun.Status.FAILED
    assert "credentials refused" in run.message


@pytest.mark.django_db(transaction=True)
def test_a_page_read_before_is_not_followed_again(source, monkeypatch, watched):
    monkeypatch.setenv("TEST_MISSKEY_TOKEN", "t")
    site = source(_site(0), pages=3)
    assert _run().status == CrawlRun.Status.OK
    assert len(site.requested("notes/search")) == 3
    site.calls.clear()
    assert _run().status == CrawlRun.Status.OK
    # Its first page unchanged, the search does not go back further.
    assert [s.get("untilId") for s in site.requested("notes/search")] == [None]
