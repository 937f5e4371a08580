"""From new hits to alerts, takedown cases and emails to clients."""

from __future__ import annotations

import hashlib
import logging
import smtplib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string

from alerts.models import Alert
from clients.models import AlertPreference, Client
from hits.store import HitStore
from takedowns.services import add_hit_to_case

logger = logging.getLogger(__name__)


@dataclass
class CollectReport:
    alerts_created: int = 0
    cases_opened: int = 0
    hits_seen: int = 0
    unknown_clients: list[str] = field(default_factory=list)


@dataclass
class DispatchReport:
    emails_sent: int = 0
    alerts_sent: int = 0
    failures: list[str] = field(default_factory=list)


def hit_store() -> HitStore:
    return HitStore(
        settings.BODYGUARD_ELASTICSEARCH_URL,
        settings.BODYGUARD_INDEX_PREFIX,
        timeout_s=settings.BODYGUARD_ES_TIMEOUT_S,
    )


def collect_new_hits(store: HitStore) -> CollectReport:
    """Record an alert and file a takedown case for every hit not alerted yet.

    Safe to repeat: an alert per hit id at most (unique), and hits are marked in Elasticsearch
    only after their alert is committed.
    """
    report = CollectReport()
    clients = {c.reference: c for c in Client.objects.all()}
    done: list[str] = []
    for hit in store.iter_unalerted():
        report.hits_seen += 1
        client = clients.get(hit.client_id)
        if client is None:
            report.unknown_clients.append(hit.client_id)
            continue
        with transaction.atomic():
            _, created = Alert.objects.get_or_create(
                hit_id=hit.hit_id,
                defaults={
                    "client": client,
                    "source_id": hit.source_id,
                    "host": hit.host,
                    "match_kind": str(hit.match_kind),
                    "hit_first_seen": hit.first_seen,
                    "status": Alert.Status.PENDING if client.active else Alert.Status.SUPPRESSED,
                },
            )
            entry = add_hit_to_case(client, hit.hit_id, hit.url, hit.host)
        report.alerts_created += created
        report.cases_opened += entry.case_opened
        done.append(hit.hit_id)
        if len(done) >= 200:
            store.mark_alerted(done)
            done = []
    store.mark_alerted(done)
    if report.unknown_clients:
        logger.warning(
            "hits for unknown clients left unalerted: %s", sorted(set(report.unknown_clients))
        )
    return report


def render_alert_email(client: Client, alerts: list[Alert]) -> tuple[str, str]:
    """Subject and body. Counts and site names only: never the content, never a URL."""
    language = client.language if client.language in {"fr", "en"} else "fr"
    sites = sorted({a.host for a in alerts})
    context = {
        "display_name": client.display_name,
        "count": len(alerts),
        "sites": sites,
        "site_count": len(sites),
    }
    subject = render_to_string(f"alerts/email/new_hits_subject.{language}.txt", context).strip()
    body = render_to_string(f"alerts/email/new_hits.{language}.txt", context)
    return subject, body


def _message_id(alerts: list[Alert]) -> str:
    # The same alerts always give the same Message-ID, so a resend is recognisable downstream.
    digest = hashlib.sha256(",".join(sorted(a.hit_id for a in alerts)).encode()).hexdigest()[:32]
    return f"<alert-{digest}@bodyguard>"


def dispatch_pending(*, digest: bool = False) -> DispatchReport:
    """Email each client about their pending alerts, one message per client.

    Immediate-preference clients are served on every cycle; digest clients only when
    ``digest`` is true (the daily job). A failed send leaves the alerts pending for the next
    cycle; nothing is dropped.
    """
    preference = AlertPreference.DAILY_DIGEST if digest else AlertPreference.IMMEDIATE
    pending = (
        Alert.objects.filter(status=Alert.Status.PENDING, client__alert_preference=preference)
        .select_related("client")
        .order_by("client_id", "created_at")
    )
    by_client: dict[int, list[Alert]] = defaultdict(list)
    for alert in pending:
        by_client[alert.client_id].append(alert)
    report = DispatchReport()
    if not by_client:
        return report
    connection = get_connection()
    for alerts in by_client.values():
        client = alerts[0].client
        subject, body = render_alert_email(client, alerts)
        message_id = _message_id(alerts)
        message = EmailMessage(
            subject,
            body,
            to=[client.email],
            headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
            connection=connection,
        )
        ids = [a.pk for a in alerts]
        try:
            message.send()
        except (smtplib.SMTPException, OSError) as exc:
            Alert.objects.filter(pk__in=ids).update(
                last_error=f"{type(exc).__name__}: {exc}"[:2000]
            )
            for alert in alerts:
                Alert.objects.filter(pk=alert.pk).update(attempts=alert.attempts + 1)
            report.failures.append(f"{client.reference}: {exc}")
            logger.warning(
                "alert email to client %s not sent, will retry: %s", client.reference, exc
            )
            continue
        Alert.objects.filter(pk__in=ids).update(
            status=Alert.Status.SENT,
            sent_at=datetime.now(UTC),
            message_id=message_id,
            last_error="",
        )
        report.emails_sent += 1
        report.alerts_sent += len(alerts)
    return report
