"""Optional screenshots of hit pages: archived with the evidence, in the case pack, images off."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from warcio.archiveiterator import ArchiveIterator

from crawlers.fetch import FetchPolicy
from crawlers.screenshots import Screenshot, ScreenshotFailed, take_screenshots
from operations.scheduler import process_alerts
from takedowns.evidence import export_case, verify_evidence
from tests.crawlers.dns_server import RebindingDns
from tests.crawlers.static_site import Route, StaticSite, serve_site
from tests.takedowns.workbench import IMAGE, PHPBB_PAGE, forum_site, seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def forum(isolated: Path, hit_store, settings, monkeypatch):
    # The screenshot runs Playwright's event loop in this thread for a moment.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.BODYGUARD_SCREENSHOTS = True
    # Names are asked of a local DNS server that knows none: Chromium's own background
    # requests (update checks, accounts) are refused without a query leaving this machine.
    dns = RebindingDns("nothing.test", ["127.0.0.1"])
    settings.BODYGUARD_DNS_SERVER = dns.address
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    site = forum_site()
    inside = StaticSite({"/style.css": Route(b"body{}", "text/css")})
    inside_server = serve_site(inside)
    port = inside.port = inside_server.server_port  # type: ignore[attr-defined]
    # The page also asks for things inside our network (loopback, not allowed to this
    # source): none may be fetched.
    page = PHPBB_PAGE.replace(
        b"</head>",
        f'<link rel="stylesheet" href="http://127.0.0.1:{port}/style.css">'
        f'<link rel="stylesheet" href="http://localhost:{port}/style.css"></head>'.encode(),
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
    yield site, seeded, inside
    server.shutdown()
    inside_server.shutdown()
    dns.close()


def test_new_hits_get_a_screenshot_archived_as_evidence(forum, hit_store, settings):
    site, seeded, inside = forum

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
    port = inside.port
    assert {f"http://127.0.0.1:{port}/style.css", f"http://localhost:{port}/style.css"} <= refused
    assert inside.requests == []
    # Images are never rendered into evidence: the page's image was not even requested.
    assert IMAGE not in site.requests
    assert verify_evidence().ok


def test_the_case_pack_carries_the_screenshots(forum, hit_store):
    _site, seeded, _inside = forum
    process_alerts()
    pack = zipfile.ZipFile(io.BytesIO(export_case(seeded.case.pk, who="alice")))
    manifest = json.loads(pack.read("manifest.json"))
    shots = [f for f in manifest["files"] if f["name"].startswith("captures/")]
    assert len(shots) == 1  # both hits are on the same page: one screenshot
    assert hashlib.sha256(pack.read(shots[0]["name"])).hexdigest() == shots[0]["sha256"]
    assert shots[0]["name"] in pack.read("rapport.html").decode()


def test_screenshots_are_off_unless_enabled(forum, hit_store, settings):
    settings.BODYGUARD_SCREENSHOTS = False
    _site, seeded, _inside = forum
    assert process_alerts().screenshots is None
    hit = hit_store.get(seeded.name_hit.hit_id)
    assert hit is not None and not hit.screenshot_sha256


@pytest.fixture
def forum_and_inside():
    """A forum the policy may reach, and an internal service on loopback it may not."""
    inside = StaticSite(
        {"/": Route(b"<h1>internal admin</h1>"), "/style.css": Route(b"body{}", "text/css")}
    )
    inside_server = serve_site(inside)
    forum = StaticSite()
    forum_server = serve_site(forum)
    netloc = f"127.0.0.1:{forum_server.server_port}"
    yield (
        forum,
        f"http://{netloc}",
        FetchPolicy(private_allowlist=(netloc,)),
        inside,
        (f"http://127.0.0.1:{inside_server.server_port}"),
    )
    forum_server.shutdown()
    inside_server.shutdown()


def _shoot(url, policy):
    [shot] = take_screenshots([(url, policy)], shutil.which("chromium") or "chromium")
    return shot


def test_a_page_that_redirects_inside_is_never_rendered(forum_and_inside):
    forum, base, policy, inside, internal = forum_and_inside
    forum.routes["/t"] = Route(b"", status=302, headers={"Location": f"{internal}/"})
    shot = _shoot(f"{base}/t", policy)
    assert isinstance(shot, ScreenshotFailed), shot
    assert inside.requests == []


def test_a_meta_refresh_inside_is_never_followed(forum_and_inside):
    forum, base, policy, inside, internal = forum_and_inside
    forum.routes["/t"] = Route(
        f'<meta http-equiv="refresh" content="0; url={internal}/"><p>moved</p>'.encode()
    )
    shot = _shoot(f"{base}/t", policy)
    assert inside.requests == []
    assert isinstance(shot, ScreenshotFailed), shot


def test_a_subresource_that_redirects_inside_is_never_fetched(forum_and_inside):
    forum, base, policy, inside, internal = forum_and_inside
    forum.routes["/t"] = Route(b'<link rel="stylesheet" href="/style.css"><p>Jeanne Dupont</p>')
    forum.routes["/style.css"] = Route(
        b"", status=302, headers={"Location": f"{internal}/style.css"}
    )
    shot = _shoot(f"{base}/t", policy)
    assert isinstance(shot, Screenshot), shot
    assert "/style.css" in forum.requests
    assert inside.requests == []
    assert f"{internal}/style.css" in shot.refused


def test_data_and_about_pages_are_refused(forum_and_inside):
    forum, base, policy, _inside, _internal = forum_and_inside
    forum.routes["/t"] = Route(
        b'<meta http-equiv="refresh" content="0; url=data:text/html,<h1>forged</h1>">'
    )
    shot = _shoot(f"{base}/t", policy)
    # Refused, or (Chromium blocks top-level data: navigations itself) the page as served.
    assert isinstance(shot, ScreenshotFailed) or shot.final_url == f"{base}/t", shot
    assert isinstance(_shoot("data:text/html,<h1>forged</h1>", policy), ScreenshotFailed)
    assert isinstance(_shoot("about:blank", policy), ScreenshotFailed)
