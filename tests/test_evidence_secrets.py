"""Evidence leaks no credential: a search API crawled with a key from the environment, then
its case packs exported; the key is in no WARC, no ZIP and no crawl log."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawlers.models import CrawlRun
from crawlers.runner import run_crawl
from hits.corpus import CorpusFilters, CorpusStore
from operations.scheduler import configured_sources, process_alerts
from takedowns.evidence import export_case
from takedowns.models import Case
from tests.conftest import DATA, write_source
from tests.crawlers.static_site import Route, StaticSite, serve_site

pytestmark = [pytest.mark.django_db(transaction=True)]

SEARCH = DATA / "search"
KINDS = {
    "brave": ("/res/v1/web/search", "semantic-kernel_brave_what_is_the_semantic_kernel.json"),
    "bing": ("/v7.0/search", "semantic-kernel_bing_what_is_the_semantic_kernel.json"),
    "google_cse": ("/customsearch/v1", "semantic-kernel_google_what_is_the_semantic_kernel.json"),
}
KEY = "sk-live-7f3a9c2e41d84b6f"
CX = "cx-private-0a1b2c3d"


def _plain(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_api_keys_never_reach_evidence_or_case_packs(
    kind, isolated: Path, hit_store, settings, monkeypatch
):
    from clients.models import Client

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monkeypatch.setenv("TEST_SEARCH_KEY", KEY)
    monkeypatch.setenv("TEST_SEARCH_CX", CX)
    client = Client.objects.create(reference="sk", display_name="S", email="s@example.org")
    client.terms.create(kind="name", value="Semantic Kernel")
    path, name = KINDS[kind]
    site = StaticSite({path: Route((SEARCH / name).read_bytes(), "application/json")})
    server = serve_site(site)
    write_source(
        isolated / "sources",
        "api",
        f"http://127.0.0.1:{server.server_port}",
        kind=kind,
        credentials={"api_key": "TEST_SEARCH_KEY", "cx": "TEST_SEARCH_CX"},
        options={"fetch_pages": False, "pages": 1},
    )
    try:
        outcome = run_crawl(configured_sources()["api"])
    finally:
        server.shutdown()
    assert outcome.hits > 0, outcome
    process_alerts()
    cases = list(Case.objects.all())
    assert cases

    evidence = Path(settings.BODYGUARD_EVIDENCE_DIR)
    warcs = sorted(evidence.rglob("*.warc.gz"))
    assert warcs
    packs = [export_case(case.pk, who="alice") for case in cases]
    blobs = [_plain(w.read_bytes()) for w in warcs]
    for pack in packs:
        archive = zipfile.ZipFile(io.BytesIO(pack))
        blobs += [_plain(archive.read(n)) for n in archive.namelist()]
    blobs.append(Path(CrawlRun.objects.get(pk=outcome.run_id).log_file).read_bytes())
    corpus = CorpusStore(settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX)
    posts = corpus.search(CorpusFilters(), per_page=200).posts
    corpus.delete_index()
    corpus.close()
    assert posts and all(p.fetched_url for p in posts)
    blobs += [json.dumps(p.__dict__, default=str).encode() for p in posts]
    for blob in blobs:
        assert KEY.encode() not in blob
        assert CX.encode() not in blob or kind != "google_cse"

    # The archived request says what was taken out.
    with open(warcs[0], "rb") as stream:
        notes = [
            json.loads(r.content_stream().read())
            for r in ArchiveIterator(stream)
            if r.rec_type == "metadata"
        ]
    assert all("redacted" in note for note in notes), notes
