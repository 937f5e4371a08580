"""The crawled-image index: variants found, exact distances, and indexes made before variants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hits.images import CrawledImage, ImageStore
from matching.images import crawled_fingerprint, decode, registration_hashes
from tests.conftest import DATA

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PHOTO = (DATA / "photos" / "opencv_fruits.jpg").read_bytes()
OTHER = (DATA / "photos" / "skimage_camera.png").read_bytes()

# The image index's mapping as it was before variants (one hash per document).
OLD_MAPPING = {
    "dynamic": "strict",
    "properties": {
        "image_url": {"type": "keyword", "ignore_above": 4096},
        "page_url": {"type": "keyword", "ignore_above": 4096},
        "source_id": {"type": "keyword"},
        "pdq": {"type": "keyword", "index": False},
        "quality": {"type": "short"},
        "first_seen": {"type": "date"},
        "last_seen": {"type": "date"},
        **{f"w{i}": {"type": "long"} for i in range(4)},
        **{f"c{i}": {"type": "keyword"} for i in range(16)},
    },
}


@pytest.fixture
def store(isolated, settings):
    images = ImageStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    yield images
    images.delete_index()
    images.close()


def _crawled(data: bytes, url: str, page: str) -> CrawledImage:
    found = crawled_fingerprint(data)
    fp = found.fingerprint
    return CrawledImage(url, page, "forum", fp.pdq, fp.quality, T0, variants=found.variants)


def test_an_index_made_before_variants_keeps_its_documents_findable(store):
    fp = crawled_fingerprint(PHOTO).fingerprint
    words = fp.pdq.words()
    store._es.indices.create(index=store.index, mappings=OLD_MAPPING)
    store._es.index(
        index=store.index,
        id="old",
        refresh=True,
        document={
            "image_url": "https://forum.example/old.jpg",
            "page_url": "https://forum.example/t/1",
            "source_id": "forum",
            "pdq": fp.pdq.hex(),
            "quality": fp.quality,
            "first_seen": "2026-10-01T00:00:00Z",
            "last_seen": "2026-10-01T00:00:00Z",
            **{f"w{i}": w - (1 << 64) if w >= 1 << 63 else w for i, w in enumerate(words)},
            **{f"c{i}": f"{c:04x}" for i, c in enumerate(fp.pdq.chunks16())},
        },
    )

    store.ensure_index()  # gains the variant fields, loses nothing
    store.add([_crawled(PHOTO, "https://forum.example/new.jpg", "https://forum.example/t/2")])
    store.add([_crawled(OTHER, "https://forum.example/cam.png", "https://forum.example/t/3")])

    found = store.similar(registration_hashes(decode(PHOTO)))
    assert sorted(f.image_url for f in found) == [
        "https://forum.example/new.jpg",
        "https://forum.example/old.jpg",
    ]
    assert all(f.distance == 0 and f.variant == "full" for f in found)


def test_no_image_crawled_yet_means_nothing_similar(store):
    assert store.similar(registration_hashes(decode(PHOTO))) == []
