"""`make bench` (crawl): pages per second and peak memory crawling a local forum of 2,000
pages, against a bare crawl of the same site (no matching, no images, no indexing) in the same
run. (Retro-match's figures are bench/bench_retro.py's.)"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGES = int(os.environ.get("BENCH_PAGES", "2000"))


def _setup(tmp: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "BODYGUARD_VAR_DIR": str(tmp),
            "BODYGUARD_INDEX_PREFIX": "bodyguard-bench",
            "BODYGUARD_SOURCES_DIR": str(tmp / "sources"),
            "BODYGUARD_JOURNAL_DIR": str(tmp / "journal"),
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _site(tmp: Path) -> Any:
    from tests.crawlers.static_site import Route, StaticSite, serve_site

    page = (
        ROOT / "tests" / "data" / "forums" / "phpbb3_foren.myoos.de_viewtopic.html"
    ).read_bytes()
    links = "".join(
        f'<a class="topictitle" href="/viewtopic.php?t={n}">t{n}</a>' for n in range(PAGES - 1)
    )
    site = StaticSite({"/index.php": Route(f"<html><body>{links}</body></html>".encode())})
    for n in range(PAGES - 1):
        site.routes[f"/viewtopic.php?t={n}"] = Route(page.replace(b"#p453", f"#p{n}".encode()))
    return site, serve_site(site)


def _crawl(site_url: str, tmp: Path, bare: bool) -> tuple[float, int, int]:
    from crawlers.runner import run_crawl
    from operations.scheduler import configured_sources
    from tests.conftest import write_source

    (tmp / "sources").mkdir(exist_ok=True)
    source_id = "bare" if bare else "full"
    write_source(
        tmp / "sources",
        source_id,
        site_url,
        kind="phpbb",
        options={"start_urls": ["/index.php"], "max_pages": 1},
    )
    extra = {
        "DOWNLOAD_DELAY": "0",
        "AUTOTHROTTLE_ENABLED": "0",
        "CONCURRENT_REQUESTS": "16",
        "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
        "LOG_LEVEL": "WARNING",
    }
    if bare:
        extra |= {
            "BODYGUARD_MATCH_NAMES": "0",
            "BODYGUARD_INDEX_HITS": "0",
            "BODYGUARD_FETCH_IMAGES": "0",
        }
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    outcome = run_crawl(configured_sources()[source_id], time_limit_s=900, extra_settings=extra)
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if outcome.status != "ok":
        raise SystemExit(f"bench crawl failed: {outcome.message}")
    return elapsed, outcome.pages, max(peak_kb, before)


def crawl_figures(tmp: Path) -> None:
    from clients.models import Client

    client = Client.objects.create(reference="bench", display_name="B", email="b@example.org")
    client.terms.create(kind="name", value="Richard Stallman")
    _, server = _site(tmp)
    url = f"http://127.0.0.1:{server.server_port}"
    # robots.txt: 404 here, so nothing is refused; the AddressGuard allows 127.0.0.1 by source.
    bare_s, bare_pages, _ = _crawl(url, tmp, bare=True)
    full_s, full_pages, peak_kb = _crawl(url, tmp, bare=False)
    server.shutdown()
    print(f"crawl: {PAGES} local forum pages (real phpBB page), 16 requests in flight")
    print(
        f"  bare Scrapy (no matching, images or indexing): {bare_pages / bare_s:7.1f} pages/s ({bare_s:.1f} s)"
    )
    print(f"  Bodyguard (names matched, hits indexed):       {full_pages / full_s:7.1f} pages/s ({full_s:.1f} s), "
          f"{full_s / bare_s:.2f}x the bare time")  # fmt: skip
    print(f"  peak memory of a crawl process: {peak_kb / 1024:.0f} MB")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bodyguard-bench-") as tmp:
        _setup(Path(tmp))
        crawl_figures(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
