"""`make bench` (crawl): pages per second and peak memory crawling a local forum of 2,000
pages, against a bare crawl of the same site (no matching, no images, no indexing) in the same
run; then retro-match time for one photo against 1,000,000 image fingerprints in Elasticsearch,
against a brute-force scan of the same index."""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGES = int(os.environ.get("BENCH_PAGES", "2000"))
IMAGES = int(os.environ.get("BENCH_IMAGES", "1000000"))


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


def retro_figures() -> None:
    import numpy as np
    from django.conf import settings

    from hits.images import ImageStore
    from matching.images import decode, registration_hashes

    store = ImageStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, "bodyguard-bench", timeout_s=120
    )
    store.delete_index()
    store.ensure_index()
    es = store._es
    es.indices.put_settings(index=store.index, settings={"refresh_interval": "-1"})
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    from elasticsearch import helpers

    def actions() -> Iterator[dict[str, Any]]:
        for start in range(0, IMAGES, 10000):
            block = rng.integers(
                0,
                np.iinfo(np.uint64).max,
                size=(min(10000, IMAGES - start), 4),
                dtype=np.uint64,
                endpoint=True,
            )
            for i, words in enumerate(block):
                w = [int(x) for x in words]
                doc: dict[str, Any] = {
                    f"w{k}": (v - (1 << 64) if v >= 1 << 63 else v) for k, v in enumerate(w)
                }
                doc |= {
                    f"c{k}": f"{(w[k // 4] >> (48 - 16 * (k % 4))) & 0xFFFF:04x}" for k in range(16)
                }
                doc |= {"image_url": f"https://img.example/{start + i}.jpg", "page_url": "https://forum.example/t/1",
                        "source_id": "bench", "pdq": "".join(f"{v:016x}" for v in w), "quality": 100}  # fmt: skip
                yield {"_index": store.index, "_id": str(start + i), "_source": doc}

    for _ok, _ in helpers.parallel_bulk(
        es, actions(), thread_count=2, chunk_size=5000, queue_size=4
    ):
        pass
    photo = (ROOT / "tests" / "data" / "photos" / "opencv_baboon.jpg").read_bytes()
    from datetime import UTC, datetime

    from hits.images import CrawledImage
    from matching.images import fingerprint

    fp = fingerprint(photo)
    store.add(
        [
            CrawledImage(
                "https://img.example/baboon.jpg",
                "https://forum.example/t/2",
                "bench",
                fp.pdq,
                fp.quality,
                datetime.now(UTC),
            )
        ],
        refresh=False,
    )
    es.indices.put_settings(index=store.index, settings={"refresh_interval": "1s"})
    es.indices.refresh(index=store.index)
    es.indices.forcemerge(index=store.index, max_num_segments=1)
    indexed = time.perf_counter() - started
    count = es.count(index=store.index)["count"]
    variants = registration_hashes(decode(photo))
    store.similar(variants)  # warm caches
    timings = []
    for _ in range(10):
        t = time.perf_counter()
        found = store.similar(variants)
        timings.append(time.perf_counter() - t)
    ours = statistics.median(timings) * 1000
    assert any(f.image_url.endswith("baboon.jpg") for f in found)
    words = fp.pdq.words()
    script = {
        "source": "int d=0; d+=Long.bitCount(doc['w0'].value ^ params.a); d+=Long.bitCount(doc['w1'].value ^ params.b);"
        " d+=Long.bitCount(doc['w2'].value ^ params.c); d+=Long.bitCount(doc['w3'].value ^ params.d); return 256-d;",
        "params": dict(
            zip("abcd", [(w - (1 << 64) if w >= 1 << 63 else w) for w in words], strict=True)
        ),
    }
    t = time.perf_counter()
    es.search(
        index=store.index,
        query={"script_score": {"query": {"match_all": {}}, "script": script, "min_score": 225}},
        size=10,
    )
    brute_one = (time.perf_counter() - t) * 1000
    print(
        f"retro-match: {count:,} image fingerprints in Elasticsearch (indexed in {indexed:.0f} s)"
    )
    print(
        f"  one photo ({len(variants)} registration variants), multi-index hashing: {ours:.1f} ms median (target < 100 ms)"
    )
    print(f"  brute-force script scan of the index, ONE variant: {brute_one:.0f} ms -> x{len(variants)} variants = "
          f"{brute_one * len(variants):.0f} ms, {brute_one * len(variants) / ours:.0f}x slower")  # fmt: skip
    store.delete_index()
    store.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bodyguard-bench-") as tmp:
        _setup(Path(tmp))
        crawl_figures(Path(tmp))
        retro_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
