"""Signing in: brute-force lock-out for the team's pages and the admin.

Each attempt is recorded as a failure *before* the password is checked, in the same
transaction as the count of earlier failures (one sign-in at a time per account), and only
turned into a success afterwards. So parallel requests cannot all pass the check before any of
them is recorded: at most MAX_FAILURES_FROM_ONE_ADDRESS wrong passwords are ever tried in WINDOW
from one address, and MAX_FAILURES_FROM_ALL_ADDRESSES from all of them.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _

from takedowns.models import AuditEvent, LoginAttempt

# After this many failed sign-ins for one account from one client address in WINDOW, that
# account is locked from that address for LOCKOUT (OWASP's authentication guidance: a small
# threshold and a temporary lock). Per account and address: failures on other usernames from
# the same address (a colleague behind the same office NAT, an attacker spraying random names)
# never lock anyone else out, and a guesser somewhere on the internet does not lock a reviewer
# out from her own address.
MAX_FAILURES_FROM_ONE_ADDRESS = 5
# Failures for one account from every address together, in WINDOW, that lock the account for
# everyone. Ten times the per-address threshold: only a guesser with ten addresses or more
# reaches it, and it still caps a distributed attack at 50 guesses per quarter of an hour
# (under 5,000 a day, hopeless against a password that passes Django's validators). Such an
# attacker can keep an account locked: the `login_locked` entries of the audit log name the
# addresses, for an administrator to block at the proxy.
MAX_FAILURES_FROM_ALL_ADDRESSES = 50
MAX_FAILURES_PER_ACCOUNT = MAX_FAILURES_FROM_ONE_ADDRESS  # its former name
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


def _trusted(address: str, proxies: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(p, strict=False) for p in proxies)


def client_address(request: HttpRequest | None) -> str | None:
    """REMOTE_ADDR, unless it is one of BODYGUARD_TRUSTED_PROXIES: then the last address in
    X-Forwarded-For that is not one of them (what our proxy saw; anything to its left is
    whatever the client wrote)."""
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = list(settings.BODYGUARD_TRUSTED_PROXIES)
    if remote is None or not proxies or not _trusted(remote, proxies):
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed([a for a in forwarded if a]):
        if not _trusted(address, proxies):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return remote
    return remote


def _account(username: str) -> str:
    return username.strip().casefold()


def _locked_by(failures: QuerySet[LoginAttempt], limit: int, now: datetime) -> datetime | None:
    if failures.count() < limit:
        return None
    last = failures.values_list("at", flat=True).first()  # newest first
    assert last is not None
    return last + LOCKOUT if last + LOCKOUT > now else None


def locked_until(
    username: str, address: str | None, now: datetime | None = None
) -> datetime | None:
    """Until when this account is locked for sign-ins from this address, if it is."""
    now = now or datetime.now(UTC)
    attempts = LoginAttempt.objects.filter(username=_account(username))
    here = attempts.filter(ip=address) if address else attempts.filter(ip__isnull=True)
    # Signing in from this address starts its count again; failures elsewhere still count
    # towards the ceiling (or a guesser would get fifty more each time the reviewer signs in).
    since = now - WINDOW
    last_success = here.filter(succeeded=True).values_list("at", flat=True).first()
    if last_success is not None and last_success > since:
        since = last_success
    locks = [
        _locked_by(here.filter(succeeded=False, at__gt=since), MAX_FAILURES_FROM_ONE_ADDRESS, now),
        _locked_by(
            attempts.filter(succeeded=False, at__gt=now - WINDOW),
            MAX_FAILURES_FROM_ALL_ADDRESSES,
            now,
        ),
    ]
    return max((until for until in locks if until is not None), default=None)


def _serialize_account(account: str) -> None:
    # SQLite: transactions are IMMEDIATE (config/settings.py), one writer at a time already.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"login:{account}"])


def reserve_attempt(username: str, address: str | None) -> LoginAttempt | datetime:
    """Record this attempt as a failure unless the account is locked from this address (then:
    until when). Both counts are per account, so one lock on the account serializes them."""
    account = _account(username)
    with transaction.atomic():
        _serialize_account(account)
        until = locked_until(account, address)
        if until is not None:
            return until
        return LoginAttempt.objects.create(username=account, ip=address, succeeded=False)


class LockoutMixin:
    """Refuses sign-ins while an account is locked, records every attempt."""

    request: HttpRequest | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = (self.cleaned_data.get("username") or "").strip()
        address = client_address(self.request)
        attempt = reserve_attempt(username, address)
        if isinstance(attempt, datetime):
            minutes = max(1, int((attempt - datetime.now(UTC)).total_seconds() // 60) + 1)
            AuditEvent.objects.create(
                who=username or "?", action="login_locked", target="login", detail=str(address)
            )
            raise forms.ValidationError(
                _(
                    "Too many failed attempts: sign-in is locked for %(minutes)s more minute(s). "
                    "Ask an administrator if you are locked out by mistake."
                )
                % {"minutes": minutes},
                code="locked",
            )
        try:
            cleaned = super().clean()  # type: ignore[misc]
        except forms.ValidationError:
            AuditEvent.objects.create(
                who=username or "?", action="login_failed", target="login", detail=str(address)
            )
            raise
        LoginAttempt.objects.filter(pk=attempt.pk).update(succeeded=True)
        AuditEvent.objects.create(who=username, action="login", target="login", detail=str(address))
        return cleaned


class LoginForm(LockoutMixin, AuthenticationForm):
    pass


class AdminLoginForm(LockoutMixin, AdminAuthenticationForm):
    pass
