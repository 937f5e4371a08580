"""Crawled image fingerprints are never lost to Elasticsearch: journaled while it is down,
written by the next crawl, set aside with the reason when it refuses them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clients.photos import register_photo
from crawlers.models import CrawlRun
from demo.smtp_sink import free_port
from hits.documents import MatchKind
from hits.images import CrawledImage, ImageDocument, ImageJournal, ImageStore
from hits.journal import HitJournal, journals_in
from hits.store import HitStore
from matching.hashes import PdqHash
from matching.images import Variant, crawled_variants, decode, fingerprint_image
from operations.privacy import erase_client
from operations.scheduler import configured_sources, run_cycle
from tests.crawlers import test_images
from tests.crawlers.test_images import PHOTOS, _client
from tests.hits.test_journal import _hit

board = test_images.board  # the fixture: the real /po/ thread and its images, served by us

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
IMAGE_PATHS = (
    "/img/po/1546293948883.png",
    "/img/po/1546294496751.png",
    "/img/po/1546294889019.jpg",  # truncated: not an image, no fingerprint
)


def _crawled(
    photo: str = "opencv_fruits.jpg", page: str = "https://forum.example/t/1"
) -> CrawledImage:
    image = decode((PHOTOS / photo).read_bytes())
    fp = fingerprint_image(image)
    return CrawledImage(
        f"https://img.example/{photo}",
        page,
        "forum",
        fp.pdq,
        fp.quality,
        T0,
        variants=crawled_variants(image, fp),
    )


def test_a_journaled_fingerprint_reads_back_with_every_variant(tmp_path: Path):
    image = _crawled()
    assert len(image.variants) > 1
    journal = ImageJournal(tmp_path, "bodyguard-images")

    journal.append([image])

    assert journal.pending() == [image]
    [back] = journal.pending()
    assert back.doc_id == image.doc_id and back.hashes == image.hashes
    # Not a hit journal: erasure does not read it as one.
    HitJournal(tmp_path, "bodyguard-hits").append([_hit("jeanne", 1)])
    assert [j.index for j in journals_in(tmp_path)] == ["bodyguard-hits"]


def _count(store: ImageStore) -> int:
    store._es.indices.refresh(index=store.index)
    return int(store._es.count(index=store.index)["count"])


@pytest.mark.elasticsearch
def test_a_long_journal_is_replayed_whole_when_one_fingerprint_is_refused(
    image_store: ImageStore, tmp_path: Path
):
    # More than one bulk chunk (2000), the refused one in the first chunk.
    base = _crawled()
    images = [
        replace(base, page_url=f"https://forum.example/t/{i}", variants=(Variant("full", _pdq(i)),))
        for i in range(2001)
    ]
    images[0] = replace(images[0], quality=40000)  # a short: Elasticsearch refuses it
    journal = ImageJournal(tmp_path, image_store.index)
    journal.append(images)

    outcome = journal.replay(image_store.add)

    assert (outcome.replayed, outcome.remaining, outcome.dead_lettered) == (2000, 0, 1)
    assert _count(image_store) == 2000
    assert journal.pending() == []
    [letter] = journal.dead_letters.entries()
    assert letter.doc_id == images[0].doc_id and letter.status == 400 and letter.client_id == ""
    assert letter.document["quality"] == 40000


def _pdq(i: int) -> PdqHash:
    return PdqHash(hashlib.sha256(str(i).encode()).digest())


@pytest.mark.elasticsearch
def test_a_fingerprint_replayed_late_keeps_when_the_image_was_first_and_last_seen(
    image_store: ImageStore, tmp_path: Path
):
    image = _crawled()
    later = replace(image, seen_at=T0 + timedelta(days=2))
    image_store.add([later])
    journal = ImageJournal(tmp_path, image_store.index)
    journal.append([image])  # seen first, by a crawl that could not write it

    journal.replay(image_store.add)

    stored = image_store._es.get(index=image_store.index, id=image.doc_id)["_source"]
    assert (stored["first_seen"], stored["last_seen"]) == (
        "2026-11-01T12:00:00.000Z",
        "2026-11-03T12:00:00.000Z",
    )


@pytest.fixture
def no_index_left(board, hit_store: HitStore, settings) -> Iterator[None]:
    """Crawls make the test prefix's image and corpus indexes too: gone after the test."""
    yield
    prefix = settings.BODYGUARD_INDEX_PREFIX
    ImageStore(hit_store._es, prefix).delete_index()
    hit_store._es.indices.delete(index=f"{prefix}-corpus", ignore_unavailable=True)


def _images_journal(settings) -> ImageJournal:
    return ImageJournal(
        Path(settings.BODYGUARD_JOURNAL_DIR), f"{settings.BODYGUARD_INDEX_PREFIX}-images"
    )


def _crawl_with_elasticsearch_down(settings) -> None:
    real_url = settings.BODYGUARD_ELASTICSEARCH_URL
    settings.BODYGUARD_ELASTICSEARCH_URL = f"http://127.0.0.1:{free_port()}"
    try:
        run_cycle(list(configured_sources().values()))
    finally:
        settings.BODYGUARD_ELASTICSEARCH_URL = real_url


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_index_left")
def test_images_crawled_while_elasticsearch_is_down_are_found_by_a_photo_registered_later(
    board, hit_store: HitStore, settings
):
    site, base = board
    jeanne = _client("jeanne")
    jeanne.terms.create(kind="alias", value="papercraft")

    _crawl_with_elasticsearch_down(settings)

    run = CrawlRun.objects.get()
    assert run.status == CrawlRun.Status.DEGRADED
    assert "2 image fingerprint(s) kept in the journal for the next run" in run.message
    journal = _images_journal(settings)
    assert sorted(i.image_url for i in journal.pending()) == sorted(
        base + p for p in IMAGE_PATHS[:2]
    )
    assert HitJournal(Path(settings.BODYGUARD_JOURNAL_DIR), hit_store.index).pending()

    # The images are gone from the site: only the journal can bring their fingerprints.
    for path in IMAGE_PATHS:
        del site.routes[path]
    run_cycle(list(configured_sources().values()))

    assert journal.pending() == []
    images = ImageStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    try:
        assert _count(images) == 2
        paul = _client("paul")
        result = register_photo(paul, "photo 1", (PHOTOS / "skimage_camera.png").read_bytes())
        assert result.retro is not None and result.retro.hits_created >= 1
        [hit] = hit_store.latest(client_id="paul")
        assert hit.match_kind == MatchKind.IMAGE and hit.photo_distance == 0
        assert hit.image_url == base + IMAGE_PATHS[1]
    finally:
        images.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_index_left")
def test_erasing_a_client_leaves_the_journaled_fingerprints_of_crawled_images(
    board, hit_store: HitStore, settings
):
    jeanne = _client("jeanne")
    jeanne.terms.create(kind="alias", value="papercraft")
    _crawl_with_elasticsearch_down(settings)
    journal = _images_journal(settings)
    crawled = journal.pending()
    hits = HitJournal(Path(settings.BODYGUARD_JOURNAL_DIR), hit_store.index)
    journaled_hits = len(hits.pending())
    assert len(crawled) == 2 and journaled_hits

    report = erase_client("jeanne")

    assert report.journal_entries_deleted == journaled_hits
    assert hits.pending() == []
    assert journal.pending() == crawled


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_index_left")
def test_fingerprints_the_image_index_refuses_are_set_aside_with_the_reason(
    board, hit_store: HitStore, settings
):
    # An image index with a field of another type (made by someone else, or an old mapping).
    images = ImageStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    images._es.indices.create(
        index=images.index, mappings={"properties": {"quality": {"type": "boolean"}}}
    )
    try:
        _client("someone")
        run_cycle(list(configured_sources().values()))
    finally:
        images._es.indices.delete(index=images.index)
        images.close()

    run = CrawlRun.objects.get()
    assert (
        "2 image fingerprint(s) refused by Elasticsearch, in the dead-letter files" in run.message
    )
    journal = _images_journal(settings)
    # Refused, not "retry later": the journal would trip on them at every run.
    assert journal.pending() == []
    letters = journal.dead_letters.entries()
    assert len(letters) == 2
    assert {letter.index for letter in letters} == {images.index}
    assert all(letter.status == 400 and "quality" in letter.reason for letter in letters)
    assert {ImageDocument.to_domain(letter.document).image_url for letter in letters} == {
        board[1] + p for p in IMAGE_PATHS[:2]
    }
