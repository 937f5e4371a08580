"""Signing in without a password: single-use links, rate limits and idle-limited sessions.

- A link is a random token sent by email; only its SHA-256 is stored. It works once, for
  LINK_LIFETIME. Opening it shows a button (a POST consumes it): mail scanners that fetch
  every link in a message cannot use it up.
- Asking for a link always gets the same answer, whether or not the address is a client's;
  the email itself is sent from a background thread, so the answer takes as long either way.
- Requests are limited per address and per client IP (the counts are kept for every address
  asked for, client or not).
- The session is a signed random key in its own cookie (path /espace/), apart from the team's
  Django sessions: it ends after IDLE minutes without a request, or when she signs out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse

from clients.models import Client
from portal.models import PortalSession, SignInLink, SignInRequest
from takedowns.access import client_address
from takedowns.services import audit

logger = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(minutes=15)
IDLE = timedelta(minutes=30)
# Per address asked for and per client IP, in RATE_WINDOW.
MAX_REQUESTS_PER_ADDRESS = 3
MAX_REQUESTS_PER_IP = 10
RATE_WINDOW = timedelta(minutes=15)
COOKIE = "bodyguard_espace"
COOKIE_SALT = "portal.session.v1"
COOKIE_PATH = "/espace/"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def email_key(email: str) -> str:
    """A keyed hash of a normalised address: counts requests without writing it down."""
    normalised = email.strip().casefold()
    return hmac.new(settings.SECRET_KEY.encode(), normalised.encode(), "sha256").hexdigest()


def clients_for(email: str) -> list[Client]:
    return list(Client.objects.filter(email__iexact=email.strip(), active=True))


@dataclass(frozen=True)
class RequestOutcome:
    """``limited``: too many requests (per address or per IP); nothing was sent."""

    limited: bool


def request_link(email: str, request: HttpRequest, now: datetime | None = None) -> RequestOutcome:
    """Record the request, and if within the limits email a link to every active client
    with that address. The outcome never depends on whether the address is a client's."""
    now = now or datetime.now(UTC)
    ip = client_address(request)
    key = email_key(email)
    since = now - RATE_WINDOW
    with transaction.atomic():
        SignInRequest.objects.filter(at__lt=now - timedelta(days=1)).delete()
        per_address = SignInRequest.objects.filter(email_hash=key, at__gt=since).count()
        per_ip = SignInRequest.objects.filter(ip=ip, at__gt=since).count() if ip else 0
        limited = per_address >= MAX_REQUESTS_PER_ADDRESS or per_ip >= MAX_REQUESTS_PER_IP
        # Counted even when refused: hammering does not open a new window.
        SignInRequest.objects.create(email_hash=key, ip=ip)
    if limited:
        audit("portal", "portal_link_limited", "portal", str(ip))
        return RequestOutcome(limited=True)
    messages = []
    for client in clients_for(email):
        url = new_link(client, now=now)
        messages.append(sign_in_message(client, url))
        audit(f"client:{client.reference}", "portal_link_sent", f"client:{client.reference}")
    send_in_background(messages)
    return RequestOutcome(limited=False)


def new_link(client: Client, *, purpose: str = "sign_in", now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    SignInLink.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    token = secrets.token_urlsafe(32)
    SignInLink.objects.create(
        client=client,
        token_sha256=_sha256(token),
        expires_at=now + LINK_LIFETIME,
        purpose=purpose,
    )
    path = reverse("portal:link", args=[token])
    return f"{settings.BODYGUARD_SITE_URL.rstrip('/')}{path}"


def _language(client: Client) -> str:
    return client.language if client.language in {"fr", "en"} else "fr"


def sign_in_message(client: Client, url: str, *, invitation: bool = False) -> EmailMessage:
    language = _language(client)
    context = {
        "url": url,
        "minutes": int(LINK_LIFETIME.total_seconds() // 60),
        "portal_url": f"{settings.BODYGUARD_SITE_URL.rstrip('/')}{reverse('portal:sign_in')}",
        "invitation": invitation,
    }
    subject = render_to_string(f"portal/email/sign_in_subject.{language}.txt", context)
    body = render_to_string(f"portal/email/sign_in.{language}.txt", context)
    return EmailMessage(
        " ".join(subject.split()),
        body,
        to=[client.email],
        headers={"Auto-Submitted": "auto-generated"},
    )


def _send(messages: list[EmailMessage]) -> None:
    for message in messages:
        try:
            message.send()
        except Exception:  # an SMTP failure must not reach the (identical) answer
            logger.exception("portal email to a client not sent")


def send_in_background(messages: list[EmailMessage]) -> None:
    """Send outside the request: the answer takes the same time for a client or not."""
    if not messages:
        return
    threading.Thread(target=_send, args=(messages,), daemon=True).start()


class LinkRefused(Exception):
    """The link is unknown, used or expired (the page says so without naming anyone)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "unknown")
        self.expired = expired


def link_is_open(token: str, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    link = SignInLink.objects.filter(token_sha256=_sha256(token)).first()
    return link is not None and link.used_at is None and link.expires_at > now


def consume_link(token: str, now: datetime | None = None) -> Client:
    """The link's client, once: a used, expired or unknown link is refused."""
    now = now or datetime.now(UTC)
    with transaction.atomic():
        link = (
            SignInLink.objects.select_for_update()
            .select_related("client")
            .filter(token_sha256=_sha256(token))
            .first()
        )
        if link is None or link.used_at is not None:
            raise LinkRefused(expired=False)
        if link.expires_at <= now:
            raise LinkRefused(expired=True)
        # The update is conditional: of two requests with the same link, one signs in.
        if not SignInLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=now):
            raise LinkRefused(expired=False)
    return link.client


def start_session(response: HttpResponse, request: HttpRequest, client: Client) -> None:
    key = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    PortalSession.objects.filter(last_seen_at__lt=now - IDLE).delete()
    PortalSession.objects.create(
        client=client, key_sha256=_sha256(key), last_seen_at=now, ip=client_address(request)
    )
    _set_cookie(response, signing.Signer(salt=COOKIE_SALT).sign(key))
    audit(f"client:{client.reference}", "portal_sign_in", f"client:{client.reference}")


def _set_cookie(response: HttpResponse, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(IDLE.total_seconds()),
        path=COOKIE_PATH,
        secure=settings.BODYGUARD_SITE_URL.startswith("https://"),
        httponly=True,
        samesite="Lax",
    )


def _session_key(request: HttpRequest) -> str | None:
    raw = request.COOKIES.get(COOKIE, "")
    if not raw:
        return None
    try:
        return signing.Signer(salt=COOKIE_SALT).unsign(raw)
    except signing.BadSignature:
        return None


def current_client(request: HttpRequest, now: datetime | None = None) -> Client | None:
    """Her client record if her session is alive; each request keeps it alive IDLE longer."""
    key = _session_key(request)
    if key is None:
        return None
    now = now or datetime.now(UTC)
    session = (
        PortalSession.objects.select_related("client")
        .filter(key_sha256=_sha256(key), client__isnull=False)
        .first()
    )
    if session is None:
        return None
    if session.last_seen_at <= now - IDLE:
        session.delete()
        return None
    PortalSession.objects.filter(pk=session.pk).update(last_seen_at=now)
    return session.client


def refresh_cookie(request: HttpRequest, response: HttpResponse) -> None:
    raw = request.COOKIES.get(COOKIE, "")
    if raw:
        _set_cookie(response, raw)


def end_session(request: HttpRequest, response: HttpResponse) -> None:
    key = _session_key(request)
    if key is not None:
        PortalSession.objects.filter(key_sha256=_sha256(key)).delete()
    response.delete_cookie(COOKIE, path=COOKIE_PATH, samesite="Lax")
