"""What we hold about a client: exported on request, erased on request (GDPR art. 15 and 17)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q

from alerts.models import Alert
from alerts.services import hit_store
from clients.models import Client, ClientPhoto, WatchTerm
from hits.documents import HitDocument
from hits.journal import HitJournal
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
    evidence_records_deleted: int = 0
    alerts_deleted: int = 0
    cases_deleted: int = 0
    photos_deleted: int = 0
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
        hits = [HitDocument.from_domain(h) for h in store.of_client(reference)]
    finally:
        store.close()
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
            }
            for c in client.cases.all()
        ],
        "hits": hits,
    }


def erase_client(reference: str) -> ErasureReport:
    """Erase a client and everything about them, except cases under an explicit legal hold."""
    client = _client(reference)
    report = ErasureReport(client=reference)
    held = list(Case.objects.filter(client=client, legal_hold=True))
    report.cases_kept_under_legal_hold = [c.pk for c in held]
    keep_hits = set(CaseHit.objects.filter(case__in=held).values_list("hit_id", flat=True))
    # Elasticsearch first: if it fails, nothing in the database is gone yet and the request
    # can simply be run again.
    store = hit_store()
    try:
        client_hits = store.of_client(reference)
        doomed_records = {
            h.evidence_record_id
            for h in client_hits
            if h.evidence_record_id and h.hit_id not in keep_hits
        }
        # Re-check captures of the cases that go.
        doomed_records |= set(
            Recheck.objects.filter(case_hit__case__client=client)
            .exclude(case_hit__case__legal_hold=True)
            .exclude(evidence_record_id="")
            .values_list("evidence_record_id", flat=True)
        )
        report.corpus_posts_deleted = erase_client_corpus(
            reference, [h for h in client_hits if h.hit_id not in keep_hits]
        )
        report.hits_deleted = store.delete_client(reference, keep_hit_ids=keep_hits)
        # Records another client's hit or a held case still relies on are kept.
        still_needed = store.records_in_use(doomed_records)
    finally:
        store.close()
    report.evidence_records_deleted = erase_records(doomed_records, still_needed)
    journal_dir = Path(settings.BODYGUARD_JOURNAL_DIR)
    if journal_dir.is_dir():
        for journal_file in journal_dir.glob("*.jsonl"):
            report.journal_entries_deleted += HitJournal(
                journal_dir, journal_file.stem
            ).remove_client(reference)
    erased_hits = [h.hit_id for h in client_hits if h.hit_id not in keep_hits]
    with transaction.atomic():
        report.audit_entries_redacted = _redact_audit(client, reference, erased_hits)
        report.admin_log_entries_deleted = _forget_admin_log(client)
        report.alerts_deleted = (
            Alert.objects.filter(client=client).exclude(hit_id__in=keep_hits).count()
        )
        report.photos_deleted = client.photos.count()
        report.terms_deleted = client.terms.count()
        cases = Case.objects.filter(client=client, legal_hold=False)
        report.cases_deleted = cases.count()
        cases.delete()
        Alert.objects.filter(client=client).delete()
        client.delete()  # terms and photo hashes go with it; held cases keep client_reference
    return report


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
    count = about.update(detail=ERASED)
    AuditEvent.objects.filter(target=f"client:{reference}").update(target=f"client:{ERASED}")
    AuditEvent.objects.filter(who=f"client:{reference}").update(who=f"client:{ERASED}")
    return count


def _forget_admin_log(client: Client) -> int:
    """Django's admin history names the objects it changed ("Jeanne Dupont (jeanne-dupont)")."""
    objects: list[tuple[type[models.Model], list[int]]] = [
        (Client, [client.pk]),
        (WatchTerm, list(client.terms.values_list("pk", flat=True))),
        (ClientPhoto, list(client.photos.values_list("pk", flat=True))),
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
    their evidence (unless another hit relies on the same capture)."""
    keep_days = settings.BODYGUARD_RETENTION_DAYS if days is None else days
    store = hit_store()
    try:
        purged, records = store.purge_dismissed(datetime.now(UTC) - timedelta(days=keep_days))
        in_use = store.records_in_use(records)
    finally:
        store.close()
    erase_records(records, in_use)
    return purged
