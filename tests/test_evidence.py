"""Evidence that holds up: WARC capture at hit time, case export, integrity check."""

from __future__ import annotations

import hashlib
import html
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from warcio.archiveiterator import ArchiveIterator

from clients.services import import_client_file
from operations.scheduler import configured_sources, run_cycle
from takedowns.evidence import verify_evidence
from takedowns.models import Case, EvidenceAccess
from tests.conftest import write_source
from tests.test_end_to_end import CLIENTS, POST_440

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def captured(isolated: Path, discourse_site, hit_store, mailbox, settings):
    _site, base_url = discourse_site
    (isolated / "clients.yaml").write_text(CLIENTS, encoding="utf-8")
    import_client_file(isolated / "clients.yaml")
    write_source(isolated / "sources", "cf-forum", base_url)
    run_cycle(list(configured_sources().values()))
    [hit] = hit_store.latest()
    return hit, base_url, Path(settings.BODYGUARD_EVIDENCE_DIR)


def test_every_hit_points_to_the_page_as_it_was_served(captured):
    hit, base_url, evidence = captured
    assert hit.evidence_warc and hit.evidence_record_id and hit.captured_at is not None
    with open(evidence / hit.evidence_warc, "rb") as stream:
        records = {
            r.rec_headers.get_header("WARC-Record-ID"): (
                r.rec_type,
                r.rec_headers,
                r.http_headers,
                r.content_stream().read(),
            )
            for r in ArchiveIterator(stream)
        }
    rec_type, headers, http_headers, body = records[hit.evidence_record_id]
    assert rec_type == "response"
    assert headers.get_header("WARC-IP-Address") == "127.0.0.1"
    assert headers.get_header("WARC-Target-URI").startswith(f"{base_url}/t/2108")
    assert http_headers.get_statuscode() == "200"
    assert b"Allan Bloom" in body
    assert hashlib.sha256(body).hexdigest() == hit.evidence_sha256
    kinds = [r[0] for r in records.values()]
    assert {"warcinfo", "request", "response", "metadata"} <= set(kinds)
    metadata = next(
        json.loads(r[3])
        for r in records.values()
        if r[0] == "metadata" and r[1].get_header("WARC-Concurrent-To") == hit.evidence_record_id
    )
    assert metadata["server_ip"] == "127.0.0.1" and metadata["fetched_at_utc"].endswith("Z")
    info = next(r for r in records.values() if r[0] == "warcinfo")
    assert b"scrapy" in info[3] and b"proxy" in info[3] and b"clock" in info[3]


def test_the_case_exports_to_a_zip_whose_manifest_verifies(captured, tmp_path, settings):
    hit, base_url, _ = captured
    case = Case.objects.get()
    out = tmp_path / "case.zip"
    call_command("export_case", str(case.pk), "--output", str(out), "--who", "juriste@sos.example")

    archive = zipfile.ZipFile(out)
    manifest = json.loads(archive.read("manifest.json"))
    assert {f["name"] for f in manifest["files"]} == {
        f"case-{case.pk}.warc.gz",
        "rapport.html",
        "rapport.pdf",
    }
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["name"])).hexdigest() == entry["sha256"]
    # The pack holds the page exactly as it was captured at hit time, as the hit recorded it.
    packed = {
        r.rec_headers.get_header("WARC-Record-ID"): r.raw_stream.read()
        for r in ArchiveIterator(io.BytesIO(archive.read(f"case-{case.pk}.warc.gz")))
    }
    assert hashlib.sha256(packed[hit.evidence_record_id]).hexdigest() == hit.evidence_sha256
    # No secret of ours in it: not the Django key, not the staff's credentials.
    everything = b"".join(archive.read(n) for n in archive.namelist())
    assert settings.SECRET_KEY.encode() not in everything
    assert b"Api-Key" not in everything and b"Authorization" not in everything
    report = html.unescape(archive.read("rapport.html").decode("utf-8"))
    assert "prépare un constat ; il n'en est pas un" in report
    assert base_url + POST_440 in report
    assert "Allan Bloom" in report and "juriste@sos.example" in report  # match explanation, custody
    assert archive.read("rapport.pdf").startswith(b"%PDF")
    warc = list(ArchiveIterator(io.BytesIO(archive.read(f"case-{case.pk}.warc.gz"))))
    assert any(r.rec_headers.get_header("WARC-Record-ID") == hit.evidence_record_id for r in warc)
    assert list(EvidenceAccess.objects.values_list("who", "action")) == [
        ("juriste@sos.example", "export")
    ]


def test_the_case_page_has_an_export_button(captured, admin_client):
    case = Case.objects.get()
    page = admin_client.get(f"/admin/takedowns/case/{case.pk}/change/").content.decode()
    export = f"/admin/takedowns/case/{case.pk}/export/"
    assert f'formaction="{export}"' in page and 'formmethod="post"' in page
    assert admin_client.get(export).status_code == 405  # an export is an action: POST only
    response = admin_client.post(export)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(response.content)).read("manifest.json")


def test_one_altered_byte_and_a_missing_file_are_reported(captured):
    hit, _, evidence = captured
    assert verify_evidence().ok
    call_command("verify_evidence")
    path = evidence / hit.evidence_warc
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = verify_evidence()
    assert report.changed == [hit.evidence_warc] and report.missing == []
    with pytest.raises(CommandError, match="1 changed"):
        call_command("verify_evidence")
    path.unlink()
    assert verify_evidence().missing == [hit.evidence_warc]


def test_erasure_removes_the_clients_evidence_and_the_manifest_still_verifies(captured):
    from operations.privacy import erase_client

    hit, _, evidence = captured
    report = erase_client("allan-bloom")
    assert report.evidence_records_deleted == 3  # the request, the response and its metadata
    with open(evidence / hit.evidence_warc, "rb") as stream:
        left = [
            (r.rec_type, r.rec_headers.get_header("WARC-Target-URI"))
            for r in ArchiveIterator(stream)
        ]
    assert [kind for kind, _ in left] == ["warcinfo"]  # not even the page's address is left
    assert verify_evidence().ok


def test_retention_purges_a_dismissed_hit_with_its_evidence(captured, hit_store, settings):
    from operations.privacy import purge_dismissed_hits

    hit, _, evidence = captured
    hit_store._es.update(
        index=hit_store.index, id=hit.hit_id, refresh="wait_for",
        doc={"review_status": "dismissed", "last_seen": "2025-01-01T00:00:00.000Z"},
    )  # fmt: skip
    settings.BODYGUARD_RETENTION_DAYS = 90
    assert purge_dismissed_hits() == 1
    assert hit_store.get(hit.hit_id) is None
    with open(evidence / hit.evidence_warc, "rb") as stream:
        assert hit.evidence_record_id not in [
            r.rec_headers.get_header("WARC-Record-ID") for r in ArchiveIterator(stream)
        ]
    assert verify_evidence().ok


def test_the_chain_of_custody_lists_views_and_reveals_from_the_audit_log(captured, tmp_path):
    from takedowns.models import AuditEvent

    hit, _, _ = captured
    AuditEvent.objects.create(who="relectrice", action="view_hit", target=hit.hit_id)
    case = Case.objects.get()
    out = tmp_path / "case.zip"
    call_command(
        "export_case", str(case.pk), "--output", str(out), "--who", "avocat@cabinet.example"
    )
    report = html.unescape(zipfile.ZipFile(out).read("rapport.html").decode("utf-8"))
    custody = report.split("Chaîne de conservation", 1)[1]
    assert "relectrice : view_hit" in custody and "avocat@cabinet.example : export" in custody
