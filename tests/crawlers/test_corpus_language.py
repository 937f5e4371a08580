"""The corpus keeps the language a source declares for each post, as a primary tag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crawlers.items import primary_language
from crawlers.runner import run_crawl
from hits.corpus import CorpusFilters, CorpusPost, CorpusStore
from hits.images import ImageStore
from operations.scheduler import configured_sources
from tests.conftest import DATA, write_source
from tests.crawlers.cassettes import CassetteSite, load_cassette, routes_of
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import Route, StaticSite, serve_site

HANNA = DATA / "mastodon" / "rtoot_mastodon.social_timelines_tag_ichbinhanna_4pages_max_id.yml"
PHPBB = DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html"
VILLAGERS = DATA / "forums" / "xenforo2_villagersandheroes.com_thread.html"
XF_THREAD = "/forums/threads/patchnotes-4-47-4-tagundnachtgleiche-bugfix-build.3976/"


@pytest.mark.parametrize(
    ("declared", "primary"),
    [
        ("fr", "fr"),
        ("fr-FR", "fr"),
        ("de_DE", "de"),
        ("EN-us", "en"),
        (" pt-BR ", "pt"),
        ("gsw-CH", "gsw"),
        ("zh-Hant-TW", "zh"),
        ("", ""),
        (None, ""),
        (42, ""),
        ("und", ""),  # ISO 639 "undetermined": no language declared
        ("x-klingon", ""),
        ("f", ""),
        ("deutsch", ""),
        ("français", ""),
        ("fr1", ""),
        ("fr\nen", ""),
        ('fr"><script>alert(1)</script>', ""),
    ],
)
def test_primary_language_accepts_two_or_three_ascii_letters_only(declared, primary):
    assert primary_language(declared) == primary


@pytest.mark.django_db
def test_a_hostile_lang_attribute_gives_no_language(tmp_path):
    page = VILLAGERS.read_bytes().replace(
        b'lang="en-US"', b'lang="en&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"', 1
    )
    site = StaticSite({XF_THREAD: Route(page)})
    server = serve_site(site)
    try:
        items = crawl_items(
            tmp_path,
            "xenforo",
            f"http://127.0.0.1:{server.server_port}",
            {"start_urls": [XF_THREAD], "max_pages": 1},
        )
    finally:
        server.shutdown()
    assert items and {i["language"] for i in items} == {""}


@pytest.fixture
def corpus(isolated: Path, settings, hit_store) -> Iterator[CorpusStore]:
    """The corpus the crawl writes; its index and the image index go with the test."""
    store = CorpusStore(settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX)
    yield store
    store.delete_index()
    store.close()
    ImageStore(hit_store._es, settings.BODYGUARD_INDEX_PREFIX).delete_index()


def _crawl(isolated: Path, site: StaticSite, kind: str, options: dict) -> None:
    server = serve_site(site)
    write_source(
        isolated / "sources",
        kind,
        f"http://127.0.0.1:{server.server_port}",
        kind=kind,
        options=options,
    )
    try:
        run_crawl(configured_sources()[kind])
    finally:
        server.shutdown()


@pytest.mark.django_db(transaction=True)
def test_a_forum_posts_corpus_record_has_the_language_its_page_declares(isolated, corpus):
    # <html dir="ltr" lang="de">; nobody is watched: the corpus keeps every post read.
    site = StaticSite({"/viewtopic.php": Route(PHPBB.read_bytes())})
    _crawl(isolated, site, "phpbb", {"start_urls": ["/viewtopic.php?f=4&t=167"], "max_pages": 0})
    assert [post.language for post in _records(corpus)] == ["de"]


@pytest.mark.django_db(transaction=True)
def test_a_statuses_corpus_record_has_the_language_the_status_declares(isolated, corpus):
    routes: dict[str, Route | list[Route]] = {}
    routes.update(routes_of(load_cassette(HANNA), "https://mastodon.social", "http://x"))
    site = CassetteSite(routes)
    _crawl(isolated, site, "mastodon", {"hashtags": ["ichbinhanna"], "pages": 1})
    # German text declared Swedish, a status declaring nothing, one declared English.
    languages = {post.url.rsplit("/", 1)[1]: post.language for post in _records(corpus)}
    declared = ("114632345540311129", "114634955575313666", "114822758229315057")
    assert [languages[status] for status in declared] == ["sv", "", "en"]


def _records(corpus: CorpusStore) -> list[CorpusPost]:
    """Every corpus record, as Elasticsearch holds it."""
    return corpus.search(CorpusFilters(), per_page=200).posts
