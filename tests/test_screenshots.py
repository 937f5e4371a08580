"""Optional screenshots of hit pages: archived with the evidence, in the case pack, images off."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from warcio.archiveiterator import ArchiveIterator

from operations.scheduler import process_alerts
from takedowns.evidence import export_case, verify_evidence
from tests.crawlers.static_site import Route, serve_site
from tests.takedowns.workbench import IMAGE, PHPBB_PAGE, forum_site, seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def forum(isolated: Path, hit_store, settings, monkeypatch):
    # The screenshot runs Playwright's event loop in this thread for a moment.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.BODYGUARD_SCREENSHOTS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    site = forum_site()
    # The page also asks for things inside our network: none may be fetched.
    page = PHPBB_PAGE.replace(
        b"</head>",
        b'<link rel="stylesheet" href="http://169.254.169.254/latest/meta-data/x.css">'
        b'<link rel="stylesheet" href="http://10.20.30.40/style.css"></head>',
        1,
    ).replace(b"</body>", f'<img src="{IMAGE}"></body>'.encode(), 1)
    site.routes["/viewtopic.php"] = Route(page, "text/html; charset=utf-8")
    server = serve_site(site)
    seeded = seed(hit_store, f"http://127.0.0.1:{server.server_port}", isolated / "sources")
    # This source may reach our local forum and nothing else inside.
    source = isolated / "sources" / "myoos.yaml"
    source.write_text(
        source.read_text().replace(
            "allow_private_addresses: true",
            f"allow_private_addresses: ['127.0.0.1:{server.server_port}']",
        ),
        encoding="utf-8",
    )
    yield site, seeded
    server.shutdown()


def test_new_hits_get_a_screenshot_archived_as_evidence(forum, hit_store, settings):
    site, seeded = forum

    outcome = process_alerts()

    assert outcome.screenshots is not None and outcome.screenshots.taken == 2, outcome
    name_hit = hit_store.get(seeded.name_hit.hit_id)
    assert name_hit is not None and name_hit.screenshot_sha256
    evidence = Path(settings.BODYGUARD_EVIDENCE_DIR)
    with open(evidence / name_hit.screenshot_warc, "rb") as stream:
        records = [
            (r.rec_type, r.rec_headers.get_header("WARC-Record-ID"), r.content_stream().read())
            for r in ArchiveIterator(stream)
        ]
    [png] = [body for kind, rid, body in records if rid == name_hit.screenshot_record_id]
    assert hashlib.sha256(png).hexdigest() == name_hit.screenshot_sha256
    assert Image.open(io.BytesIO(png)).size[0] == 1280
    metadata = [json.loads(body) for kind, _, body in records if kind == "metadata"]
    refused = {u for m in metadata for u in m["refused_requests"]}
    assert "http://10.20.30.40/style.css" in refused
    assert "http://169.254.169.254/latest/meta-data/x.css" in refused
    # Images are never rendered into evidence: the page's image was not even requested.
    assert IMAGE not in site.requests
    assert verify_evidence().ok


def test_the_case_pack_carries_the_screenshots(forum, hit_store):
    _site, seeded = forum
    process_alerts()
    pack = zipfile.ZipFile(io.BytesIO(export_case(seeded.case.pk, who="alice")))
    manifest = json.loads(pack.read("manifest.json"))
    shots = [f for f in manifest["files"] if f["name"].startswith("captures/")]
    assert len(shots) == 1  # both hits are on the same page: one screenshot
    assert hashlib.sha256(pack.read(shots[0]["name"])).hexdigest() == shots[0]["sha256"]
    assert shots[0]["name"] in pack.read("rapport.html").decode()


def test_screenshots_are_off_unless_enabled(forum, hit_store, settings):
    settings.BODYGUARD_SCREENSHOTS = False
    _site, seeded = forum
    assert process_alerts().screenshots is None
    hit = hit_store.get(seeded.name_hit.hit_id)
    assert hit is not None and not hit.screenshot_sha256
