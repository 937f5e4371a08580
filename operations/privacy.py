"""What we hold about a client: exported on request, erased on request (GDPR art. 15 and 17)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q

from alerts.models import Alert
from alerts.services import hit_store
from clients.models import Client, ClientPhoto, ClientVideo, WatchTerm
from hits.documents import Hit, HitDocument
from hits.journal import DeadLetters, journals_in
from hits.store import HitStore
from hits.tombstones import ErasedClients
from operations.backscan import erase_client_corpus
from takedowns.evidence import erase_records
from takedowns.models import AuditEvent, Case, CaseHit, Recheck


class UnknownClient(LookupError):
    pass


@dataclass
class ErasureReport:
    client: str
    hits_deleted: int = 0
    journal_entries_deleted: int = 0
    dead_letters_deleted: int = 0
    log_files_scrubbed: int = 0
    evidence_records_deleted: int = 0
    alerts_deleted: int = 0
    cases_deleted: int = 0
    photos_deleted: int = 0
    videos_deleted: int = 0
    terms_deleted: int = 0
    cases_kept_under_legal_hold: list[int] = field(default_factory=list)
    audit_entries_redacted: int = 0
    admin_log_entries_deleted: int = 0
    corpus_posts_deleted: int = 0


def _client(reference: str) -> Client:
    client = Client.objects.filter(reference=reference).first()
    if client is None:
        raise UnknownClient(f"no client {reference!r}")
    return client


def export_client(reference: str) -> dict[str, Any]:
    """Everything held about a client, as JSON-ready data."""
    client = _client(reference)
    store = hit_store()
    try:
        client_hits = list(store.iter_of_client(reference))  # every hit, no cap
    finally:
        store.close()
    hits = [HitDocument.from_domain(h) for h in client_hits]
    case_ids = list(client.cases.values_list("pk", flat=True))
    hit_ids = [h.hit_id for h in client_hits]
    audit = AuditEvent.objects.filter(
        Q(target__in=[*hit_ids, *(f"case:{pk}" for pk in case_ids), f"client:{reference}"])
        | Q(who=f"client:{reference}")
    ).order_by("at")
    return {
        "exported_at": datetime.now(UTC).isoformat(),
        "client": {
            "id": client.reference,
            "display_name": client.display_name,
            "email": client.email,
            "language": client.language,
            "alert_preference": client.alert_preference,
            "alert_detail": client.alert_detail,
            "active": client.active,
            "created_at": client.created_at.isoformat(),
        },
        "watch_terms": [{"kind": t.kind, "value": t.value} for t in client.terms.all()],
        "photos": [
            {
                "label": p.label,
                "pdq_hashes": p.pdq_hashes,
                "registered_at": p.created_at.isoformat(),
                "note": "hashes only; the photo was never stored",
            }
            for p in client.photos.all()
        ],
        "videos": [
            {
                "label": v.label,
                "md5": v.md5,
                "duration_s": v.duration_s,
                "frame_hashes": v.frame_hashes,
                "registered_at": v.created_at.isoformat(),
                "note": "hashes only; the video was never stored",
            }
            for v in client.videos.all()
        ],
        "alerts": [
            {
                "hit_id": a.hit_id,
                "site": a.host,
                "status": a.status,
                "created_at": a.created_at.isoformat(),
                "sent_at": a.sent_at.isoformat() if a.sent_at else None,
            }
            for a in client.alerts.all()
        ],
        "emails": [
            {
                "kind": d.kind,
                "status": d.status,
                "attempts": d.attempts,
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            }
            for d in client.deliveries.all()
        ],
        "allowlist": [
            {"kind": e.kind, "site": e.host, "value": e.value, "reason": e.reason}
            for e in client.allowlist.all()
        ],
        "cases": [
            {
                "id": c.pk,
                "host": c.host,
                "state": c.state,
                "legal_hold": c.legal_hold,
                "opened_at": c.opened_at.isoformat(),
                "urls": list(c.hits.values_list("url", flat=True)),
                "history": [
                    {
                        "at": t.at.isoformat(),
                        "from": t.from_state,
                        "to": t.to_state,
                        "why": t.reason,
                    }
                    for t in c.transitions.all()
                ],
                "notices": [
                    {
                        "route": n.route,
                        "recipient": n.recipient,
                        "sent_at": n.sent_at.isoformat() if n.sent_at else None,
                        "text": n.body,
                    }
                    for n in c.notices.all()
                ],
                # What the team wrote about the case (calls with the host...).
                "notes": [
                    {"at": note.at.isoformat(), "author": note.author, "text": note.text}
                    for note in c.notes.all()
                ],
            }
            for c in client.cases.all()
        ],
        "hits": hits,
        "evidence": [
            {
                "hit_id": h.hit_id,
                "warc": h.evidence_warc,
                "record_id": h.evidence_record_id,
                "sha256": h.evidence_sha256,
                "captured_at": h.captured_at.isoformat() if h.captured_at else None,
                "screenshot_warc": h.screenshot_warc,
                "screenshot_record_id": h.screenshot_record_id,
                "screenshot_sha256": h.screenshot_sha256,
            }
            for h in client_hits
            if h.evidence_record_id or h.screenshot_record_id
        ],
        "rechecks": [
            {
                "hit_id": r.case_hit.hit_id,
                "checked_at": r.checked_at.isoformat(),
                "url": r.url,
                "final_url": r.final_url,
                "http_status": r.http_status,
                "verdict": r.verdict,
                "detail": r.detail,
                "body_sha256": r.body_sha256,
                "evidence_warc": r.evidence_warc,
                "evidence_record_id": r.evidence_record_id,
            }
            for r in Recheck.objects.filter(case_hit__case__client=client)
            .select_related("case_hit")
            .order_by("checked_at")
        ],
        "audit": [
            {
                "at": e.at.isoformat(),
                "who": e.who,
                "action": e.action,
                "target": e.target,
                "detail": e.detail,
            }
            for e in audit
        ],
    }


class ErasureStep(StrEnum):
    """In this order. Each step is idempotent and finds its work again if run a second time,
    so an erasure interrupted at any step (Elasticsearch down, a disk error) is finished by
    running it again."""

    # First, so a crawl already running (or a journal replay) writes no hit of theirs again.
    TOMBSTONE = "tombstone"
    # Before the hits: the hits are how their evidence is found.
    EVIDENCE = "evidence"
    # Before the hits too: the corpus posts that go are those behind the client's hits.
    CORPUS = "corpus"
    HITS = "hits"
    JOURNALS = "journals"
    # Crawl logs quote search queries (names) and pages; while the client's row still says
    # which words name them.
    LOGS = "logs"
    # Last: the legal holds and the re-checks that say what to keep and find are rows.
    RECORDS = "records"


def erase_client(
    reference: str, steps: Sequence[ErasureStep] = tuple(ErasureStep)
) -> ErasureReport:
    """Erase a client and everything about them, except cases under an explicit legal hold."""
    client = _client(reference)
    report = ErasureReport(client=reference)
    held = list(Case.objects.filter(client=client, legal_hold=True))
    report.cases_kept_under_legal_hold = [c.pk for c in held]
    keep_hits = set(CaseHit.objects.filter(case__in=held).values_list("hit_id", flat=True))
    journal_dir = Path(settings.BODYGUARD_JOURNAL_DIR)
    if ErasureStep.TOMBSTONE in steps:
        ErasedClients(journal_dir).add(reference)
    erased_hits: set[str] = set()
    if {ErasureStep.EVIDENCE, ErasureStep.CORPUS, ErasureStep.HITS} & set(steps):
        store = hit_store()
        try:
            client_hits = list(store.iter_of_client(reference))
            erased_hits = {h.hit_id for h in client_hits} - keep_hits
            if ErasureStep.EVIDENCE in steps:
                report.evidence_records_deleted = _erase_evidence(
                    store, client, reference, client_hits, keep_hits, journal_dir
                )
            if ErasureStep.CORPUS in steps:
                report.corpus_posts_deleted = erase_client_corpus(
                    reference, [h for h in client_hits if h.hit_id not in keep_hits]
                )
            if ErasureStep.HITS in steps:
                report.hits_deleted = store.delete_client(reference, keep_hit_ids=keep_hits)
        finally:
            store.close()
    if ErasureStep.JOURNALS in steps:
        for journal in journals_in(journal_dir):
            report.journal_entries_deleted += journal.remove_client(reference)
        report.dead_letters_deleted = DeadLetters(journal_dir, "*").remove_client(reference)
    if ErasureStep.LOGS in steps:
        report.log_files_scrubbed = scrub_logs(
            Path(settings.BODYGUARD_VAR_DIR) / "logs", _words_naming(client)
        )
    if ErasureStep.RECORDS in steps:
        _erase_rows(client, reference, erased_hits, keep_hits, report)
    return report


def _words_naming(client: Client) -> list[str]:
    words = {client.display_name, client.email, *client.terms.values_list("value", flat=True)}
    return sorted(
        (w for w in words if len(w.strip()) >= MIN_SCRUBBED_LENGTH), key=len, reverse=True
    )


# Shorter words (an alias of two letters) would blank half of every log; they name no one alone.
MIN_SCRUBBED_LENGTH = 3


def scrub_logs(directory: Path, words: Sequence[str]) -> int:
    """Replace the client's names, aliases and email (as written, URL-encoded, any case) in
    every log file under ``directory``; returns how many files changed. Each file is rewritten
    through a temporary file, so a crash leaves the old or the new one."""
    if not directory.is_dir() or not words:
        return 0
    forms = {f for w in words for f in (w, quote(w, safe=""), quote_plus(w), quote(w))}
    pattern = re.compile(
        "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)), re.IGNORECASE
    )
    changed = 0
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        scrubbed = pattern.sub(ERASED, text)
        if scrubbed == text:
            continue
        tmp = path.with_name(f".{path.name}.scrubbing")
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as out:
            out.write(scrubbed)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        changed += 1
    return changed


def _erase_evidence(
    store: HitStore,
    client: Client,
    reference: str,
    client_hits: list[Hit],
    keep_hits: set[str],
    journal_dir: Path,
) -> int:
    """Every record of the client's captures and screenshots, wherever it is stored; those
    another client's hit or a held case still relies on stay."""
    pending: list[Hit] = [
        h for j in journals_in(journal_dir) for h in j.pending() if h.client_id == reference
    ]
    for letter in DeadLetters(journal_dir, "*").entries():
        if letter.client_id == reference and "first_seen" in letter.document:
            pending.append(HitDocument.to_domain(letter.document))
    doomed: set[str] = set()
    for hit in [*client_hits, *pending]:
        if hit.hit_id not in keep_hits:
            doomed |= {hit.evidence_record_id, hit.screenshot_record_id} - {""}
    rechecks = Recheck.objects.filter(case_hit__case__client=client).exclude(evidence_record_id="")
    doomed |= set(
        rechecks.exclude(case_hit__case__legal_hold=True).values_list(
            "evidence_record_id", flat=True
        )
    )
    keep = set(rechecks.filter(case_hit__case__legal_hold=True).values_list("evidence_record_id", flat=True))  # fmt: skip
    # The client's own hits still exist (they go next): they do not count as "in use".
    keep |= store.records_in_use(doomed, ignoring=HitStore.client_query(reference, keep_hits))
    return erase_records(doomed, keep)


def _erase_rows(
    client: Client,
    reference: str,
    erased_hits: set[str],
    keep_hits: set[str],
    report: ErasureReport,
) -> None:
    with transaction.atomic():
        # Hit ids come from the database too: a re-run after the hits were deleted still
        # redacts what the audit log said about them.
        erased = sorted(
            erased_hits
            | set(Alert.objects.filter(client=client).values_list("hit_id", flat=True))
            | set(
                CaseHit.objects.filter(case__client=client, case__legal_hold=False).values_list(
                    "hit_id", flat=True
                )
            )
        )
        erased = [h for h in erased if h not in keep_hits]
        report.audit_entries_redacted = _redact_audit(client, reference, erased)
        report.admin_log_entries_deleted = _forget_admin_log(client)
        report.alerts_deleted = (
            Alert.objects.filter(client=client).exclude(hit_id__in=keep_hits).count()
        )
        report.photos_deleted = client.photos.count()
        report.videos_deleted = client.videos.count()
        report.terms_deleted = client.terms.count()
        cases = Case.objects.filter(client=client, legal_hold=False)
        report.cases_deleted = cases.count()
        cases.delete()
        Alert.objects.filter(client=client).delete()
        client.delete()  # terms, photo and video hashes go with it; held cases keep client_reference


ERASED = "[erased]"


def _redact_audit(client: Client, reference: str, hit_ids: list[str]) -> int:
    """The audit log is append-only, except for this: what it said about an erased client.

    Who did what and when stays (the log keeps its shape and its count); the details that
    could name the client (URLs, accounts, the client's reference) are replaced.
    """
    cases = [
        f"case:{pk}"
        for pk in Case.objects.filter(client=client, legal_hold=False).values_list("pk", flat=True)
    ]
    about = AuditEvent.objects.filter(
        Q(target__in=[*hit_ids, *cases]) | Q(target=f"client:{reference}")
        | Q(who=f"client:{reference}")
    )  # fmt: skip
    # The database refuses any other change to the audit log (takedowns.auditlog).
    count = about.update(detail=ERASED, redacted=True)
    AuditEvent.objects.filter(target=f"client:{reference}").update(
        target=f"client:{ERASED}", redacted=True
    )
    AuditEvent.objects.filter(who=f"client:{reference}").update(
        who=f"client:{ERASED}", redacted=True
    )
    return count


def _forget_admin_log(client: Client) -> int:
    """Django's admin history names the objects it changed ("Jeanne Dupont (jeanne-dupont)")."""
    objects: list[tuple[type[models.Model], list[int]]] = [
        (Client, [client.pk]),
        (WatchTerm, list(client.terms.values_list("pk", flat=True))),
        (ClientPhoto, list(client.photos.values_list("pk", flat=True))),
        (ClientVideo, list(client.videos.values_list("pk", flat=True))),
    ]
    deleted = 0
    for model, pks in objects:
        content_type = ContentType.objects.get_for_model(model)
        deleted += LogEntry.objects.filter(
            content_type=content_type, object_id__in=[str(pk) for pk in pks]
        ).delete()[0]
    return deleted


def report_dict(report: ErasureReport) -> dict[str, Any]:
    return asdict(report)


def purge_dismissed_hits(days: int | None = None) -> int:
    """Retention: hits dismissed as false positives, unseen for ``days``, are deleted with
    their evidence and screenshots (unless another hit relies on the same capture). Evidence
    first, as for an erasure: a run interrupted half-way finds the rest again."""
    keep_days = settings.BODYGUARD_RETENTION_DAYS if days is None else days
    store = hit_store()
    try:
        doomed = store.dismissed_before(datetime.now(UTC) - timedelta(days=keep_days))
        if not doomed:
            return 0
        records = {r for h in doomed for r in (h.evidence_record_id, h.screenshot_record_id)}
        ids = [h.hit_id for h in doomed]
        in_use = store.records_in_use(records, ignoring={"ids": {"values": ids}})
        erase_records(records - {""}, in_use)
        return store.delete_ids(ids)
    finally:
        store.close()
