"""The web as it is: huge pages, broken encodings, redirect loops, walls and rate limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.services import import_client_file
from crawlers.models import CrawlRun
from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from tests.conftest import DATA, write_source
from tests.crawlers.static_site import Route, StaticSite, serve_site

pytestmark = [pytest.mark.django_db(transaction=True)]

PAGE = (DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html").read_bytes()
CLIENT = """
clients:
  - id: rms
    display_name: R
    email: r@example.org
    names: ["Richard Stallman"]
"""
# A Cloudflare-style challenge, as served with HTTP 403 instead of the page.
CHALLENGE = b"""<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>
<div id="cf-browser-verification">Checking your browser before accessing the site.</div></body></html>"""


def _crawl(isolated: Path, site: StaticSite, starts: list[str]) -> CrawlRun:
    (isolated / "clients.yaml").write_text(CLIENT, encoding="utf-8")
    import_client_file(isolated / "clients.yaml")
    server = serve_site(site)
    site.port = server.server_port  # type: ignore[attr-defined]
    write_source(
        isolated / "sources",
        "hostile",
        f"http://127.0.0.1:{server.server_port}",
        kind="phpbb",
        options={"start_urls": starts, "max_pages": 0},
    )
    try:
        outcome = run_crawl(configured_sources()["hostile"])
    finally:
        server.shutdown()
    return CrawlRun.objects.get(pk=outcome.run_id)


def test_hostile_pages_are_recorded_and_the_crawl_goes_on(isolated, settings, hit_store):
    settings.BODYGUARD_CRAWL_SETTINGS = settings.BODYGUARD_CRAWL_SETTINGS | {
        "BODYGUARD_RETRY_BACKOFF_BASE": "0.05"
    }
    broken = PAGE.replace(b"Richard Stallman", b"Richard Stallman \xff\xfe\xc3(")
    site = StaticSite(
        {
            "/viewtopic.php?t=big": Route(PAGE + b"<!--" + b"x" * (50 * 1024 * 1024) + b"-->"),
            "/viewtopic.php?t=broken": Route(broken, "text/html; charset=utf-8"),
            "/viewtopic.php?t=loop": Route(
                b"", status=302, headers={"Location": "/viewtopic.php?t=loop"}
            ),
            "/viewtopic.php?t=wall": Route(CHALLENGE, status=403),
        }
    )

    run = _crawl(
        isolated,
        site,
        [
            "/viewtopic.php?t=big",
            "/viewtopic.php?t=broken",
            "/viewtopic.php?t=loop",
            "/viewtopic.php?t=wall",
        ],
    )

    base = f"http://127.0.0.1:{site.port}"  # type: ignore[attr-defined]
    assert run.status == CrawlRun.Status.OK
    # Each hostile page is in the run's record, with why it was not read.
    assert run.errors == 1  # the oversized page, refused past DOWNLOAD_MAXSIZE
    assert f"{base}/viewtopic.php?t=big: DownloadCancelledError" in run.message
    assert "larger than download max size" in run.message
    assert (
        f"{base}/viewtopic.php?t=loop: redirect loop back to {base}/viewtopic.php?t=loop"
        in run.message
    )
    assert "2 page(s) not read" in run.message
    assert run.blocked == 1
    # The page with broken bytes is still read, and the client still found in it.
    assert run.hits == 1
    assert [h.author for h in hit_store.latest()] == ["r23"]


def test_a_source_behind_a_wall_is_blocked_never_clean(isolated, hit_store):
    site = StaticSite({"/viewtopic.php": Route(CHALLENGE, status=403)})
    run = _crawl(isolated, site, ["/viewtopic.php?t=1"])
    assert run.status == CrawlRun.Status.BLOCKED
    assert "Cloudflare challenge" in run.message


def test_429_waits_for_retry_after_then_reads_the_page(isolated, hit_store):
    site = StaticSite(
        {
            "/viewtopic.php": [
                Route(b"slow down", "text/plain", 429, {"Retry-After": "1"}),
                Route(PAGE),
            ]
        }
    )
    run = _crawl(isolated, site, ["/viewtopic.php?t=1"])
    assert run.status == CrawlRun.Status.OK
    assert site.requests.count("/viewtopic.php?t=1") == 2
    assert run.hits == 1
