"""Signing in: brute-force lock-out for the team's pages and the admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest
from django.utils.translation import gettext as _

from takedowns.models import AuditEvent, LoginAttempt

# After this many failed sign-ins for one account in WINDOW, the account is locked for LOCKOUT
# (OWASP's authentication guidance: a small threshold and a temporary lock, so an attacker
# cannot lock a reviewer out for good). Per address, a looser cap catches password spraying
# over many accounts.
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


def client_address(request: HttpRequest | None) -> str | None:
    # REMOTE_ADDR only: a forwarded-for header is whatever the attacker wants it to be, unless
    # a trusted proxy sets it (configure the proxy to overwrite REMOTE_ADDR then).
    return request.META.get("REMOTE_ADDR") if request is not None else None


def locked_until(
    username: str, address: str | None, now: datetime | None = None
) -> datetime | None:
    now = now or datetime.now(UTC)
    since = now - WINDOW
    last_success = (
        LoginAttempt.objects.filter(username=username, succeeded=True)
        .values_list("at", flat=True)
        .first()
    )
    if last_success is not None and last_success > since:
        since = last_success
    failures = LoginAttempt.objects.filter(username=username, succeeded=False, at__gt=since)
    if failures.count() >= MAX_FAILURES_PER_ACCOUNT:
        last = failures.values_list("at", flat=True).first()
        assert last is not None
        if last + LOCKOUT > now:
            return last + LOCKOUT
    if address:
        by_address = LoginAttempt.objects.filter(ip=address, succeeded=False, at__gt=now - WINDOW)
        if by_address.count() >= MAX_FAILURES_PER_ADDRESS:
            last = by_address.values_list("at", flat=True).first()
            assert last is not None
            return last + LOCKOUT
    return None


class LockoutMixin:
    """Refuses sign-ins while an account (or an address) is locked, records every attempt."""

    request: HttpRequest | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = (self.cleaned_data.get("username") or "").strip()
        address = client_address(self.request)
        until = locked_until(username, address)
        if until is not None:
            minutes = max(1, int((until - datetime.now(UTC)).total_seconds() // 60) + 1)
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
            LoginAttempt.objects.create(username=username, ip=address, succeeded=False)
            AuditEvent.objects.create(
                who=username or "?", action="login_failed", target="login", detail=str(address)
            )
            raise
        LoginAttempt.objects.create(username=username, ip=address, succeeded=True)
        AuditEvent.objects.create(who=username, action="login", target="login", detail=str(address))
        return cleaned


class LoginForm(LockoutMixin, AuthenticationForm):
    pass


class AdminLoginForm(LockoutMixin, AdminAuthenticationForm):
    pass
