"""Images on crawled pages: matched against registered photos in memory, fingerprints indexed,
retro-matched when a photo is registered later; hostile images recorded, crawl goes on."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from alerts.models import Alert
from alerts.services import preferences_url
from clients.models import Client
from clients.photos import register_photo
from crawlers.models import CrawlRun
from hits.documents import MatchKind
from hits.images import ImageStore
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import DATA, write_source
from tests.crawlers.static_site import Route, StaticSite, serve_site

pytestmark = [pytest.mark.django_db(transaction=True)]

JSON = "application/json; charset=utf-8"
PHOTOS = DATA / "photos"


def _reposted(name: str) -> bytes:
    """A registered photo as harassers re-post it: mirrored and recompressed."""
    image = Image.open(PHOTOS / name).convert("RGB")
    out = io.BytesIO()
    ImageOps.mirror(image).save(out, "JPEG", quality=75)
    return out.getvalue()


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def board(isolated: Path, hit_store, mailbox, settings):
    """The real /po/ thread of 4chan's API docs; its three images are served by us."""
    site = StaticSite(
        {
            "/po/catalog.json": Route(
                (DATA / "fourchan" / "4chan-API_docs_catalog_example0.json").read_bytes(), JSON
            ),
            "/po/thread/570368.json": Route(
                (DATA / "fourchan" / "4chan-API_docs_threads_example0.json").read_bytes(), JSON
            ),
            "/img/po/1546293948883.png": Route(_reposted("opencv_baboon.jpg"), "image/jpeg"),
            "/img/po/1546294496751.png": Route(
                (PHOTOS / "skimage_camera.png").read_bytes(), "image/png"
            ),
            "/img/po/1546294889019.jpg": Route(
                (PHOTOS / "opencv_messi5.jpg").read_bytes()[:6000], "image/jpeg"
            ),
        }
    )
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    write_source(
        isolated / "sources",
        "po",
        base,
        kind="fourchan",
        options={"boards": ["po"], "image_host": f"{base}/img"},
    )
    yield site, base
    server.shutdown()


def _client(reference: str) -> Client:
    client = Client.objects.create(
        reference=reference, display_name=reference.title(), email=f"{reference}@example.org"
    )
    client.terms.create(kind="name", value="Personne Inconnue")
    return client


def test_a_registered_photo_reposted_on_a_page_is_an_image_hit(board, hit_store, mailbox):
    client = _client("jeanne")
    register_photo(client, "photo 1", (PHOTOS / "opencv_baboon.jpg").read_bytes())

    report = run_cycle(list(configured_sources().values()))

    run = CrawlRun.objects.get()
    assert run.status == CrawlRun.Status.OK, run.message
    [hit] = hit_store.latest(client_id="jeanne")
    assert hit.match_kind == MatchKind.IMAGE
    assert hit.url == "https://boards.4chan.org/po/thread/570368#p570368"
    assert hit.image_url.endswith("/img/po/1546293948883.png")
    assert (hit.photo_label, hit.photo_tier) == ("photo 1", "strong")
    assert hit.photo_distance is not None and hit.photo_distance <= 24
    assert report.alerts.collect is not None and report.alerts.collect.alerts_created == 1
    assert len(mailbox.messages) == 1
    body = mailbox.messages[0].get_body(preferencelist=("plain",)).get_content()
    assert "1546293948883" not in body and "/po/thread/" not in body
    assert [w for w in body.split() if "://" in w] == [preferences_url(client)]


def test_broken_images_are_recorded_and_the_crawl_goes_on(board, settings):
    site, _ = board
    site.routes["/img/po/1546294496751.png"] = Route(_bomb(), "image/png")
    _client("someone")

    run_cycle(list(configured_sources().values()))

    run = CrawlRun.objects.get()
    assert run.status == CrawlRun.Status.OK
    log = Path(run.log_file).read_text(encoding="utf-8")
    assert "decompression bomb" in log or "pixel limit" in log
    assert "truncated" in log
    assert run.images == 1  # the one good image of three


def test_a_photo_registered_later_is_found_among_images_already_crawled(board, hit_store, settings):
    _client("jeanne")
    run_cycle(list(configured_sources().values()))
    assert hit_store.count() == 0
    images = ImageStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    try:
        images._es.indices.refresh(index=images.index)
        assert (
            images._es.count(index=images.index)["count"] == 2
        )  # the truncated one is not an image
    finally:
        images.delete_index()

    paul = _client("paul")
    # Re-crawl so the index exists again (the fixture's index was dropped above to prove the point).
    run_cycle(list(configured_sources().values()), full=True)
    result = register_photo(paul, "photo 1", (PHOTOS / "skimage_camera.png").read_bytes())

    assert result.retro is not None and result.retro.hits_created == 1
    [hit] = hit_store.latest(client_id="paul")
    assert hit.match_kind == MatchKind.IMAGE
    assert hit.url == "https://boards.4chan.org/po/thread/570368#p570370"
    assert hit.photo_distance == 0
    run_cycle([])
    assert Alert.objects.filter(client=paul).count() == 1


def _framed(name: str) -> bytes:
    """The photo rotated by 6 degrees, cropped off-centre, then shown inside a dark app frame with
    a title bar and a caption line: what PDQ cannot see through."""
    image = Image.open(PHOTOS / name).convert("RGB").rotate(6, resample=Image.Resampling.BICUBIC)
    w, h = image.size
    image = image.crop((int(w * 0.14), int(h * 0.08), int(w * 0.93), int(h * 0.9)))
    frame = Image.new("RGB", (image.width + 90, image.height + 260), (24, 24, 28))
    frame.paste(image, (30, 170))
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=80)
    return out.getvalue()


def test_an_altered_copy_inside_a_screenshot_frame_is_found_by_local_features(
    board, hit_store, mailbox
):
    site, _ = board
    site.routes["/img/po/1546293948883.png"] = Route(_framed("opencv_baboon.jpg"), "image/jpeg")
    client = _client("jeanne")
    register_photo(client, "photo 1", (PHOTOS / "opencv_baboon.jpg").read_bytes())

    run_cycle(list(configured_sources().values()))

    run = CrawlRun.objects.get()
    assert run.status == CrawlRun.Status.OK, run.message
    [hit] = hit_store.latest(client_id="jeanne")
    assert hit.match_kind == MatchKind.IMAGE
    assert hit.image_url.endswith("/img/po/1546293948883.png")
    assert hit.photo_label == "photo 1" and hit.photo_method == "features"
    assert hit.photo_distance is None and "keypoints agree" in hit.photo_why
    assert hit.photo_tier in ("strong", "candidate")


def test_a_wrong_features_key_stops_the_crawl_with_a_clear_error(board, hit_store, settings):
    import base64
    import os

    settings.BODYGUARD_FEATURES_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
    register_photo(_client("jeanne"), "photo 1", (PHOTOS / "opencv_baboon.jpg").read_bytes())
    settings.BODYGUARD_FEATURES_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()

    run_cycle(list(configured_sources().values()))

    run = CrawlRun.objects.get()
    assert run.status != CrawlRun.Status.OK
    log = Path(run.log_file).read_text(encoding="utf-8")
    assert "BODYGUARD_FEATURES_KEY" in log + run.message
    assert hit_store.count() == 0
