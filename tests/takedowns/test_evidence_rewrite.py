"""Erasure rewrites a WARC without a client's records: readers see the old file or the new one,
whole, never a file being written."""

from __future__ import annotations

from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from crawlers.evidence import Capture, EvidenceWriter
from takedowns.evidence import erase_records, verify_evidence


def _capture(url: str, body: bytes) -> Capture:
    return Capture(url, url, (), 200, (("Content-Type", "text/html"),), (), body, "127.0.0.1",
                   "2026-12-02T10:00:00Z")  # fmt: skip


def test_erasure_replaces_the_warc_whole_and_an_open_reader_keeps_the_old_one(tmp_path: Path):
    writer = EvidenceWriter(tmp_path, "crawl")
    kept = writer.write(_capture("http://forum.test/kept", b"<p>kept</p>" * 100))
    doomed = writer.write(_capture("http://forum.test/erased", b"<p>erased</p>" * 100))
    relative = writer.close()
    path = tmp_path / relative
    original = path.read_bytes()

    with open(path, "rb") as reader:  # an export reading while the erasure runs
        removed = erase_records({doomed.record_id}, set(), tmp_path)
        seen_by_reader = reader.read()

    assert removed == 3  # request, response, metadata
    assert seen_by_reader == original
    with open(path, "rb") as stream:
        ids = {r.rec_headers.get_header("WARC-Record-ID") for r in ArchiveIterator(stream)}
    assert kept.record_id in ids and doomed.record_id not in ids
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert verify_evidence(tmp_path).ok
