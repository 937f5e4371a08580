"""Images on crawled pages: matched against registered photos in memory, fingerprints indexed,
retro-matched when a photo is registered later; hostile images recorded, crawl goes on."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from alerts.models import Alert
from alerts.services import preferences_url
from clients.models import Client
from clients.photos import register_photo
from crawlers.models import CrawlRun
from demo.discourse_server import serve
from hits.documents import MatchKind
from hits.images import ImageStore
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import DATA, real_discourse_site, write_source
from tests.crawlers.static_site import JSON, Route, fourchan, po_thread

pytestmark = [pytest.mark.django_db(transaction=True)]

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
    images = {
        "/img/po/1546293948883.png": Route(_reposted("opencv_baboon.jpg"), "image/jpeg"),
        "/img/po/1546294496751.png": Route(
            (PHOTOS / "skimage_camera.png").read_bytes(), "image/png"
        ),
        "/img/po/1546294889019.jpg": Route(
            (PHOTOS / "opencv_messi5.jpg").read_bytes()[:6000], "image/jpeg"
        ),
    }
    with fourchan(isolated / "sources", "po", po_thread(images)) as (site, base):
        yield site, base


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
    # The only link is a (fresh, opaque) link to the client's own preferences page.
    [link] = [w for w in body.split() if "://" in w]
    assert link.startswith(preferences_url(client).rsplit("/preferences/", 1)[0] + "/preferences/")


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


# -- Cross-posts, decoys, retro-match of altered copies, quality ---------------------------------


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _photo(name: str) -> Image.Image:
    return Image.open(PHOTOS / name).convert("RGB")


def _framed(photo: Image.Image) -> Image.Image:
    """A screenshot of a social app around the photo: a title bar, an avatar and a name, the
    photo with margins, text lines under it (not a uniform border: trimming cannot remove it)."""
    w, h = photo.size
    canvas = Image.new("RGB", (w + 60, h + 190), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=16)
    draw.rectangle((0, 0, canvas.width, 36), fill=(59, 89, 152))
    draw.text((12, 9), "Facebook", font=font, fill=(255, 255, 255))
    draw.ellipse((12, 48, 52, 88), fill=(200, 120, 90))
    draw.text((62, 52), "un ami a partagé une photo", font=font, fill=(20, 20, 20))
    canvas.paste(photo, (30, 100))
    for i, line in enumerate(("regardez qui c'est", "partagez un max", "12 J'aime")):
        draw.text((30, h + 110 + 22 * i), line, font=font, fill=(60, 60, 60))
    return canvas


def _captioned(photo: Image.Image) -> Image.Image:
    """A meme: a black band with a caption above the photo."""
    w, h = photo.size
    band = int(h * 0.3)
    canvas = Image.new("RGB", (w, h + band), (0, 0, 0))
    canvas.paste(photo, (0, band))
    font = ImageFont.load_default(size=band // 3)
    ImageDraw.Draw(canvas).text((w // 20, band // 3), "elle se reconnaîtra", font=font)
    return canvas


def _cropped(photo: Image.Image) -> Image.Image:
    """22% cut from the left side only."""
    w, h = photo.size
    return photo.crop((int(w * 0.22), 0, w, h))


def _faded(photo: Image.Image) -> bytes:
    """Contrast down to 5%: the picture is still there (PDQ normalises contrast), but PDQ's
    quality score drops under 50."""
    out = io.BytesIO()
    ImageEnhance.Contrast(photo).enhance(0.05).save(out, "PNG")
    return out.getvalue()


def _second_thread(no: int) -> bytes:
    """The real /po/ thread renumbered as thread ``no`` (listed in the real catalog): its opening
    post shows the same image file as the first thread's, as a cross-post does."""
    thread = json.loads(
        (DATA / "fourchan" / "4chan-API_docs_threads_example0.json").read_text(encoding="utf-8")
    )
    posts = thread["posts"][:1]
    posts[0] |= {"no": no, "resto": 0, "sub": "repost"}
    return json.dumps({"posts": posts}).encode()


def test_an_image_cross_posted_in_two_threads_is_a_hit_on_each_page(board, hit_store):
    site, _ = board
    site.routes["/po/thread/574933.json"] = Route(_second_thread(574933), JSON)
    client = _client("jeanne")
    register_photo(client, "photo 1", (PHOTOS / "opencv_baboon.jpg").read_bytes())

    run_cycle(list(configured_sources().values()))

    hits = hit_store.latest(client_id="jeanne")
    assert sorted(h.url for h in hits) == [
        "https://boards.4chan.org/po/thread/570368#p570368",
        "https://boards.4chan.org/po/thread/574933#p574933",
    ]
    assert {h.image_url.rsplit("/", 1)[1] for h in hits} == {"1546293948883.png"}
    # The bytes were fetched once; the second post reused the first fetch's fingerprint.
    assert site.requests.count("/img/po/1546293948883.png") == 1

    # Registered later, the same photo finds both pages among the crawled images.
    paul = _client("paul")
    result = register_photo(paul, "photo 1", (PHOTOS / "opencv_baboon.jpg").read_bytes())
    assert result.retro is not None and result.retro.hits_created == 2
    assert len(hit_store.latest(client_id="paul")) == 2


def _rotated_in_frame(name: str) -> bytes:
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
    site.routes["/img/po/1546293948883.png"] = Route(
        _rotated_in_frame("opencv_baboon.jpg"), "image/jpeg"
    )
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


DECOYS = 12


@pytest.fixture
def decoy_forum(isolated: Path, hit_store, settings):
    """The real Discourse sandbox topic; its second post now shows a dozen small images (cut
    from real photos) and, after them, the stolen photo, as a harasser hides one among many."""
    site = real_discourse_site()
    topic = json.loads(
        (DATA / "discourse" / "discourse_api_fixture_topic.json").read_text(encoding="utf-8")
    )
    post = next(p for p in topic["post_stream"]["posts"] if p["id"] == 84)
    tiles = []
    for i in range(DECOYS):
        source = _photo(("opencv_fruits.jpg", "skimage_camera.png", "pillow_hopper.jpg")[i % 3])
        tile = source.crop((i * 20, i * 15, i * 20 + 48, i * 15 + 48))
        out = io.BytesIO()
        tile.save(out, "PNG")
        path = f"/uploads/default/original/1X/decoy{i:02}.png"
        site.uploads[path] = ("image/png", out.getvalue())
        tiles.append(f'<img src="{path}" width="48" height="48" alt="">')
    stolen = "/uploads/default/original/1X/5f0c9a1e.jpeg"
    site.uploads[stolen] = ("image/jpeg", _reposted("opencv_messi5.jpg"))
    post["cooked"] += (
        f"<p>{''.join(tiles)}</p><p><img src='{stolen}' width='548' height='342' alt=''></p>"
    )
    site.posts[84] = post
    site.raw["/t/57.json"] = json.dumps(topic).encode()
    server = serve(site)
    base = f"http://127.0.0.1:{server.server_port}"
    write_source(isolated / "sources", "sandbox", base)
    yield site, stolen
    server.shutdown()


def test_a_stolen_photo_behind_a_dozen_decoy_images_is_found(decoy_forum, hit_store):
    site, stolen = decoy_forum
    client = _client("jeanne")
    register_photo(client, "photo 1", (PHOTOS / "opencv_messi5.jpg").read_bytes())

    run_cycle(list(configured_sources().values()))

    [hit] = hit_store.latest(client_id="jeanne")
    assert hit.image_url.endswith(stolen) and hit.photo_tier == "strong"
    assert sum("/decoy" in r for r in site.requests) == DECOYS  # all fetched, within budget


def test_when_a_posts_image_budget_runs_short_the_photo_is_fetched_first(
    decoy_forum, hit_store, settings
):
    site, stolen = decoy_forum
    # Room for two fetches: the photo (declared 548x342, JPEG) and one decoy.
    settings.BODYGUARD_CRAWL_SETTINGS = settings.BODYGUARD_CRAWL_SETTINGS | {
        "BODYGUARD_IMAGE_BYTES_PER_POST": str(2 * 64 * 1024)
    }
    client = _client("jeanne")
    register_photo(client, "photo 1", (PHOTOS / "opencv_messi5.jpg").read_bytes())

    run_cycle(list(configured_sources().values()))

    [hit] = hit_store.latest(client_id="jeanne")
    assert hit.image_url.endswith(stolen)
    assert sum("/decoy" in r for r in site.requests) < DECOYS


def test_framed_captioned_and_cropped_copies_crawled_before_registration_are_found(
    board, hit_store
):
    site, _ = board
    photo = _photo("opencv_fruits.jpg")
    copies = {
        "/img/po/1546293948883.png": _jpeg(_framed(photo)),
        "/img/po/1546294496751.png": _jpeg(_captioned(photo)),
        "/img/po/1546294889019.jpg": _jpeg(_cropped(photo)),
    }
    for path, data in copies.items():
        site.routes[path] = Route(data, "image/jpeg")
    _client("someone")
    run_cycle(list(configured_sources().values()))
    assert hit_store.count() == 0

    paul = _client("paul")
    result = register_photo(paul, "photo 1", (PHOTOS / "opencv_fruits.jpg").read_bytes())

    assert result.retro is not None and result.retro.hits_created == 3
    hits = hit_store.latest(client_id="paul")
    assert {h.image_url.split("/img", 1)[1] for h in hits} == {p[4:] for p in copies}
    assert all(h.photo_distance is not None and h.photo_distance <= 24 for h in hits)


def test_a_faded_copy_is_a_candidate_not_a_strong_match_in_retro_match_as_at_crawl_time(
    board, hit_store
):
    site, _ = board
    site.routes["/img/po/1546294496751.png"] = Route(
        _faded(_photo("opencv_messi5.jpg")), "image/png"
    )
    before = _client("jeanne")
    register_photo(before, "photo 1", (PHOTOS / "opencv_messi5.jpg").read_bytes())
    run_cycle(list(configured_sources().values()))
    [crawled] = hit_store.latest(client_id="jeanne")

    paul = _client("paul")
    register_photo(paul, "photo 1", (PHOTOS / "opencv_messi5.jpg").read_bytes())
    [retro] = hit_store.latest(client_id="paul")

    assert crawled.photo_distance is not None and crawled.photo_distance <= 24
    assert (crawled.photo_tier, retro.photo_tier) == ("candidate", "candidate")


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


def test_hits_survive_an_image_index_that_refuses_every_fingerprint(board, hit_store, settings):
    # An image index with a field of another type (made by someone else, or an old mapping):
    # every fingerprint document is refused.
    images = ImageStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    images._es.indices.create(
        index=images.index, mappings={"properties": {"quality": {"type": "boolean"}}}
    )
    client = _client("jeanne")
    client.terms.create(kind="alias", value="papercraft")
    register_photo(client, "photo 1", (PHOTOS / "opencv_baboon.jpg").read_bytes())
    try:
        run_cycle(list(configured_sources().values()))
        hits = hit_store.latest(client_id="jeanne")
        # The post naming her and the post showing her photo are both hits.
        assert {h.match_kind for h in hits} == {MatchKind.NAME, MatchKind.IMAGE}
        assert "https://boards.4chan.org/po/thread/570368#p570370" in {h.url for h in hits}
    finally:
        images._es.indices.delete(index=images.index)
        images.close()


def test_a_stage_failing_on_a_post_loses_none_of_its_name_hits(board, hit_store, settings):
    from crawlers.settings import ITEM_PIPELINES

    # Between the name matcher and the indexer, a stage that fails on every post.
    failing = {**ITEM_PIPELINES, "tests.crawlers.faulty.FailingStage": 750}
    settings.BODYGUARD_CRAWL_SETTINGS = {
        **settings.BODYGUARD_CRAWL_SETTINGS,
        "ITEM_PIPELINES": json.dumps(failing),
    }
    client = _client("jeanne")
    client.terms.create(kind="alias", value="papercraft")

    report = run_cycle(list(configured_sources().values()))

    # Indexed, and seen by the alerts step that runs right after the crawl.
    urls = {h.url for h in hit_store.latest(client_id="jeanne")}
    assert "https://boards.4chan.org/po/thread/570368#p570370" in urls
    assert report.alerts.collect is not None and report.alerts.collect.alerts_created == len(urls)


def test_a_post_whose_markup_breaks_the_html_parser_is_still_read(board, hit_store):
    site, _ = board
    thread = json.loads(
        (DATA / "fourchan" / "4chan-API_docs_threads_example0.json").read_text(encoding="utf-8")
    )
    thread["posts"][1]["com"] = "<b>Jeanne</b></body><body>tout le monde connaît Personne Inconnue"
    site.routes["/po/thread/570368.json"] = Route(json.dumps(thread).encode(), JSON)
    _client("jeanne")

    run_cycle(list(configured_sources().values()))

    urls = {h.url for h in hit_store.latest(client_id="jeanne")}
    assert urls == {"https://boards.4chan.org/po/thread/570368#p570370"}
