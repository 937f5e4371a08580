"""A photo registered after the crawl: the images of the posts that name her are fetched again
and matched with local features, so a crop that retro-match's hashes miss is still found."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from clients.models import Client
from clients.photos import register_photo
from hits.documents import MatchKind
from operations.backscan import run_pending_backscans
from operations.models import BackScan
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import DATA
from tests.crawlers.static_site import Route, fourchan, po_thread

pytestmark = [pytest.mark.django_db(transaction=True)]

PHOTOS = DATA / "photos"
THREAD = "https://boards.4chan.org/po/thread/570368"
CROP = "/img/po/1546294889019.jpg"  # the image of the post "FAQs about origami"


def _crop() -> bytes:
    """12% off the left, 10% off the top, 7% off the right, 5% off the bottom: no PDQ kept for
    the crawled copy comes within 70 of any hash of the photo (retro-match looks up to 31)."""
    photo = Image.open(PHOTOS / "opencv_fruits.jpg").convert("RGB")
    w, h = photo.size
    out = io.BytesIO()
    photo.crop((int(w * 0.12), int(h * 0.10), int(w * 0.93), int(h * 0.95))).save(
        out, "JPEG", quality=85
    )
    return out.getvalue()


@pytest.fixture
def board(isolated: Path, hit_store, mailbox):
    """The crop is the image of a post that names her, the baboon the image of another."""
    images = {
        "/img/po/1546293948883.png": Route((PHOTOS / "opencv_baboon.jpg").read_bytes(), "image/jpeg"),
        "/img/po/1546294496751.png": Route((PHOTOS / "skimage_camera.png").read_bytes(), "image/png"),
        CROP: Route(_crop(), "image/jpeg"),
    }  # fmt: skip
    with fourchan(isolated / "sources", "po", po_thread(images)) as (site, _):
        yield site


def _image_hits(hit_store, client: str):
    hit_store.refresh()
    return [h for h in hit_store.latest(client_id=client) if h.match_kind == MatchKind.IMAGE]


def test_a_crop_of_her_photo_in_a_post_naming_her_is_found_when_she_registers_it(board, hit_store):
    jeanne = Client.objects.create(
        reference="jeanne", display_name="Jeanne", email="jeanne@example.org"
    )
    jeanne.terms.create(kind="alias", value="origami")
    run_cycle(list(configured_sources().values()))  # the posts naming her are hits, by name
    assert _image_hits(hit_store, "jeanne") == []

    registered = register_photo(jeanne, "photo 1", (PHOTOS / "opencv_fruits.jpg").read_bytes())
    assert registered.retro is not None and registered.retro.hits_created == 0
    assert BackScan.objects.filter(client=jeanne, status=BackScan.Status.QUEUED).exists()
    fetched_before = board.requests.count(CROP)

    [outcome] = run_pending_backscans()

    [hit] = _image_hits(hit_store, "jeanne")
    assert hit.url == f"{THREAD}#p570371" and hit.image_url.endswith(CROP)
    assert (hit.photo_label, hit.photo_method) == ("photo 1", "features")
    assert (outcome.images.fetched, outcome.images.matched) == (2, 1)  # baboon and crop
    assert board.requests.count(CROP) == fetched_before + 1
    assert (
        "1 of them her registered photos"
        in BackScan.objects.get(
            client=jeanne, status=BackScan.Status.DONE, message__startswith="images"
        ).message
    )


def test_a_client_without_photos_costs_no_image_fetch(board, hit_store):
    jeanne = Client.objects.create(
        reference="jeanne", display_name="Jeanne", email="jeanne@example.org"
    )
    jeanne.terms.create(kind="alias", value="origami")
    run_cycle(list(configured_sources().values()))
    requests = len(board.requests)
    jeanne.terms.create(kind="alias", value="papercraft")

    [outcome] = run_pending_backscans()

    assert outcome.posts_matched == 3 and outcome.images.fetched == 0
    assert len(board.requests) == requests


@pytest.mark.parametrize("wrong", ["another key", "not a key"])
def test_a_wrong_features_key_leaves_her_names_scanned_and_says_why_images_were_not(
    board, hit_store, settings, wrong
):
    import base64
    import os

    jeanne = Client.objects.create(
        reference="jeanne", display_name="Jeanne", email="jeanne@example.org"
    )
    jeanne.terms.create(kind="alias", value="origami")
    run_cycle(list(configured_sources().values()))
    register_photo(jeanne, "photo 1", (PHOTOS / "opencv_fruits.jpg").read_bytes())
    settings.BODYGUARD_FEATURES_KEY = (
        base64.urlsafe_b64encode(os.urandom(32)).decode() if wrong == "another key" else "0123"
    )

    [outcome] = run_pending_backscans()

    assert outcome.posts_matched == 2 and outcome.images.fetched == 0
    assert "BODYGUARD_FEATURES_KEY" in outcome.images.error
    scan = BackScan.objects.filter(client=jeanne, status=BackScan.Status.DONE).latest("pk")
    assert (
        scan.message.startswith("images not checked") and "BODYGUARD_FEATURES_KEY" in scan.message
    )


def test_images_left_by_a_spent_budget_are_checked_at_the_next_run(board, hit_store, monkeypatch):
    import operations.backscan

    jeanne = Client.objects.create(
        reference="jeanne", display_name="Jeanne", email="jeanne@example.org"
    )
    jeanne.terms.create(kind="alias", value="origami")
    run_cycle(list(configured_sources().values()))
    register_photo(jeanne, "photo 1", (PHOTOS / "opencv_fruits.jpg").read_bytes())
    # Spent by the back-scans before hers in the same run.
    monkeypatch.setattr(operations.backscan, "IMAGE_BUDGET_S", 0.0)

    [spent] = run_pending_backscans()

    assert (spent.images.fetched, spent.images.over_budget) == (0, 2)
    assert _image_hits(hit_store, "jeanne") == []
    assert BackScan.objects.get(client=jeanne, status=BackScan.Status.QUEUED).reason == (
        "images left"
    )
    monkeypatch.undo()
    [again] = run_pending_backscans()
    assert again.images.matched == 1 and len(_image_hits(hit_store, "jeanne")) == 1
