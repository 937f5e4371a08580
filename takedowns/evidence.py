"""Evidence packs for a lawyer, a commissaire de justice or a PHAROS report, and their integrity."""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.utils import translation
from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from alerts.services import hit_store
from clients.mandates import mandate_for_pack
from crawlers.evidence import Redactor
from hits.documents import Hit
from takedowns.models import AuditEvent, Case, EvidenceAccess, Recheck
from takedowns.pdf import new_pdf

DISCLAIMER = (
    "Ce dossier prépare un constat ; il n'en est pas un. Les captures ont été faites automatiquement "
    "par Bodyguard au moment de la détection. Seul un commissaire de justice peut dresser un constat "
    "ayant force probante (pratique inspirée de la norme AFNOR NF Z67-147)."
)


@dataclass
class IntegrityReport:
    checked: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.changed and not self.missing


def verify_evidence(directory: Path | None = None) -> IntegrityReport:
    """Recompute the SHA-256 of every WARC file listed in the manifest."""
    root = Path(directory or settings.BODYGUARD_EVIDENCE_DIR)
    report = IntegrityReport()
    manifest = root / "MANIFEST.jsonl"
    if not manifest.exists():
        return report
    latest: dict[str, dict[str, str]] = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            latest[entry["file"]] = entry  # a file rewritten for an erasure has a later entry
    for entry in latest.values():
        path = root / entry["file"]
        report.checked += 1
        if not path.exists():
            report.missing.append(entry["file"])
        elif hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            report.changed.append(entry["file"])
    return report


def _case_hits(case: Case) -> list[Hit]:
    store = hit_store()
    try:
        found = [store.get(h) for h in case.hits.values_list("hit_id", flat=True)]
    finally:
        store.close()
    return [h for h in found if h is not None]


def _wanted_records(case: Case, hits: list[Hit]) -> dict[str, set[str]]:
    """WARC file -> record ids: the captures at hit time and every re-check since."""
    wanted: dict[str, set[str]] = {}
    for hit in hits:
        if hit.evidence_warc:
            wanted.setdefault(hit.evidence_warc, set()).add(hit.evidence_record_id)
    for hit in hits:
        if hit.screenshot_warc:
            wanted.setdefault(hit.screenshot_warc, set()).add(hit.screenshot_record_id)
    for recheck in Recheck.objects.filter(case_hit__case=case).exclude(evidence_warc=""):
        wanted.setdefault(recheck.evidence_warc, set()).add(recheck.evidence_record_id)
    return wanted


def _copy_records(wanted: dict[str, set[str]], root: Path) -> bytes:
    """The listed WARC records (request, response, metadata), in one new WARC."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    for relative, record_ids in sorted(wanted.items()):
        path = root / relative
        if not path.exists():
            continue
        targets = set()
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_headers.get_header("WARC-Record-ID") in record_ids:
                    targets.add(record.rec_headers.get_header("WARC-Target-URI"))
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                headers = record.rec_headers
                keep = (
                    record.rec_type == "warcinfo"
                    or headers.get_header("WARC-Record-ID") in record_ids
                    or headers.get_header("WARC-Concurrent-To") in record_ids
                    or (
                        record.rec_type == "request"
                        and headers.get_header("WARC-Target-URI") in targets
                    )
                )
                if keep:
                    writer.write_record(_scrubbed(record, writer))
    return out.getvalue()


def _scrubbed(record: ArcWarcRecord, writer: WARCWriter) -> ArcWarcRecord:
    """The record without our credentials, for files archived before requests were redacted
    at capture time: URIs cleaned in the WARC headers (not covered by the block digest), and a
    request record with a key in its headers rebuilt without it (same record id)."""
    redactor = Redactor()
    notes: set[str] = set()
    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
    clean_uri = redactor.url(uri, notes) if uri else uri
    if clean_uri != uri:
        record.rec_headers.replace_header("WARC-Target-URI", clean_uri)
    if record.rec_type != "request" or record.http_headers is None:
        return record
    headers = tuple(record.http_headers.headers)
    clean_headers = redactor.headers(headers, notes)
    statusline = redactor.text(record.http_headers.statusline)
    if clean_headers == headers and statusline == record.http_headers.statusline:
        return record
    kept = ("WARC-Record-ID", "WARC-Date", "WARC-Concurrent-To")
    return writer.create_warc_record(
        clean_uri,
        "request",
        payload=io.BytesIO(record.content_stream().read()),
        http_headers=StatusAndHeaders(statusline, list(clean_headers), is_http_request=True),
        warc_headers_dict={
            k: v for k in kept if (v := record.rec_headers.get_header(k)) is not None
        },
    )


def _timeline(case: Case) -> list[str]:
    """What happened to the case, in order: state changes, notices sent, re-checks."""
    events: list[tuple[datetime, str]] = [
        (case.opened_at, f"ouverture du dossier (site {case.host})")
    ]
    for t in case.transitions.all():
        events.append(
            (
                t.at,
                f"{t.get_from_state_display()} → {t.get_to_state_display()} par {t.who} : {t.reason}",
            )
        )
    for n in case.notices.filter(sent_at__isnull=False):
        assert n.sent_at is not None
        events.append(
            (
                n.sent_at,
                f"notification {n.get_route_display()} n° {n.pk} envoyée par {n.sent_by} "
                f"({n.get_sent_channel_display()} : {n.sent_detail})",
            )
        )
    for r in Recheck.objects.filter(case_hit__case=case).order_by("checked_at"):
        status = f"HTTP {r.http_status}" if r.http_status else "pas de réponse"
        sha = f", SHA-256 {r.body_sha256}" if r.body_sha256 else ""
        events.append(
            (
                r.checked_at,
                f"re-vérification de {r.url} : {r.get_verdict_display()} ({status}, {r.detail}{sha})",
            )
        )
    return [
        f"{at:%d/%m/%Y %H:%M:%S} UTC — {what}" for at, what in sorted(events, key=lambda e: e[0])
    ]


def screenshot_name(hit: Hit) -> str:
    return f"captures/{hit.screenshot_sha256[:16]}.png"


def _screenshots(hits: list[Hit], root: Path) -> dict[str, bytes]:
    """The PNG of every screenshot of the case's pages, read back from the evidence store."""
    wanted = {(h.screenshot_warc, h.screenshot_record_id): h for h in hits if h.screenshot_warc}
    found: dict[str, bytes] = {}
    for relative in sorted({warc for warc, _ in wanted}):
        path = root / relative
        if not path.exists():
            continue
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                key = (relative, record.rec_headers.get_header("WARC-Record-ID"))
                if record.rec_type == "resource" and key in wanted:
                    found[screenshot_name(wanted[key])] = record.content_stream().read()
    return found


def _report_html(case: Case, hits: list[Hit], accesses: list[CustodyEntry]) -> str:
    e = html.escape
    timeline = "".join(f"<li>{e(line)}</li>" for line in _timeline(case))
    rows = []
    for hit in sorted(hits, key=lambda h: h.first_seen):
        if hit.photo_label:
            why = f"photo enregistrée « {e(hit.photo_label)} », distance {hit.photo_distance}, niveau {e(hit.photo_tier)}"
        elif hit.video_label:
            how = (
                "fichier identique (MD5)"
                if hit.video_method == "md5"
                else f"{hit.video_frames_matched} images fixes sur {hit.video_frames_compared} "
                "concordent par points caractéristiques (copie recadrée)"
                if hit.video_method == "features"
                else f"{hit.video_frames_matched} images échantillonnées sur "
                f"{hit.video_frames_compared} concordent"
            )
            spans = ", ".join(f"{a:.0f}-{b:.0f} s" for a, b in hit.video_ranges)
            why = (
                f"vidéo enregistrée « {e(hit.video_label)} », {how}, niveau {e(hit.video_tier)}"
                + (f", passages {spans}" if spans else "")
                + f"<br>vidéo : {e(hit.video_url)}"
            )
        else:
            why = ", ".join(
                f"« {e(t.text)} » ({e(t.rule)}, terme surveillé « {e(t.term)} »)"
                for t in hit.matched_terms
            )
        captured = f"{hit.captured_at:%d/%m/%Y %H:%M:%S} UTC" if hit.captured_at else "—"
        shot = (
            f"{screenshot_name(hit)}<br><code>{e(hit.screenshot_sha256)}</code>"
            if hit.screenshot_sha256
            else "—"
        )
        rows.append(
            f"<tr><td>{e(hit.url)}</td><td>{hit.first_seen:%d/%m/%Y %H:%M} UTC</td><td>{captured}</td>"
            f"<td>{why}</td><td><code>{e(hit.evidence_sha256)}</code></td><td>{shot}</td></tr>"
        )
    custody = "".join(
        f"<li>{a.at:%d/%m/%Y %H:%M} UTC — {e(a.who)} : {e(a.action)} {e(a.detail)}</li>"
        for a in accesses
    )
    return f"""<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Dossier {case.pk}</title></head><body>
<h1>Dossier de preuves n° {case.pk}</h1>
<p><strong>{e(DISCLAIMER)}</strong></p>
<h2>Chronologie</h2>
<p>État actuel : {e(case.get_state_display())} — site : {e(case.host)}</p>
<ul>{timeline}</ul>
<h2>Publications</h2>
<table border="1"><tr><th>Adresse</th><th>Première détection</th><th>Capture</th><th>Motif de la détection</th><th>SHA-256 du contenu capturé</th><th>Capture d'écran (images non chargées)</th></tr>
{"".join(rows)}</table>
<h2>Chaîne de conservation</h2><ul>{custody}</ul>
</body></html>"""


def _report_pdf(case: Case, hits: list[Hit], accesses: list[CustodyEntry]) -> bytes:
    pdf, text = new_pdf()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.multi_cell(width, 7, text(f"Dossier de preuves n° {case.pk} — {case.host}"))
    pdf.multi_cell(width, 5, text(DISCLAIMER))
    pdf.ln(3)
    pdf.multi_cell(
        width,
        5,
        text(
            f"Ouverture : {case.opened_at:%d/%m/%Y %H:%M} UTC — état : {case.get_state_display()}"
        ),
    )
    pdf.ln(2)
    pdf.multi_cell(width, 5, text("Chronologie :"))
    for line in _timeline(case):
        pdf.multi_cell(width, 5, text(line))
    for hit in sorted(hits, key=lambda h: h.first_seen):
        captured = f"{hit.captured_at:%d/%m/%Y %H:%M:%S} UTC" if hit.captured_at else "—"
        pdf.ln(2)
        pdf.multi_cell(
            width,
            5,
            text(
                f"{hit.url}\nDétection : {hit.first_seen:%d/%m/%Y %H:%M} UTC — capture : {captured}\nSHA-256 : {hit.evidence_sha256 or '—'}"
            ),
        )
    pdf.ln(3)
    pdf.multi_cell(width, 5, text("Chaîne de conservation :"))
    for access in accesses:
        pdf.multi_cell(
            width,
            5,
            text(
                f"{access.at:%d/%m/%Y %H:%M} UTC — {access.who} : {access.action} {access.detail}"
            ),
        )
    return bytes(pdf.output())


@dataclass(frozen=True)
class CustodyEntry:
    at: datetime
    who: str
    action: str
    detail: str


def _custody(case: Case, hit_ids: list[str]) -> list[CustodyEntry]:
    """Every recorded access to the case's evidence: exports, and from the audit log every
    view, reveal and decision on its hits."""
    entries = [CustodyEntry(a.at, a.who, a.action, a.detail) for a in case.evidence_accesses.all()]
    entries += [
        CustodyEntry(e.at, e.who, e.action, e.target)
        for e in AuditEvent.objects.filter(target__in=[*hit_ids, f"case:{case.pk}"])
    ]
    return sorted(entries, key=lambda e: e.at)


def export_case(case_id: int, who: str) -> bytes:
    """The case's evidence pack as ZIP bytes (in French); the export itself is recorded first."""
    with translation.override("fr"):
        return _export_case(case_id, who)


def _export_case(case_id: int, who: str) -> bytes:
    case = Case.objects.get(pk=case_id)
    EvidenceAccess.objects.create(
        case=case, who=who, action="export", detail=f"ZIP du dossier {case.pk}"
    )
    hits = _case_hits(case)
    accesses = _custody(case, list(case.hits.values_list("hit_id", flat=True)))
    root = Path(settings.BODYGUARD_EVIDENCE_DIR)
    files = {
        f"case-{case.pk}.warc.gz": _copy_records(_wanted_records(case, hits), root),
        "rapport.html": _report_html(case, hits, accesses).encode("utf-8"),
        "rapport.pdf": _report_pdf(case, hits, accesses),
    }
    files.update(_screenshots(hits, root))
    # Her mandate in force, as she signed it: what every notice in her name rests on.
    if (mandate := mandate_for_pack(case.client)) is not None:
        files[mandate[0]] = mandate[1]
    for notice in case.notices.filter(sent_at__isnull=False):
        files[f"notifications/notification-{notice.pk}.txt"] = (
            f"{notice.subject}\n\n{notice.body}".encode()
        )
    manifest = {
        "case": case.pk,
        "created_at": datetime.now(UTC).isoformat(),
        "created_by": who,
        "note": DISCLAIMER,
        "files": [
            {"name": n, "sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}
            for n, b in files.items()
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return out.getvalue()


def _readable_records(path: Path) -> tuple[list[ArcWarcRecord], bool]:
    """The records of a WARC file that can be read, and whether it ends torn (a crawl killed
    while it wrote: its file is complete up to the last record written)."""
    records = []
    with open(path, "rb") as stream:
        try:
            for record in ArchiveIterator(stream):
                records.append(_buffered(record))
        except Exception:  # warcio raises plain exceptions on a truncated gzip member
            return records, True
    return records, False


def _buffered(record: ArcWarcRecord) -> ArcWarcRecord:
    # The bytes as stored (not decoded): the rewritten record must stay byte-identical.
    payload = record.raw_stream.read()
    record.payload_length = len(payload)
    record.raw_stream = io.BytesIO(payload)
    return record


def evidence_files(root: Path) -> list[str]:
    """Every WARC file under the evidence store, listed in the manifest or not (a crawl killed
    before closing its file never listed it)."""
    found = {str(p.relative_to(root)) for p in root.rglob("*.warc.gz")}
    found |= {str(p.relative_to(root)) for p in root.rglob("*.warc")}
    return sorted(found)


def replace_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that every reader sees the old file or the new one,
    whole, even if we die halfway: a temporary file in the same directory, flushed to disk,
    renamed over the old one, and the directory entry flushed too."""
    # One temporary name per file: a crash leaves at most one stale copy, removed here.
    temporary = str(path.with_name(f".{path.name}.erasing"))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def erase_records(record_ids: set[str], keep: set[str], directory: Path | None = None) -> int:
    """Rewrite evidence files without the given records (right to erasure); records still
    needed by someone else's hit or a held case (``keep``) stay. Returns records removed.
    Every WARC file under the store is read, not only those in the manifest; each rewrite goes
    to a temporary file renamed over the old one, so an interrupted erasure can be run again."""
    root = Path(directory or settings.BODYGUARD_EVIDENCE_DIR)
    manifest = root / "MANIFEST.jsonl"
    if not root.is_dir():
        return 0
    doomed = record_ids - keep
    removed = 0
    for relative in evidence_files(root):
        path = root / relative
        records, torn = _readable_records(path)
        # Requests written before they were tied to their response (no WARC-Concurrent-To)
        # go with the response for the same URL, unless a kept response shares that URL.
        doomed_uris: set[str] = set()
        kept_uris: set[str] = set()
        for record in records:
            if record.rec_type == "response":
                uri = record.rec_headers.get_header("WARC-Target-URI")
                rid = record.rec_headers.get_header("WARC-Record-ID")
                (doomed_uris if rid in doomed else kept_uris).add(uri)
        orphaned = doomed_uris - kept_uris
        out = io.BytesIO()
        writer = WARCWriter(out, gzip=True)
        dropped = 0
        for record in records:
            headers = record.rec_headers
            rid = headers.get_header("WARC-Record-ID")
            concurrent = headers.get_header("WARC-Concurrent-To")
            untied_request = (
                record.rec_type == "request"
                and not concurrent
                and headers.get_header("WARC-Target-URI") in orphaned
            )
            if rid in doomed or concurrent in doomed or untied_request:
                dropped += 1
                continue
            writer.write_record(record)
        # A torn tail cannot be read, so nobody can tell whose it is: it goes too.
        if not dropped and not (torn and doomed):
            continue
        replace_atomically(path, out.getvalue())
        removed += dropped
        with open(manifest, "a", encoding="utf-8") as m:
            m.write(json.dumps({"file": relative, "sha256": hashlib.sha256(out.getvalue()).hexdigest(),
                                "rewritten_at": datetime.now(UTC).isoformat(), "reason": "erasure request"}) + "\n")  # fmt: skip
    return removed
