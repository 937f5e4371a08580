"""`make bench` (crawl workers): crawl and matching throughput with crawls as local
subprocesses, on one Scrapyd node and on two, over the same local forums in one run.

Four local phpBB forums (a real phpBB topic page, repeated), one page in five carrying a
distinct real photo; one client with a name and a registered photo. Each mode hands the four
crawls out at once, as the monitor does, and the wall time from the first schedule to the
last recorded CrawlRun is what the figures divide by. Every node is on this machine, so two
nodes share its cores: the figures give a node's throughput and the cost of going through
Scrapyd, and ADR 0023 projects a national service from them.

Needs PostgreSQL (crawl workers require it): `make bench` starts the local cluster.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCES = 4
PAGES = int(os.environ.get("BENCH_NODE_PAGES", "200"))  # per forum
IMAGE_EVERY = 5
SLOTS_PER_NODE = 2  # max_proc: this machine's cores


def _setup(tmp: Path) -> None:
    url = subprocess.run(
        [str(ROOT / "scripts" / "postgres.sh"), "url"], check=True, capture_output=True, text=True
    ).stdout.strip()
    database = url.rsplit("/", 1)[0] + "/bodyguard_bench_nodes"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database,
            "BODYGUARD_VAR_DIR": str(tmp),
            "BODYGUARD_INDEX_PREFIX": "bodyguard-bench-nodes",
            "BODYGUARD_SOURCES_DIR": str(tmp / "sources"),
            "BODYGUARD_JOURNAL_DIR": str(tmp / "journal"),
            "BODYGUARD_EVIDENCE_DIR": str(tmp / "evidence"),
            # Crawls share the cores with Elasticsearch here: no journaling for a slow bulk.
            "BODYGUARD_ES_TIMEOUT": "60",
        }
    )
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bodyguard_bench_nodes")
        conn.execute("CREATE DATABASE bodyguard_bench_nodes")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _drop_indexes()


def _drop_indexes() -> None:
    """The bench's own indexes, from an earlier run or this one."""
    from django.conf import settings

    from hits.connection import connect

    es = connect(settings.BODYGUARD_ELASTICSEARCH_URL, 60)
    try:
        names = list(es.indices.get(index="bodyguard-bench-nodes-*", ignore_unavailable=True))
        if names:
            es.indices.delete(index=",".join(names))
    finally:
        es.close()


def _photos() -> list[bytes]:
    from PIL import Image

    base = Image.open(ROOT / "tests" / "data" / "photos" / "opencv_fruits.jpg").convert("RGB")
    out = []
    for n in range(SOURCES * PAGES // IMAGE_EVERY + 1):
        # Distinct files (the crawl fingerprints each), all photo-sized.
        width = 420 + (n * 7) % 300
        image = base.resize((width, width * base.height // base.width))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=70 + n % 25)
        out.append(buffer.getvalue())
    return out


def _sites(photos: list[bytes]) -> list[Any]:
    from tests.crawlers.static_site import Route, StaticSite, serve_site

    page = (
        ROOT / "tests" / "data" / "forums" / "phpbb3_foren.myoos.de_viewtopic.html"
    ).read_bytes()
    anchor = b'<div class="content">Was ist Freie Software'
    assert anchor in page
    servers = []
    counter = 0
    for s in range(SOURCES):
        links = "".join(
            f'<a class="topictitle" href="/viewtopic.php?t={n}">t{n}</a>' for n in range(PAGES - 1)
        )
        site = StaticSite({"/index.php": Route(f"<html><body>{links}</body></html>".encode())})
        for n in range(PAGES - 1):
            body = page.replace(b"#p453", f"#p{s}-{n}".encode())
            if n % IMAGE_EVERY == 0:
                site.routes[f"/img/{n}.jpg"] = Route(photos[counter], "image/jpeg")
                counter += 1
                body = body.replace(
                    anchor, f'<div class="content"><img src="/img/{n}.jpg">'.encode() + anchor[21:]
                )
            site.routes[f"/viewtopic.php?t={n}"] = Route(body)
        servers.append(serve_site(site))
    return servers


def _write_sources(tmp: Path, servers: list[Any], mode: str) -> list[Any]:
    from operations.scheduler import configured_sources
    from tests.conftest import write_source

    folder = tmp / "sources"
    folder.mkdir(exist_ok=True)
    for path in folder.glob("*.yaml"):
        path.unlink()
    for i, server in enumerate(servers):
        write_source(
            folder,
            f"{mode}-{i}",
            f"http://127.0.0.1:{server.server_port}",
            kind="phpbb",
            options={"start_urls": ["/index.php"], "max_pages": 1},
        )
    return list(configured_sources().values())


EXTRA = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "0",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "LOG_LEVEL": "WARNING",
}


def _run(sources: list[Any]) -> tuple[float, int, int]:
    from django.db import connection

    from crawlers.runner import run_crawl

    def one(source: Any) -> Any:
        try:
            return run_crawl(source, time_limit_s=1800, extra_settings=EXTRA)
        finally:
            connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(len(sources)) as pool:
        outcomes = list(pool.map(one, sources))
    elapsed = time.perf_counter() - started
    bad = [o.message for o in outcomes if o.status != "ok"]
    if bad:
        raise SystemExit(f"bench crawl failed: {bad}")
    from crawlers.models import CrawlRun

    images = sum(
        CrawlRun.objects.filter(pk__in=[o.run_id for o in outcomes]).values_list(
            "images", flat=True
        )
    )
    return elapsed, sum(o.pages for o in outcomes), images


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bodyguard-bench-nodes-") as name:
        tmp = Path(name)
        _setup(tmp)
        from django.conf import settings

        from clients.models import Client
        from clients.photos import register_photo
        from crawlers.runner import crawl_environment
        from tests.crawlers.scrapyd_nodes import start_node

        client = Client.objects.create(reference="bench", display_name="B", email="b@example.org")
        client.terms.create(kind="name", value="Richard Stallman")
        register_photo(
            client, "bench", (ROOT / "tests" / "data" / "photos" / "opencv_baboon.jpg").read_bytes()
        )
        photos = _photos()
        servers = _sites(photos)
        settings.BODYGUARD_SCRAPYD_POLL_S = 0.5
        rows = []
        nodes: list[Any] = []
        try:
            for mode, count in (("local", 0), ("one-node", 1), ("two-nodes", 2)):
                sources = _write_sources(tmp, servers, mode)
                env = crawl_environment()
                while len(nodes) < count:
                    nodes.append(
                        start_node(tmp / f"node-{len(nodes)}", env, max_proc=SLOTS_PER_NODE)
                    )
                settings.BODYGUARD_SCRAPYD_URLS = [n.url for n in nodes[:count]]
                rows.append((mode, *_run(sources)))
        finally:
            for node in nodes:
                node.stop()
            for server in servers:
                server.shutdown()
            _drop_indexes()
        print(
            f"crawl workers: {SOURCES} local phpBB forums x {PAGES} pages (real page), one in "
            f"{IMAGE_EVERY} with a distinct real photo; {os.cpu_count()} cores on this machine"
        )
        base = rows[0][1]
        labels = {
            "local": "local subprocesses (4 at once)",
            "one-node": f"1 Scrapyd node ({SLOTS_PER_NODE} slots)",
            "two-nodes": f"2 Scrapyd nodes ({SLOTS_PER_NODE} slots each)",
        }
        for mode, elapsed, pages, images in rows:
            print(
                f"  {labels[mode]:<36} {pages / elapsed:7.1f} pages/s  {images / elapsed:6.1f} images/s"
                f"  ({elapsed:5.1f} s, {elapsed / base:.2f}x the local time)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
