"""Investigating (issue 10): an account's page and the reviewers' corpus search, on what a real
crawl of real forum pages put in the corpus and the hits index (real Elasticsearch)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from parsel import Selector

from clients.services import import_client_file
from demo.discourse_server import serve
from hits.corpus import CorpusFilters, CorpusPost, CorpusStore
from hits.documents import Hit, MatchedTerm, MatchKind
from hits.store import HitStore
from operations.scheduler import configured_sources, run_cycle
from takedowns.models import AuditEvent
from tests.conftest import (
    DATA,
    delete_test_indexes,
    new_index_prefix,
    real_discourse_site,
    write_source,
)
from tests.crawlers.static_site import serve_site
from tests.takedowns.workbench import PASSWORD, TOPIC, forum_site, make_user

pytestmark = [pytest.mark.django_db(transaction=True)]

PARIS = ZoneInfo("Europe/Paris")
# Three clients named in the crawled pages: Allan Bloom by Jarrod (2108/440); the creator
# "hoe_math" by anonymous45 (2108/12) and anonymous105 (2108/15), one thread; Richard Stallman
# on the phpBB topic of the other source.
CLIENTS = """
clients:
  - id: allan-bloom
    display_name: Allan Bloom
    names: ["Allan Bloom"]
    email: allan.bloom@example.org
  - id: hoe-math
    display_name: Hoe Math
    names: ["Hoe Math"]
    aliases: ["hoe_math"]
    email: hoe.math@example.org
  - id: rms
    display_name: Richard Stallman
    names: ["Richard Stallman"]
    email: rms@example.org
"""
THREAD_2108 = "/t/comments-on-the-boyfriends-introduction-to-feminism/2108"
THREAD_57 = "/t/this-site-is-a-sandbox-it-is-reset-every-day/57"


@dataclass
class World:
    prefix: str
    es_url: str
    base: str  # the Discourse forum (source cf-forum)
    phpbb: str  # the phpBB forum (source myoos)
    posts: list[CorpusPost]
    hits: list[Hit]

    def post(self, path: str) -> CorpusPost:
        return next(p for p in self.posts if p.url == self.base + path)

    def hit(self, client_id: str, path: str = "") -> Hit:
        return next(h for h in self.hits if h.client_id == client_id and h.url.endswith(path or ""))

    def profile(self, username: str) -> str:
        return f"{self.base}/u/{username}"


def _world_settings(tmp: Path, prefix: str, es_url: str) -> dict[str, Any]:
    """What tests.conftest.isolated sets, for a whole module."""
    return {
        "BODYGUARD_INDEX_PREFIX": prefix,
        "BODYGUARD_ELASTICSEARCH_URL": es_url,
        "BODYGUARD_JOURNAL_DIR": tmp / "journal",
        "BODYGUARD_VAR_DIR": tmp / "var",
        "BODYGUARD_EVIDENCE_DIR": tmp / "evidence",
        "BODYGUARD_SOURCES_DIR": tmp / "sources",
        "BODYGUARD_CRAWL_TIME_LIMIT_S": 120,
        "BODYGUARD_CRAWL_SETTINGS": {
            "DOWNLOAD_DELAY": "0",
            "AUTOTHROTTLE_ENABLED": "0",
            "BODYGUARD_ONLY_HOSTS": "127.0.0.1,localhost",
        },
    }


def _sandbox_post_markup() -> str:
    """A real post's HTML as a careless reader might keep it: markup and an image."""
    topic = json.loads((DATA / "discourse" / "discourse_api_fixture_topic.json").read_text())
    return next(p["cooked"] for p in topic["post_stream"]["posts"] if p["post_number"] == 14)


def build_world(tmp: Path, es_url: str) -> Iterator[World]:
    """Two real forums crawled once for three clients (the crawls fill the corpus and the hits
    index), plus one post of anonymous45 in another thread, kept with its markup, published
    at 00:30 in Paris on 27 September 2025 (still the 26th in UTC). Needs the database."""
    (tmp / "sources").mkdir()
    prefix = new_index_prefix()
    discourse = serve(real_discourse_site())
    phpbb = serve_site(forum_site())
    base = f"http://127.0.0.1:{discourse.server_port}"
    phpbb_base = f"http://127.0.0.1:{phpbb.server_port}"
    corpus = CorpusStore(es_url, prefix)
    hits = HitStore(es_url, prefix)
    try:
        with override_settings(**_world_settings(tmp, prefix, es_url)):
            (tmp / "clients.yaml").write_text(CLIENTS, encoding="utf-8")
            import_client_file(tmp / "clients.yaml")
            write_source(tmp / "sources", "cf-forum", base)
            write_source(
                tmp / "sources", "myoos", phpbb_base, kind="phpbb",
                options={"start_urls": [TOPIC], "max_pages": 1},
            )  # fmt: skip
            report = run_cycle(list(configured_sources().values()))
        assert [str(c.status) for c in report.crawls] == ["ok", "ok"]
        thread = f"{base}{THREAD_57}"
        corpus.index_posts(
            [
                CorpusPost(
                    source_id="cf-forum", url=f"{thread}/15", thread_url=thread,
                    thread_title="THIS SITE IS A SANDBOX -- it is reset every day",
                    text=_sandbox_post_markup(), author="anonymous45",
                    author_ref=f"{base}/u/anonymous45",
                    posted_at=datetime(2025, 9, 26, 22, 30, tzinfo=UTC),
                    crawled_at=datetime.now(UTC),
                    image_urls=("http://q101.com/wp-content/uploads/2012/02/GroundhogDay.gif",),
                )
            ]
        )  # fmt: skip
        yield World(
            prefix=prefix,
            es_url=es_url,
            base=base,
            phpbb=phpbb_base,
            posts=corpus.search(CorpusFilters(), per_page=500).posts,
            hits=hits.latest(size=100),
        )
    finally:
        delete_test_indexes(es_url, prefix)  # the crawls' image and video indexes too
        corpus.close()
        hits.close()
        discourse.shutdown()
        phpbb.shutdown()


@pytest.fixture(scope="module")
def crawled_world(
    django_db_setup, django_db_blocker, tmp_path_factory, elasticsearch_url
) -> Iterator[World]:
    # Crawled once for the module: the crawl's database rows go with the first test's flush,
    # what the pages read is in Elasticsearch.
    with django_db_blocker.unblock():
        yield from build_world(tmp_path_factory.mktemp("investigate"), elasticsearch_url)


@pytest.fixture
def world(crawled_world: World, settings, tmp_path) -> World:
    for name, value in _world_settings(
        tmp_path, crawled_world.prefix, crawled_world.es_url
    ).items():
        setattr(settings, name, value)
    return crawled_world


@pytest.fixture
def reviewer(client):
    client.force_login(make_user("rev", "reviewer"))
    return client


def _page(response) -> Selector:
    assert response.status_code == 200, response.status_code
    return Selector(text=response.content.decode())


def _author_url(source: str, account: str) -> str:
    return "/review/author/?" + urlencode({"source": source, "account": account})


def _search(reviewer, **params: str) -> Selector:
    return _page(reviewer.get("/review/search/?" + urlencode(params)))


def _results(page: Selector) -> list[str]:
    return page.css("#results tr.result::attr(data-url)").getall()


# -- the account page ---------------------------------------------------------------------------


def test_the_author_page_lists_an_accounts_posts_by_thread_with_the_clients_they_name(
    reviewer, world
):
    account = world.profile("anonymous45")
    page = _page(reviewer.get(_author_url("cf-forum", account)))

    theirs = [p for p in world.posts if p.account == account]
    assert len(theirs) > 20  # every post the crawl read, and the one in the sandbox topic
    listed = page.css("tr.post::attr(data-url)").getall()
    assert sorted(listed) == sorted(p.canonical_url for p in theirs)
    # By thread, the most recently active first; each thread in the order it was written.
    threads = page.css("section.source[data-source=cf-forum] div.thread")
    assert threads.css("::attr(data-thread)").getall() == [
        world.base + THREAD_2108,
        world.base + THREAD_57,
    ]
    in_2108 = threads[0].css("tr.post::attr(data-url)").getall()
    written = sorted((p for p in theirs if THREAD_2108 in p.url), key=lambda p: p.posted_at)
    assert in_2108 == [p.canonical_url for p in written]
    assert threads[1].css("tr.post::attr(data-url)").getall() == [f"{world.base}{THREAD_57}/15"]

    # Which client each post names, as found (the hits index), and when.
    post_12 = page.css(f'tr.post[data-url="{world.base}{THREAD_2108}/12"]')
    assert post_12.css("li.mention::attr(data-client)").getall() == ["hoe-math"]
    assert post_12.css("blockquote mark::text").getall()[:1] == ["hoe_math"]
    assert len(page.css("li.mention")) == 1  # none of their other posts names a client
    named = page.css("#clients-named tr[data-client]")
    assert named.css("::attr(data-client)").getall() == ["hoe-math"]
    posted = world.post(f"{THREAD_2108}/12").posted_at
    assert posted is not None
    assert named.css("td:nth-child(3)::text").get() == f"{posted.astimezone(PARIS):%d/%m/%Y %H:%M}"

    # Who else posts about hoe_math in that thread: anonymous105 only (Jarrod names another
    # client there, Elliot none).
    others = page.css("#co-posters tr.co-poster")
    assert others.css("::attr(data-account)").getall() == [world.profile("anonymous105")]
    assert others.css("td:nth-child(3)::text").get() == "hoe-math"
    assert others.css("a::attr(href)").get() == _author_url(
        "cf-forum", world.profile("anonymous105")
    )

    entry = AuditEvent.objects.get(action="view_author")
    assert entry.who == "rev" and entry.target == f"author:cf-forum:{account}"


def test_a_false_positive_does_not_make_a_co_poster(reviewer, world, hit_store_of_world):
    """A dismissed hit says the post is about someone else: not a co-poster about the client."""
    theirs = world.hit("hoe-math", f"{THREAD_2108}/15")
    reviewer.post(f"/review/hit/{theirs.hit_id}/decide/", {"decision": "dismiss"})
    try:
        page = _page(reviewer.get(_author_url("cf-forum", world.profile("anonymous45"))))
        assert not page.css("#co-posters tr.co-poster")
        # Their own page still shows the hit, with its status.
        own = _page(reviewer.get(_author_url("cf-forum", world.profile("anonymous105"))))
        assert own.css("li.mention::attr(data-client)").getall() == ["hoe-math"]
        assert not own.css("#clients-named tr[data-client]")
    finally:
        hit_store_of_world.set_review_status([theirs.hit_id], "new")


@pytest.fixture
def hit_store_of_world(world) -> Iterator[HitStore]:
    store = HitStore(world.es_url, world.prefix)
    yield store
    store.close()


def test_every_hit_with_an_author_links_to_the_authors_page(reviewer, world, hit_store_of_world):
    hit = world.hit("hoe-math", f"{THREAD_2108}/15")
    link = _page(reviewer.get(f"/review/hit/{hit.hit_id}/")).css("#author-link::attr(href)").get()
    assert link == f"/review/author/?hit={hit.hit_id}"
    response = reviewer.get(link)
    assert response.status_code == 302
    assert response["Location"] == _author_url("cf-forum", world.profile("anonymous105"))
    page = _page(reviewer.get(response["Location"]))
    assert f"{world.base}{THREAD_2108}/15" in page.css("tr.post::attr(data-url)").getall()
    assert page.css("#co-posters tr.co-poster::attr(data-account)").getall() == [
        world.profile("anonymous45")
    ]

    # The phpBB post names no profile: the account is the name on that source.
    phpbb = world.hit("rms")
    response = reviewer.get(f"/review/author/?hit={phpbb.hit_id}")
    assert response["Location"] == _author_url("myoos", phpbb.author)
    page = _page(reviewer.get(response["Location"]))
    assert page.css("tr.post::attr(data-url)").getall() == [phpbb.canonical_url]
    assert page.css("li.mention::attr(data-client)").getall() == ["rms"]

    # A hit whose post is no longer in the corpus: the account posting under that name there.
    now = datetime.now(UTC)
    gone = Hit(
        client_id="allan-bloom", source_id="cf-forum", url=f"{world.base}{THREAD_2108}/999",
        match_kind=MatchKind.NAME, matched_terms=(MatchedTerm("Allan Bloom", "Allan Bloom", "exact", 0, 11),),
        first_seen=now, last_seen=now, excerpt="Allan Bloom", author="Jarrod",
    )  # fmt: skip
    hit_store_of_world.upsert([gone])
    try:
        response = reviewer.get(f"/review/author/?hit={gone.hit_id}")
        assert response["Location"] == _author_url("cf-forum", world.profile("Jarrod"))
    finally:
        hit_store_of_world.delete_ids([gone.hit_id])

    # A hit without an author has no link.
    photo = Hit(
        client_id="rms", source_id="myoos", url=f"{world.phpbb}/files/baboon.jpg",
        match_kind=MatchKind.IMAGE, matched_terms=(), first_seen=now, last_seen=now,
        image_url=f"{world.phpbb}/files/baboon.jpg", photo_label="photo 1", photo_distance=4,
        photo_tier="strong",
    )  # fmt: skip
    hit_store_of_world.upsert([photo])
    try:
        assert not _page(reviewer.get(f"/review/hit/{photo.hit_id}/")).css("#author-link")
        assert reviewer.get(f"/review/author/?hit={photo.hit_id}").status_code == 404
    finally:
        hit_store_of_world.delete_ids([photo.hit_id])


def test_texts_are_escaped_and_images_never_shown(reviewer, world):
    page = reviewer.get(_author_url("cf-forum", world.profile("anonymous45"))).content.decode()
    sandbox = Selector(text=page).css(f'tr.post[data-url="{world.base}{THREAD_57}/15"]')
    assert "&lt;img src=" in sandbox.css("blockquote").get(default="")
    assert not Selector(text=page).css("img")  # not the post's image, nor any other
    results = reviewer.get("/review/search/?q=GroundhogDay").content.decode()
    assert _results(Selector(text=results)) == [f"{world.base}{THREAD_57}/15"]
    assert "&lt;img src=" in results and not Selector(text=results).css("img")


# -- the corpus search --------------------------------------------------------------------------


def test_the_search_finds_a_pseudonym_a_phrase_and_a_url(reviewer, world):
    # A pseudonym: the account's own posts, and the posts quoting it.
    found = _results(_search(reviewer, q="anonymous117"))
    assert world.post(f"{THREAD_2108}/445").canonical_url == found[0]
    quoting = {p.canonical_url for p in world.posts if "anonymous117" in p.text}
    assert quoting and quoting <= set(found)

    # A handle as written, and as the name matcher reads it ("hoe math").
    for written in ("hoe_math", "Hoe Math"):
        found = _results(_search(reviewer, q=written))
        assert sorted(found) == sorted(
            world.post(f"{THREAD_2108}/{n}").canonical_url for n in (12, 15)
        ), written

    # A phrase, accents and case ignored; marked in the excerpt.
    page = _search(reviewer, q="closing of the american mind")
    assert _results(page)[0] == world.post(f"{THREAD_2108}/440").canonical_url
    assert "Closing of the American Mind" in page.css("tr.result blockquote mark::text").getall()

    # A URL: of a post (as shared, with a tracker), or written in one.
    post = world.post(f"{THREAD_2108}/440")
    shared = f"{post.url}?utm_source=newsletter"
    assert _results(_search(reviewer, q=shared))[0] == post.canonical_url
    found = _results(
        _search(
            reviewer, q="https://curi.us/2599-comments-on-the-boyfriends-introduction-to-feminism"
        )
    )
    assert world.post(f"{THREAD_2108}/1").canonical_url in found

    # Each result says which clients it names and links to its author's page.
    page = _search(reviewer, q="hoe_math")
    assert page.css("tr.result li.mention::attr(data-client)").getall() == ["hoe-math"] * 2
    assert sorted(page.css("tr.result a.author::attr(href)").getall()) == sorted(
        _author_url("cf-forum", world.profile(n)) for n in ("anonymous105", "anonymous45")
    )

    # Every search is in the audit log, with what was searched.
    searches = AuditEvent.objects.filter(action="corpus_search", who="rev").order_by("at", "pk")
    assert searches.count() == 7
    assert searches[0].detail == "q=anonymous117"


def _paris_day(post: CorpusPost) -> date:
    assert post.posted_at is not None
    return post.posted_at.astimezone(PARIS).date()


def test_the_search_filters_by_client_source_and_paris_days(reviewer, world):
    everything = {p.canonical_url for p in world.posts}
    # Client: the posts the client has a hit on.
    assert sorted(_results(_search(reviewer, client="hoe-math"))) == sorted(
        world.post(f"{THREAD_2108}/{n}").canonical_url for n in (12, 15)
    )
    assert _results(_search(reviewer, client="allan-bloom", q="Jarrod")) == [
        world.post(f"{THREAD_2108}/440").canonical_url
    ]
    assert _results(_search(reviewer, client="nobody-registered")) == []
    assert AuditEvent.objects.filter(action="corpus_search", target="client:hoe-math").count() == 1

    # Source.
    phpbb = [p.canonical_url for p in world.posts if p.source_id == "myoos"]
    assert len(phpbb) == 1
    assert _results(_search(reviewer, source="myoos")) == phpbb
    assert _results(_search(reviewer, q="Stallman", source="myoos")) == phpbb
    assert _results(_search(reviewer, q="Stallman", source="cf-forum")) == []

    # Paris days, "to" included: the sandbox post, at 00:30 in Paris on the 27th, is not on
    # the 26th (as it would be in UTC); every post of the 26th is, up to 23:38.
    on_26 = {p.canonical_url for p in world.posts if _paris_day(p) == date(2025, 9, 26)}
    assert len(on_26) >= 5
    sandbox = f"{world.base}{THREAD_57}/15"
    assert set(_results(_search(reviewer, since="2025-09-26", until="2025-09-26"))) == on_26
    on_27 = set(_results(_search(reviewer, since="2025-09-27", until="2025-09-27")))
    assert sandbox in on_27
    assert on_27 == {p.canonical_url for p in world.posts if _paris_day(p) == date(2025, 9, 27)}
    upto_26 = set(_results(_search(reviewer, until="2025-09-26", source="cf-forum")))
    assert sandbox not in upto_26 and on_26 <= upto_26

    # A date that is not one is said, and the rest of the search still runs.
    page = _search(reviewer, since="26/09/2025", client="hoe-math")
    assert "26/09/2025" in page.css("#search-problems li::text").get(default="")
    assert len(_results(page)) == 2

    # Paged: every post once over the pages, 25 a page.
    seen: list[str] = []
    for number in (1, 2, 3):
        page = _search(reviewer, source="cf-forum", page=str(number))
        seen += _results(page)
        assert bool(page.css("#next")) == (number < 3)
    cf_forum = everything - set(phpbb)
    assert len(seen) == len(cf_forum) and set(seen) == cf_forum
    assert len(_results(_search(reviewer, source="cf-forum", page="99"))) == len(cf_forum) - 50


def test_an_empty_search_form_searches_nothing(reviewer, world):
    page = _page(reviewer.get("/review/search/"))
    assert page.css("#corpus-search") and not page.css("#results")
    assert not AuditEvent.objects.filter(action="corpus_search").exists()


# -- who may -------------------------------------------------------------------------------------


def test_staff_and_anonymous_users_are_refused(client, world):
    urls = [
        "/review/search/?q=hoe_math",
        _author_url("cf-forum", world.profile("anonymous45")),
        f"/review/author/?hit={world.hit('hoe-math', f'{THREAD_2108}/12').hit_id}",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    nobody = User.objects.create_user("nobody", password=PASSWORD)  # signed in, no role
    for user in (make_user("st", "staff"), nobody):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 403, (user.username, url)
    assert not AuditEvent.objects.filter(action__in=["corpus_search", "view_author"]).exists()
