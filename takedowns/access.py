"""Signing in: brute-force lock-out for the team's pages and the admin.

Each attempt is recorded as a failure *before* the password is checked, in the same
transaction as the count of earlier failures (one sign-in at a time per account), and only
turned into a success afterwards. So parallel requests cannot all pass the check before any of
them is recorded: at most MAX_FAILURES_PER_ACCOUNT wrong passwords are ever tried in WINDOW.
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
from django.http import HttpRequest
from django.utils.translation import gettext as _

from takedowns.models import AuditEvent, LoginAttempt

# After this many failed sign-ins for one account in WINDOW, the account is locked for LOCKOUT
# (OWASP's authentication guidance: a small threshold and a temporary lock, so an attacker
# cannot lock a reviewer out for good). The lock is per account only: failures on other
# usernames from the same address (a colleague behind the same office NAT, or an attacker
# spraying random names) never lock anyone else out.
MAX_FAILURES_PER_ACCOUNT = 5
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


def locked_until(username: str, now: datetime | None = None) -> datetime | None:
    now = now or datetime.now(UTC)
    account = _account(username)
    since = now - WINDOW
    last_success = (
        LoginAttempt.objects.filter(username=account, succeeded=True)
        .values_list("at", flat=True)
        .first()
    )
    if last_success is not None and last_success > since:
        since = last_success
    failures = LoginAttempt.objects.filter(username=account, succeeded=False, at__gt=since)
    if failures.count() >= MAX_FAILURES_PER_ACCOUNT:
        last = failures.values_list("at", flat=True).first()
        assert last is not None
        if last + LOCKOUT > now:
            return last + LOCKOUT
    return None


def _serialize_account(account: str) -> None:
    # SQLite: transactions are IMMEDIATE (config/settings.py), one writer at a time already.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"login:{account}"])


def reserve_attempt(username: str, address: str | None) -> LoginAttempt | datetime:
    """Record this attempt as a failure unless the account is locked (then: until when)."""
    account = _account(username)
    with transaction.atomic():
        _serialize_account(account)
        until = locked_until(account)
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
