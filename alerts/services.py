"""From new hits to alerts, takedown cases and emails to clients."""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from alerts.models import Alert, Delivery, PreferencesLink
from alerts.neutral import neutral_url
from clients.models import AlertDetail, AlertPreference, Client
from config.sources import SourceError, load_sources
from crawlers.registry import KNOWN_KINDS
from hits.documents import STRONG_SEVERITY, Hit, ReviewStatus
from hits.store import HitStore
from takedowns.models import AllowListEntry
from takedowns.services import add_hit_to_case, allowlist_matches, audit

logger = logging.getLogger(__name__)

# A failed email is tried again after 1, 2, 4, ... minutes, never more than an hour apart:
# a mail relay that restarts is back within minutes, an outage of hours should not turn into
# a burst of retries, and nothing is ever given up.
RETRY_FIRST_S = 60
RETRY_MAX_S = 3600
# How long a dispatcher holds a delivery it is sending: far longer than one SMTP exchange
# (EMAIL_TIMEOUT is 10 s), short enough that a crashed send is retried within the quarter hour.
SENDING_LEASE = timedelta(minutes=15)
PREFERENCES_SALT = "alerts.preferences.v2"
# A preferences link works this long; every email carries a new one, so a client who reads
# her mail never meets an expired link, and a forwarded or leaked one stops working.
PREFERENCES_LINK_LIFETIME = timedelta(days=60)


@dataclass
class CollectReport:
    alerts_created: int = 0
    cases_opened: int = 0
    hits_seen: int = 0
    allowlisted: int = 0
    unknown_clients: list[str] = field(default_factory=list)
    # The hits that became alerts in this run (their evidence may still be completed).
    new_hits: list[Hit] = field(default_factory=list)


@dataclass
class DispatchReport:
    emails_sent: int = 0
    alerts_sent: int = 0
    deliveries_created: int = 0
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
    only after their alert is committed. Hits from an allow-listed page or account of the
    client are marked as such and raise nothing.
    """
    report = CollectReport()
    clients = {c.reference: c for c in Client.objects.all()}
    allowlists: dict[str, list[AllowListEntry]] = defaultdict(list)
    for entry in AllowListEntry.objects.select_related("client"):
        allowlists[entry.client.reference].append(entry)
    done: list[str] = []
    allowed: list[str] = []
    for hit in store.iter_unalerted():
        report.hits_seen += 1
        client = clients.get(hit.client_id)
        if client is None:
            report.unknown_clients.append(hit.client_id)
            continue
        listed = allowlist_matches(allowlists[hit.client_id], hit)
        if listed is not None:
            allowed.append(hit.hit_id)
            audit("bodyguard", "allowlisted", hit.hit_id, f"{listed.kind} {listed.value}")
            done.append(hit.hit_id)
            continue
        quiet = not client.active or client.alert_preference == AlertPreference.NONE
        with transaction.atomic():
            _, created = Alert.objects.get_or_create(
                hit_id=hit.hit_id,
                defaults={
                    "client": client,
                    "source_id": hit.source_id,
                    "host": hit.host,
                    "url": hit.url[:2000],
                    "match_kind": str(hit.match_kind),
                    "severity": int(hit.severity),
                    "hit_first_seen": hit.first_seen,
                    "status": Alert.Status.SUPPRESSED if quiet else Alert.Status.PENDING,
                },
            )
            entry_case = add_hit_to_case(client, hit)
        report.alerts_created += created
        report.cases_opened += entry_case.case_opened
        if created:
            report.new_hits.append(hit)
        done.append(hit.hit_id)
        if len(done) >= 200:
            store.set_review_status(allowed, str(ReviewStatus.ALLOWLISTED))
            store.mark_alerted(done)
            done, allowed = [], []
    store.set_review_status(allowed, str(ReviewStatus.ALLOWLISTED))
    store.mark_alerted(done)
    report.allowlisted = len(allowed)
    if report.unknown_clients:
        logger.warning(
            "hits for unknown clients left unalerted: %s", sorted(set(report.unknown_clients))
        )
    return report


def preferences_url(client: Client, now: datetime | None = None) -> str:
    """A new link for every email: a random token (stored as its hash), signed, expiring."""
    now = now or datetime.now(UTC)
    PreferencesLink.objects.filter(expires_at__lt=now).delete()
    token = secrets.token_urlsafe(32)
    PreferencesLink.objects.create(
        client=client,
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        expires_at=now + PREFERENCES_LINK_LIFETIME,
    )
    signed = signing.Signer(salt=PREFERENCES_SALT).sign(token)
    return f"{settings.BODYGUARD_SITE_URL.rstrip('/')}/preferences/{signed}/"


class LinkState(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # altered, forged, or from before the client's erasure


@dataclass(frozen=True)
class LinkCheck:
    state: LinkState
    client: Client | None = None


def client_from_token(signed: str, now: datetime | None = None) -> LinkCheck:
    try:
        token = signing.Signer(salt=PREFERENCES_SALT).unsign(signed)
    except signing.BadSignature:
        return LinkCheck(LinkState.UNKNOWN)
    link = (
        PreferencesLink.objects.select_related("client")
        .filter(token_sha256=hashlib.sha256(token.encode()).hexdigest())
        .first()
    )
    if link is None:
        return LinkCheck(LinkState.UNKNOWN)
    if link.expires_at <= (now or datetime.now(UTC)):
        return LinkCheck(LinkState.EXPIRED)
    return LinkCheck(LinkState.VALID, link.client)


@dataclass(frozen=True)
class Place:
    """Where alerts were found, as an email may say it: from our configuration, not the page."""

    sites: tuple[str, ...]
    links: tuple[str, ...]
    unlinked: int


def _places(alerts: list[Alert], detailed: bool) -> Place:
    try:
        sources = load_sources(Path(settings.BODYGUARD_SOURCES_DIR), KNOWN_KINDS)
    except SourceError:
        sources = {}
    sites: set[str] = set()
    links: set[str] = set()
    unlinked = 0
    for alert in alerts:
        source = sources.get(alert.source_id)
        host = source.host if source is not None else ""
        on_site = bool(host) and alert.host.removeprefix("www.") == host.removeprefix("www.")
        # A search result's host is whatever the result says: the email names the search
        # source we configured instead.
        sites.add(
            host
            if on_site
            else _("a site found through %(source)s") % {"source": host or alert.source_id}
        )
        if detailed:
            link = neutral_url(alert.url, urlsplit(alert.url).hostname or "") if on_site else None
            if link:
                links.add(link)
            else:
                unlinked += 1
    return Place(tuple(sorted(sites)), tuple(sorted(links)), unlinked)


def render_alert_email(
    client: Client, alerts: list[Alert], *, digest: bool = False
) -> tuple[str, str]:
    """Subject and body: counts, seriousness and site names; for clients who asked for
    detailed alerts, links stripped of every word from the page. Never the content, never an
    image, never a host or a word a hostile page chose."""
    language = client.language if client.language in {"fr", "en"} else "fr"
    detailed = client.alert_detail == AlertDetail.DETAILED
    with translation.override(language):
        place = _places(alerts, detailed)
        sites = list(place.sites)
        context = {
            "display_name": client.display_name,
            "count": len(alerts),
            "strong_count": sum(1 for a in alerts if a.severity >= STRONG_SEVERITY),
            "other_count": sum(1 for a in alerts if a.severity < STRONG_SEVERITY),
            "sites": sites,
            "site_count": len(sites),
            "digest": digest,
            "detailed": detailed,
            "urls": list(place.links),
            "unlinked": place.unlinked,
            "preferences_url": preferences_url(client),
        }
        subject = render_to_string(f"alerts/email/new_hits_subject.{language}.txt", context)
        body = render_to_string(f"alerts/email/new_hits.{language}.txt", context)
    return " ".join(subject.split()), body


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** max(0, attempts - 1)))


def _idempotency_key(client: Client, alerts: list[Alert]) -> str:
    ids = ",".join(sorted(a.hit_id for a in alerts))
    return hashlib.sha256(f"{client.reference}|{ids}".encode()).hexdigest()


def _bind(digest: bool, now: datetime) -> int:
    """Put every alert due now into one delivery per client, before anything is sent."""
    due = Alert.objects.filter(status=Alert.Status.PENDING, delivery__isnull=True)
    if not digest:
        due = due.filter(
            severity__gte=STRONG_SEVERITY, client__alert_preference=AlertPreference.IMMEDIATE
        )
    by_client: dict[int, list[Alert]] = defaultdict(list)
    for alert in due.select_related("client").order_by("client_id", "created_at"):
        by_client[alert.client_id].append(alert)
    created = 0
    for alerts in by_client.values():
        client = alerts[0].client
        with transaction.atomic():
            delivery, _ = Delivery.objects.get_or_create(
                idempotency_key=_idempotency_key(client, alerts),
                defaults={
                    "client": client,
                    "kind": Delivery.Kind.DIGEST if digest else Delivery.Kind.IMMEDIATE,
                    "next_attempt_at": now,
                },
            )
            # Only alerts still unbound: a concurrent dispatcher cannot bind them twice.
            Alert.objects.filter(pk__in=[a.pk for a in alerts], delivery__isnull=True).update(
                delivery=delivery
            )
        created += 1
    return created


def dispatch_pending(*, digest: bool = False, now: datetime | None = None) -> DispatchReport:
    """Email clients about their pending alerts.

    Every cycle: strong matches of clients who want immediate alerts, and every delivery due
    for a retry. The daily job (``digest=True``): everything else still pending. A failed send
    stays pending and is retried with backoff; nothing is dropped, and an alert is in exactly
    one email.
    """
    now = now or datetime.now(UTC)
    report = DispatchReport(deliveries_created=_bind(digest, now))
    due = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .select_related("client")
        .order_by("next_attempt_at", "pk")
    )
    if not due:
        return report
    connection = get_connection()
    for delivery in due:
        # Claim it first (a conditional UPDATE): of two dispatchers that overlap (the
        # immediate cycle and the digest job), exactly one sends it. The claim is a lease: a
        # dispatcher that dies mid-send leaves the delivery to be retried when it runs out.
        claimed = Delivery.objects.filter(
            pk=delivery.pk, status=Delivery.Status.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=now + SENDING_LEASE)
        if not claimed:
            continue
        alerts = list(delivery.alerts.order_by("created_at"))
        if not alerts:  # its client's alerts were erased meanwhile
            delivery.delete()
            continue
        client = delivery.client
        subject, body = render_alert_email(
            client, alerts, digest=delivery.kind == Delivery.Kind.DIGEST
        )
        message = EmailMessage(
            subject,
            body,
            to=[client.email],
            headers={
                "Message-ID": delivery.message_id,
                "Auto-Submitted": "auto-generated",
                "X-Bodyguard-Delivery": delivery.idempotency_key,
            },
            connection=connection,
        )
        try:
            message.send()
        except (smtplib.SMTPException, OSError) as exc:
            attempts = delivery.attempts + 1
            Delivery.objects.filter(pk=delivery.pk).update(
                attempts=attempts,
                next_attempt_at=now + retry_delay(attempts),
                last_error=f"{type(exc).__name__}: {exc}"[:2000],
            )
            report.failures.append(f"{client.reference}: {exc}")
            logger.warning(
                "alert email to client %s not sent (attempt %d), will retry: %s",
                client.reference,
                attempts,
                exc,
            )
            continue
        with transaction.atomic():
            Delivery.objects.filter(pk=delivery.pk).update(
                status=Delivery.Status.SENT, sent_at=now, attempts=delivery.attempts + 1
            )
            delivery.alerts.update(
                status=Alert.Status.SENT, sent_at=now, message_id=delivery.message_id
            )
        report.emails_sent += 1
        report.alerts_sent += len(alerts)
    return report


def first_name(client: Client) -> str:
    parts = client.display_name.split()
    return parts[0] if parts else ""
