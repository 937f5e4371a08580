"""Retro-match by pieces, collage tiles and framed photos (ADR 0024): copies crawled before a
photo was registered (stickered, in a collage, in an app's frame) are found through the real
Elasticsearch; other photos are not."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from hits.images import CrawledImage, ImageDocument, ImageStore
from matching.images import (
    PART_KINDS,
    crawled_fingerprint,
    decode,
    registration_hashes,
    retro_part_hashes,
    retro_query_hashes,
)
from tests.conftest import DATA

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PHOTO = decode((DATA / "photos" / "opencv_fruits.jpg").read_bytes())
OTHER = decode((DATA / "photos" / "skimage_camera.png").read_bytes())
BABOON = decode((DATA / "photos" / "opencv_baboon.jpg").read_bytes())
MESSI = decode((DATA / "photos" / "opencv_messi5.jpg").read_bytes())


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def _stickered(image: Image.Image) -> bytes:
    """Three emoji-yellow discs over ~8% of the photo, none in the bottom-right quarter."""
    out = image.copy()
    w, h = out.size
    r = int(w * 0.09)
    draw = ImageDraw.Draw(out)
    for fx, fy in ((0.22, 0.28), (0.7, 0.22), (0.3, 0.78)):
        x, y = int(w * fx), int(h * fy)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 204, 77))
    return _jpeg(out)


def _tilted(image: Image.Image) -> bytes:
    """Turned 5 degrees in its own frame: black corners, nothing trimmed (a negative here)."""
    return _jpeg(image.rotate(5, resample=Image.Resampling.BICUBIC))


def _collage(tiles: list[Image.Image], side: int = 240) -> bytes:
    """A 2x2 grid of square tiles, no gutter."""
    canvas = Image.new("RGB", (2 * side, 2 * side))
    for i, tile in enumerate(tiles):
        cell = ImageOps.fit(tile, (side, side), Image.Resampling.LANCZOS)
        canvas.paste(cell, (side * (i % 2), side * (i // 2)))
    return _jpeg(canvas)


def _screenshot(photo: Image.Image) -> bytes:
    """The photo in an app's frame (title bar, avatar, name, text lines) whose colour is 20 grey
    levels off the photo's top edge: too faint a seam once downscaled."""
    top = np.asarray(photo.convert("RGB"))[:3].reshape(-1, 3).mean(axis=0)
    frame = tuple(int(min(255, v + 20)) for v in top)
    w, h = photo.size
    canvas = Image.new("RGB", (w + 120, h + 260), frame)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=20)
    draw.rectangle((0, 0, w + 120, 40), fill=(51, 119, 255))
    draw.text((60, 10), "partagez un max", font=font, fill=(255, 255, 255))
    draw.ellipse((60, 60, 120, 120), fill=(190, 60, 160))
    draw.text((130, 70), "qui la connait ?", font=font, fill=(20, 20, 20))
    canvas.paste(photo, (60, 150))
    for i in range(3):
        draw.text((60, h + 170 + 28 * i), "regardez qui c'est lol", font=font, fill=(20, 20, 20))
    return _jpeg(canvas)


def _crawled(data: bytes, url: str) -> CrawledImage:
    found = crawled_fingerprint(data)
    fp = found.fingerprint
    return CrawledImage(url, f"{url}/page", "forum", fp.pdq, fp.quality, T0, found.variants)


def _lookup(store: ImageStore, image: Image.Image, pieces: bool = True) -> dict[str, str]:
    hashes = [*registration_hashes(image), *retro_query_hashes(image)]
    found = store.similar(hashes, parts=retro_part_hashes(image) if pieces else ())
    return {f.image_url: f.variant for f in found}


@pytest.fixture
def store(image_store):
    return image_store


def test_a_stickered_copy_crawled_before_registration_is_found_by_its_pieces(store):
    store.add(
        [
            _crawled(_stickered(PHOTO), "https://forum.example/stickered.jpg"),
            # Another photo with the same stickers: the stickers alone must not match.
            _crawled(_stickered(OTHER), "https://forum.example/other-stickered.jpg"),
        ]
    )
    assert _lookup(store, PHOTO) == {"https://forum.example/stickered.jpg": "part"}
    # The whole image and its regions alone (as before pieces) miss it.
    assert _lookup(store, PHOTO, pieces=False) == {}


def test_a_collage_tile_crawled_before_registration_is_found(store):
    # No gutter, and tiles of close tones: no seam to cut along, but a 2x2 grid of squares.
    store.add([_crawled(_collage([OTHER, PHOTO, BABOON, MESSI]), "https://forum.example/c.jpg")])
    assert _lookup(store, OTHER, pieces=False) == {"https://forum.example/c.jpg": "tile"}
    # A photo in none of its tiles.
    hopper = decode((DATA / "photos" / "pillow_hopper.jpg").read_bytes())
    assert _lookup(store, hopper) == {}


def test_a_screenshot_with_faint_photo_edges_is_found_by_its_frame(store):
    store.add(
        [
            _crawled(_screenshot(BABOON), "https://forum.example/shot.png"),
            _crawled(_screenshot(MESSI), "https://forum.example/other-shot.png"),
        ]
    )
    assert _lookup(store, BABOON, pieces=False) == {"https://forum.example/shot.png": "framed"}
    assert "https://forum.example/shot.png" not in _lookup(store, OTHER)


def test_photos_never_registered_are_not_found_by_their_pieces(store):
    store.add(
        [
            _crawled(_jpeg(OTHER), "https://forum.example/camera.jpg"),
            _crawled(_stickered(OTHER), "https://forum.example/camera-stickered.jpg"),
            _crawled(_tilted(OTHER), "https://forum.example/camera-tilted.jpg"),
        ]
    )
    assert _lookup(store, PHOTO) == {}
    # (The camera's own copies are there to be found: the lookup is not blind.)
    found = _lookup(store, OTHER)
    assert found["https://forum.example/camera.jpg"] == "full"
    assert found["https://forum.example/camera-stickered.jpg"] == "part"


def test_documents_written_before_pieces_are_found_as_before(store):
    crawled = _crawled(_jpeg(PHOTO), "https://forum.example/old.jpg")
    document = ImageDocument.from_domain(crawled)
    for field in [f for f in document if re.fullmatch(r"p\d+|pv\d+w\d|part_\w+", f)]:
        del document[field]
    assert "pdq" in document and "c0" in document
    store._es.index(index=store.index, id="old", document=document, refresh=True)

    found = store.similar(
        [*registration_hashes(PHOTO), *retro_query_hashes(PHOTO)],
        parts=retro_part_hashes(PHOTO),
    )
    assert [(f.image_url, f.distance, f.variant) for f in found] == [
        ("https://forum.example/old.jpg", 0, "full")
    ]


def test_pieces_survive_the_journal_round_trip():
    crawled = _crawled(_stickered(PHOTO), "https://forum.example/stickered.jpg")
    kinds = [v.kind for v in crawled.variants]
    assert "part" in kinds
    assert all(v.kind not in PART_KINDS for v in crawled.hashes)
    back = ImageDocument.to_domain(ImageDocument.from_domain(crawled))
    assert back == crawled


@pytest.mark.django_db
def test_a_photo_registered_by_staff_finds_its_stickered_copy_crawled_before(store, settings):
    from clients.models import Client
    from clients.photos import register_photo
    from hits.store import HitStore

    store.add([_crawled(_stickered(PHOTO), "https://forum.example/stickered.jpg")])
    client = Client.objects.create(reference="zoe", display_name="Zoé", email="z@example.org")

    registration = register_photo(
        client, "plage", (DATA / "photos" / "opencv_fruits.jpg").read_bytes()
    )

    assert registration.retro is not None and registration.retro.hits_created == 1
    hits = HitStore(settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX)
    try:
        hits.refresh()
        (hit,) = hits.latest(client_id="zoe")
    finally:
        hits.close()
    assert hit.image_url == "https://forum.example/stickered.jpg" and hit.photo_label == "plage"
