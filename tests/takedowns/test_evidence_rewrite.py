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


def test_a_pack_of_evidence_archived_before_redaction_carries_no_key(tmp_path: Path):
    """WARCs written before requests were redacted still hold the key: the copy in a case
    pack leaves it out, and keeps the records' ids."""
    import gzip
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from takedowns.evidence import _copy_records

    key = "sk-old-0123456789abcdef"
    url = f"http://api.test/customsearch/v1?key={key}&q=x"
    (tmp_path / "old.warc.gz").parent.mkdir(exist_ok=True)
    with open(tmp_path / "old.warc.gz", "wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        response = writer.create_warc_record(
            url, "response", payload=BytesIO(b"{}"),
            http_headers=StatusAndHeaders("200 OK", [("Content-Type", "application/json")],
                                          protocol="HTTP/1.1"),
        )  # fmt: skip
        rid = response.rec_headers.get_header("WARC-Record-ID")
        request = writer.create_warc_record(
            url, "request", payload=BytesIO(b""),
            http_headers=StatusAndHeaders(f"GET {url} HTTP/1.1", [("X-Subscription-Token", key)],
                                          is_http_request=True),
            warc_headers_dict={"WARC-Concurrent-To": rid},
        )  # fmt: skip
        writer.write_record(request)
        writer.write_record(response)

    copied = _copy_records({"old.warc.gz": {rid}}, tmp_path)

    assert key.encode() not in gzip.decompress(copied)
    with BytesIO(copied) as stream:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Record-ID"),
                    r.rec_headers.get_header("WARC-Concurrent-To")) for r in ArchiveIterator(stream)]  # fmt: skip
    assert ("response", rid, None) in records
    assert any(kind == "request" and to == rid for kind, _, to in records)
