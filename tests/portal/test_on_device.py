"""Photos and videos hashed on her device (/espace/empreintes/): real Chromium computes the
hashes and the photo's local features (SIFT), only JSON reaches the server, they equal the
server's own registration hashes and features, and a crawl then finds an altered re-post of
the photo, a crop PDQ alone misses included."""

from __future__ import annotations

import base64
import io
import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as DjangoClient
from PIL import Image, ImageEnhance, ImageOps
from playwright.sync_api import Browser, Page, Request, expect

from clients.keys import features_key
from clients.models import Client, ClientPhoto, ClientVideo
from crawlers.models import CrawlRun
from hits.documents import MatchKind
from matching.features import registration_features, unseal
from matching.hashes import PdqHash
from matching.images import (
    decode,
    hashes_of,
    registration_hashes,
    retro_part_hashes,
    retro_query_hashes,
)
from matching.photos import CANDIDATE_MAX_DISTANCE
from matching.videos import fingerprint_video
from operations.scheduler import configured_sources, run_cycle
from portal.mandates import has_consent, record_consent
from portal.registration import MAX_BODY_BYTES, MAX_PHOTO_BODY_BYTES
from takedowns.models import AuditEvent
from tests.conftest import DATA
from tests.crawlers.static_site import Route, fourchan, po_thread
from tests.portal import test_sift_port
from tests.portal.conftest import (
    ARTIFACTS,
    VIEWPORTS,
    axe_source,
    axe_violations,
    browser_sign_in,
    new_context,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

PHOTO = DATA / "photos" / "opencv_fruits.jpg"
VIDEO = DATA / "video" / "moviepy_big_buck_bunny_0_30.webm"
TOLERANCE = 10
SUBMIT = "/espace/empreintes/envoyer/"


def _altered(path: Path) -> bytes:
    """Her photo as a harasser re-posts it: mirrored, brightened, recompressed."""
    image = ImageOps.mirror(Image.open(path).convert("RGB"))
    image = ImageEnhance.Brightness(image).enhance(1.15)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


@pytest.fixture
def board(isolated: Path, mailbox: Any):
    """The real /po/ thread of 4chan's API docs; its first image is the altered copy."""
    images = {"/img/po/1546293948883.png": Route(_altered(PHOTO), "image/jpeg")}
    with fourchan(isolated / "sources", "po", po_thread(images)) as (site, _):
        yield site


def _ready(page: Page) -> None:
    expect(page.locator("h1")).to_have_text("Mes photos et vidéos")
    page.wait_for_selector("#fingerprints-form[data-ready='1']", state="attached")


def _open(page: Page, base: str) -> None:
    page.goto(f"{base}/espace/empreintes/")
    _ready(page)


def _distances(stored: list[str], server: list[str]) -> list[int]:
    assert len(stored) == len(server), (len(stored), len(server))
    return [PdqHash.from_hex(a) - PdqHash.from_hex(b) for a, b in zip(stored, server, strict=True)]


@pytest.mark.browser
def test_her_photo_is_hashed_in_her_browser_and_a_crawl_finds_its_copy(
    page: Page, live_server, jeanne: Client, hit_store, board
):
    jeanne.terms.create(kind="name", value="Personne Inconnue")
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request))
    browser_sign_in(page, live_server.url, jeanne)
    page.click("text=Mes photos et vidéos")
    _ready(page)
    before = len(seen)

    page.set_input_files("#fp-files", str(PHOTO))
    expect(page.locator("#fp-list li")).to_contain_text("opencv_fruits.jpg")
    expect(page.locator("#fp-list li")).to_contain_text("empreintes calculées", timeout=30_000)
    expect(page.locator("#fp-send")).to_be_enabled()
    # Choosing the file sent nothing.
    assert not [r for r in seen[before:] if r.method == "POST"]
    page.fill("#fp-label", "photo 1")
    page.click("#fp-send")
    expect(page.locator("#fp-error")).to_contain_text("cocher la case")  # consent first
    assert not ClientPhoto.objects.exists()
    page.check("#fp-consent")
    page.click("#fp-send")
    expect(page.locator("#fp-done")).to_contain_text("Reçu")

    # Every request the browser made: no image bytes, the registration JSON hashes only.
    photo_bytes = PHOTO.read_bytes()
    posts = [r for r in seen if r.method == "POST"]
    for request in seen:
        body = request.post_data_buffer or b""
        assert b"\xff\xd8\xff" not in body and b"\x89PNG" not in body, request.url
        assert photo_bytes[1000:1100] not in body
        assert "multipart" not in (request.headers.get("content-type") or "")
    # Only the sign-in button's form and the hashes were posted (a file picked and posted
    # would show as multipart; Chromium does not show a file's bytes in post data).
    assert {(r.headers.get("content-type") or "").split(";")[0] for r in posts} == {
        "application/x-www-form-urlencoded",
        "application/json",
    }
    assert all(r.url.endswith(SUBMIT) or "/espace/lien/" in r.url for r in posts)
    [registration] = [r for r in posts if r.url.endswith(SUBMIT)]
    assert registration.headers["content-type"] == "application/json"
    body = registration.post_data_buffer or b""
    assert len(body) < MAX_PHOTO_BODY_BYTES
    sent = json.loads(body)
    assert set(sent) == {
        "kind", "label", "hashes", "retro_hashes", "retro_parts", "quality", "consent",
        "features",
    }  # fmt: skip
    # Her photo's pieces (looked up among crawled images' pieces) are the server's.
    server_parts = retro_part_hashes(decode(PHOTO.read_bytes()))
    assert len(sent["retro_parts"]) == len(server_parts) > 0
    assert sent["kind"] == "photo" and sent["label"] == "photo 1" and sent["consent"] is True

    # The stored hashes are the server's own registration hashes of the same photo.
    photo = ClientPhoto.objects.get(client=jeanne)
    assert photo.label == "photo 1" and photo.sealed_features is not None
    server = [h.hex() for h in registration_hashes(decode(photo_bytes))]
    distances = _distances(photo.pdq_hashes, server)
    print("on-device vs server registration hashes: max", max(distances), "mean",
          round(statistics.mean(distances), 2), "count", len(distances))  # fmt: skip
    assert max(distances) <= TOLERANCE, distances
    assert has_consent(jeanne, "monitoring")
    assert AuditEvent.objects.filter(
        action="photo_registered_on_device", target="client:jeanne-dupont"
    ).exists()

    # A crawl of a forum that re-posts an altered copy: an image hit for her.
    run_cycle(list(configured_sources().values()))
    run = CrawlRun.objects.get()
    assert run.status == CrawlRun.Status.OK, run.message
    [hit] = hit_store.latest(client_id="jeanne-dupont")
    assert hit.match_kind == MatchKind.IMAGE
    assert hit.image_url.endswith("/img/po/1546293948883.png")
    assert hit.photo_label == "photo 1"
    assert hit.photo_distance is not None and hit.photo_distance <= 31


@pytest.mark.browser
def test_a_photo_already_crawled_is_found_when_she_registers_it(
    page: Page, live_server, jeanne: Client, hit_store, board
):
    """The same retro-match as a staff registration: a copy crawled before she registered,
    cut on one side (found by the retro-only hashes her browser sent, not by the stored ones)."""
    image = Image.open(PHOTO).convert("RGB")
    cut = io.BytesIO()
    image.crop((round(image.width * 0.22), 0, image.width, image.height)).save(cut, "JPEG")
    board.routes["/img/po/1546293948883.png"] = Route(cut.getvalue(), "image/jpeg")
    run_cycle(list(configured_sources().values()))
    assert not list(hit_store.latest(client_id="jeanne-dupont"))
    record_consent(jeanne, "monitoring", True, ip=None)
    browser_sign_in(page, live_server.url, jeanne)
    _open(page, live_server.url)
    assert page.locator("#fp-consent").count() == 0  # already given
    expect(page.locator("#fp-known")).to_have_text("Déjà enregistrées : 0 photo(s), 0 vidéo(s).")
    page.set_input_files("#fp-files", str(PHOTO))
    expect(page.locator("#fp-send")).to_be_enabled(timeout=30_000)
    page.fill("#fp-label", "photo 2")
    page.click("#fp-send")
    expect(page.locator("#fp-done")).to_contain_text("Reçu")
    [hit] = hit_store.latest(client_id="jeanne-dupont")
    assert hit.match_kind == MatchKind.IMAGE and hit.photo_label == "photo 2"


@pytest.mark.browser
def test_her_video_is_hashed_in_her_browser_as_the_server_would(
    page: Page, live_server, jeanne: Client, isolated: Path
):
    record_consent(jeanne, "monitoring", True, ip=None)
    browser_sign_in(page, live_server.url, jeanne)
    _open(page, live_server.url)
    page.set_input_files("#fp-files", str(VIDEO))
    expect(page.locator("#fp-list li")).to_contain_text("empreintes calculées", timeout=120_000)
    page.fill("#fp-label", "vidéo 1")
    page.click("#fp-send")
    expect(page.locator("#fp-done")).to_contain_text("Reçu", timeout=30_000)

    video = ClientVideo.objects.get(client=jeanne)
    data = VIDEO.read_bytes()
    server = fingerprint_video(data, registration=True)
    assert video.md5 == server.md5
    assert abs(video.duration_s - server.duration) < 0.5
    # The browser samples the server's frames (4 a second; scene changes on videos longer than
    # 10 minutes). Each browser frame against the server frame nearest in time:
    grid = list(server.frames)
    distances, qualities = [], []
    for at, pdq, quality in video.frame_hashes:
        nearest = min(grid, key=lambda f: abs(f.at - float(at)))
        assert abs(nearest.at - float(at)) < 0.3  # the last: the container outlasts it
        distances.append(PdqHash.from_hex(str(pdq)) - nearest.pdq)
        qualities.append(abs(int(quality) - nearest.quality))
    assert len(video.frame_hashes) >= 0.9 * len(grid)  # the server's grid and scene cuts
    within = sum(d <= 31 for d in distances) / len(distances)
    print("video frames on-device vs server: median", statistics.median(distances), "max",
          max(distances), "within 31:", round(within, 3), "frames", len(distances))  # fmt: skip
    assert statistics.median(distances) <= TOLERANCE and within >= 0.9
    assert statistics.median(qualities) <= 5
    assert len(video.variant_hashes) == len(video.frame_hashes)  # mirrored


# -- the route: hashes only ----------------------------------------------------------------------


def _crop_pdq_misses(path: Path) -> bytes:
    """Her photo cut by 12% on the left and at the top, recompressed: no PDQ registration
    variant comes near it, only local features can find it."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    out = io.BytesIO()
    image.crop((round(w * 0.12), round(h * 0.12), w, h)).save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.mark.browser
def test_a_crop_pdq_misses_is_found_by_the_features_her_browser_computed(
    page: Page, live_server, jeanne: Client, hit_store, board
):
    crop = _crop_pdq_misses(PHOTO)
    board.routes["/img/po/1546293948883.png"] = Route(crop, "image/jpeg")
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request))
    record_consent(jeanne, "monitoring", True, ip=None)
    browser_sign_in(page, live_server.url, jeanne)
    _open(page, live_server.url)
    page.set_input_files("#fp-files", str(PHOTO))
    expect(page.locator("#fp-send")).to_be_enabled(timeout=30_000)
    page.fill("#fp-label", "photo 3")
    page.click("#fp-send")
    expect(page.locator("#fp-done")).to_contain_text("Reçu")

    # Still no image bytes in any request: JSON hashes and features only.
    photo_bytes = PHOTO.read_bytes()
    for request in seen:
        body = request.post_data_buffer or b""
        assert b"\xff\xd8\xff" not in body and b"\x89PNG" not in body, request.url
        assert photo_bytes[1000:1100] not in body
        assert "multipart" not in (request.headers.get("content-type") or "")
    [registration] = [r for r in seen if r.method == "POST" and r.url.endswith(SUBMIT)]
    sent = json.loads(registration.post_data_buffer or b"")
    assert set(sent["features"]) == {"width", "height", "points", "descriptors"}
    assert len(registration.post_data_buffer or b"") < MAX_PHOTO_BODY_BYTES

    # Stored sealed, and what is stored is the server's own registration features.
    photo = ClientPhoto.objects.get(client=jeanne, label="photo 3")
    assert photo.sealed_features is not None and b"BGLF" not in bytes(photo.sealed_features)
    stored = unseal(bytes(photo.sealed_features), features_key())
    server = registration_features(decode(photo_bytes))
    share = test_sift_port.agreement(stored, server)
    assert len(stored) == len(server) and share >= test_sift_port.AGREEMENT, share

    # PDQ alone cannot find the crop: every registration hash is beyond the search radius.
    crop_hash, _, _ = hashes_of(decode(crop))
    nearest = min(crop_hash - PdqHash.from_hex(h) for h in photo.pdq_hashes)
    assert nearest > CANDIDATE_MAX_DISTANCE, nearest

    # The crawl finds it by the features her browser computed.
    run_cycle(list(configured_sources().values()))
    assert CrawlRun.objects.get().status == CrawlRun.Status.OK
    [hit] = hit_store.latest(client_id="jeanne-dupont")
    assert hit.match_kind == MatchKind.IMAGE and hit.photo_label == "photo 3"
    assert hit.image_url.endswith("/img/po/1546293948883.png")
    assert hit.photo_distance is None and "local features" in hit.photo_why, hit.photo_why


def _photo_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "photo",
        "label": "photo 1",
        "hashes": [h.hex() for h in registration_hashes(decode(PHOTO.read_bytes()))],
        "retro_hashes": [h.hex() for h in retro_query_hashes(decode(PHOTO.read_bytes()))],
        "quality": 100,
        "consent": True,
    }
    body.update(changes)
    return body


def _post(client: DjangoClient, body: Any, **extra: Any) -> Any:
    return client.post(SUBMIT, json.dumps(body), content_type="application/json", **extra)


def test_the_route_accepts_hashes_and_refuses_anything_else(signed_in, jeanne):
    client = signed_in
    photo = PHOTO.read_bytes()
    # A file part, or any body that is not JSON: refused.
    response = client.post(SUBMIT, {"label": "photo 1", "file": io.BytesIO(photo)})
    assert response.status_code == 415
    response = client.post(SUBMIT, photo, content_type="image/jpeg")
    assert response.status_code == 415
    # Over the size limit, even as JSON.
    response = _post(client, _photo_body(label="x" * 300_000))
    assert response.status_code == 413
    response = client.post(
        SUBMIT, b"{" + b" " * MAX_BODY_BYTES + b"}", content_type="application/json"
    )
    assert response.status_code == 413
    for bad in [
        _photo_body(hashes=["ABC"]),
        _photo_body(hashes=["g" * 64]),
        _photo_body(hashes=["0" * 64 + "\n"]),
        _photo_body(hashes=[]),
        _photo_body(hashes=["0" * 64] * 33),
        _photo_body(retro_hashes=["0" * 64] * 17),
        _photo_body(retro_hashes="0" * 64),
        _photo_body(quality=101),
        _photo_body(quality="100"),
        _photo_body(label=""),
        _photo_body(image="/9j/4AAQSkZJRg"),  # unknown field
        _photo_body(kind="document"),
        ["not", "an", "object"],
    ]:
        response = _post(client, bad)
        assert response.status_code == 400, (bad, response.content)
    assert not ClientPhoto.objects.exists()
    # Without consent to monitoring (never given): refused until she gives it.
    response = _post(client, _photo_body(consent=False))
    assert response.status_code == 409
    response = _post(client, _photo_body())
    assert response.status_code == 200 and response.json()["registered"] is True
    assert ClientPhoto.objects.get().pdq_hashes == _photo_body()["hashes"]
    assert AuditEvent.objects.filter(action="on_device_refused").count() >= 15
    # Signed out: nothing.
    client.cookies.clear()
    response = _post(client, _photo_body(label="photo 2"))
    assert response.status_code == 302
    assert ClientPhoto.objects.count() == 1


def _features_body() -> dict[str, Any]:
    """The features field as sift.js sends it, from the server's own registration features."""
    features = registration_features(decode(PHOTO.read_bytes()))
    return {
        "width": features.width,
        "height": features.height,
        "points": features.points.tolist(),
        "descriptors": base64.b64encode(features.descriptors.tobytes()).decode(),
    }


def test_the_route_seals_a_photos_features_as_staff_registration_does(signed_in, jeanne):
    sent = _features_body()
    response = _post(signed_in, _photo_body(features=sent))
    assert response.status_code == 200, response.content
    photo = ClientPhoto.objects.get(client=jeanne)
    assert photo.sealed_features is not None
    sealed = bytes(photo.sealed_features)
    # Sealed at rest: neither the record's magic nor a descriptor shows in the stored bytes.
    assert sealed.startswith(b"BGS1") and b"BGLF" not in sealed
    assert base64.b64decode(sent["descriptors"])[:64] not in sealed
    stored = unseal(sealed, features_key())
    assert stored == registration_features(decode(PHOTO.read_bytes()))
    assert AuditEvent.objects.filter(
        action="photo_registered_on_device", detail__contains="96 local features"
    ).exists()
    # Registered again without features (a page cached before this change): PDQ only.
    response = _post(signed_in, _photo_body())
    assert response.status_code == 200
    assert ClientPhoto.objects.get(client=jeanne).sealed_features is None


def _with(**changes: Any) -> dict[str, Any]:
    return _photo_body(features={**_features_body(), **changes})


def test_the_route_refuses_malformed_features_and_says_what_is_wrong(signed_in, jeanne):
    good = _features_body()
    n = len(good["points"])
    descriptors = base64.b64decode(good["descriptors"])
    zero = base64.b64encode(bytes(128 * n)).decode()
    one_descriptor = base64.b64encode(descriptors[:128]).decode()
    too_many = base64.b64encode(descriptors[:128] * 97).decode()
    picture = base64.b64encode(PHOTO.read_bytes()[: 128 * n]).decode()
    cases = [
        (_photo_body(features="0" * 64), "an object with exactly"),
        (_photo_body(features={k: v for k, v in good.items() if k != "width"}), "exactly"),
        (_with(image="/9j/4AAQ"), "exactly"),
        (_with(width=321), "width is the analysed image's, 1 to 320"),
        (_with(height=0), "height is the analysed image's"),
        (_with(width=True), "width"),
        (_with(width=320.0), "width"),
        (_with(points="1,2"), "at most 96"),
        (_with(points=[[1.0, 2.0]] * 97, descriptors=too_many), "at most 96"),
        (_with(points=[[1.0, 2.0, 3.0]] * n), "each point is [x, y]"),
        (_with(points=[["1", 2.0]] * n), "each point is [x, y]"),
        (_with(points=[[float("nan"), 2.0]] * n), "each point is [x, y]"),
        (_with(points=[[-1.0, 2.0]] * n), "outside the analysed image"),
        (_with(points=[[1.0, 999.0]] * n), "outside the analysed image"),
        (_with(descriptors=good["descriptors"][:-4] + "!!!!"), "base64"),
        (_with(descriptors=good["descriptors"][:100] + "\n" + good["descriptors"][100:]), "base64"),
        (_with(descriptors=12), "base64"),
        (_with(descriptors=one_descriptor), "descriptor bytes for 96 points, expected 128"),
        (_with(descriptors=zero), "not a SIFT descriptor"),
        # Raw bytes of a picture are not SIFT descriptors either.
        (_with(descriptors=picture), "not a SIFT descriptor"),
    ]
    for body, reason in cases:
        response = _post(signed_in, body)
        assert response.status_code == 400, (reason, response.content)
        assert reason in response.json()["error"], (reason, response.json())
    assert not ClientPhoto.objects.exists()
    assert AuditEvent.objects.filter(action="on_device_refused").count() == len(cases)


def test_the_route_takes_a_videos_hashes(signed_in, jeanne):
    rows = [[i * 0.25, "ab" * 32, 80] for i in range(40)]
    body = {
        "kind": "video", "label": "vidéo 1", "md5": "0" * 32, "duration_s": 10.0,
        "frames": rows, "variants": rows, "consent": True,
    }  # fmt: skip
    assert _post(signed_in, {**body, "md5": "xyz"}).status_code == 400
    assert _post(signed_in, {**body, "frames": [[99.0, "ab" * 32, 80]]}).status_code == 400
    assert _post(signed_in, {**body, "frames": []}).status_code == 400
    response = _post(signed_in, body)
    assert response.status_code == 200, response.content
    video = ClientVideo.objects.get(client=jeanne)
    assert video.md5 == "0" * 32 and len(video.frame_hashes) == 40 and video.duration_s == 10.0


def test_the_page_keeps_the_csp_and_allows_blob_media_only_there(signed_in):
    page = signed_in.get("/espace/empreintes/")
    assert page.status_code == 200
    csp = page["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
    assert "media-src 'self' blob:" in csp
    assert "blob:" not in signed_in.get("/espace/situation/")["Content-Security-Policy"]
    script = signed_in.get("/espace/empreintes/pdq.js")
    assert script.status_code == 200 and b"BodyguardPDQ" in script.content
    assert signed_in.get("/espace/empreintes/settings.py").status_code == 404


@pytest.mark.browser
@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_no_serious_or_critical_violation_on_the_page(
    browser: Browser, live_server, jeanne: Client, isolated: Path, size: str
):
    source = axe_source()
    context = new_context(browser, VIEWPORTS[size])
    page = context.new_page()
    found: dict[str, list] = {}

    def check(name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"axe-{size}-{name}.png"), full_page=True)
        violations = axe_violations(page, source)
        if violations:
            found[name] = violations

    try:
        browser_sign_in(page, live_server.url, jeanne)
        _open(page, live_server.url)
        check("fingerprints")
        page.set_input_files("#fp-files", str(PHOTO))
        expect(page.locator("#fp-send")).to_be_enabled(timeout=30_000)
        check("fingerprints-computed")
        page.click("#fp-send")
        expect(page.locator("#fp-error")).not_to_be_empty()
        check("fingerprints-error")
        page.fill("#fp-label", "photo 1")
        page.check("#fp-consent")
        page.click("#fp-send")
        expect(page.locator("#fp-done")).to_be_visible()
        check("fingerprints-sent")
    finally:
        context.close()
    assert not found, found


def test_her_photos_pieces_find_a_stickered_copy_crawled_before_she_registered_it(
    signed_in, jeanne, settings
):
    from hits.images import ImageStore
    from matching.images import retro_part_hashes
    from tests.hits.test_retro_parts import _crawled, _stickered

    images = ImageStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    try:
        images.ensure_index()
        images.add(
            [_crawled(_stickered(decode(PHOTO.read_bytes())), "https://forum.example/s.jpg")]
        )
    finally:
        images.close()
    parts = [h.hex() for h in retro_part_hashes(decode(PHOTO.read_bytes()))]

    without = _post(signed_in, _photo_body(label="sans morceaux"))
    assert without.status_code == 200 and without.json()["found"] == 0
    response = _post(signed_in, _photo_body(retro_parts=parts))

    assert response.status_code == 200 and response.json()["found"] == 1
    # Never stored: looked up once, as the other registration-time hashes.
    assert not [h for h in jeanne.photos.get(label="photo 1").pdq_hashes if h in parts]
    refused = _post(signed_in, _photo_body(label="trop", retro_parts=parts + ["0" * 64] * 9))
    assert refused.status_code == 400 and "retro_parts" in refused.json()["error"]
