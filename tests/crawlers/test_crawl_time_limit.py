"""A crawl stopped at its time limit still leaves its evidence whole: the WARC of the hits read
so far is closed and listed in the manifest before the process is killed."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawlers.models import CrawlRun
from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from takedowns.evidence import verify_evidence
from tests.conftest import DATA, write_source

pytestmark = [pytest.mark.django_db(transaction=True)]

PAGE = (DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html").read_bytes()


def _forum_with_a_page_that_never_ends() -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/viewtopic.php?t=slow"):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                for _ in range(120):  # a byte a second: never idle long enough to time out
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(1)
                return
            body = PAGE if self.path.startswith("/viewtopic.php") else b"not found"
            self.send_response(200 if body is PAGE else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_crawl_killed_at_its_time_limit_leaves_a_complete_listed_warc(
    isolated: Path, settings, hit_store
):
    from clients.models import Client

    client = Client.objects.create(reference="rms", display_name="R", email="r@example.org")
    client.terms.create(kind="name", value="Richard Stallman")
    server = _forum_with_a_page_that_never_ends()
    write_source(
        isolated / "sources",
        "slow",
        f"http://127.0.0.1:{server.server_port}",
        kind="phpbb",
        options={"start_urls": ["/viewtopic.php?t=1", "/viewtopic.php?t=slow"], "max_pages": 0},
    )
    try:
        # Long enough, on a busy machine, to start and read the first page; the other never ends.
        outcome = run_crawl(configured_sources()["slow"], time_limit_s=25)
    finally:
        server.shutdown()

    assert CrawlRun.objects.get(pk=outcome.run_id).status == CrawlRun.Status.TIMEOUT
    evidence = Path(settings.BODYGUARD_EVIDENCE_DIR)
    [warc] = list(evidence.rglob("*.warc.gz"))
    with open(warc, "rb") as stream:  # reads to the end: every record and the gzip trailer
        kinds = [r.rec_type for r in ArchiveIterator(stream)]
    assert kinds.count("response") == 1
    manifest = (evidence / "MANIFEST.jsonl").read_text()
    assert str(warc.relative_to(evidence)) in manifest
    report = verify_evidence(evidence)
    assert report.ok and report.checked == 1
