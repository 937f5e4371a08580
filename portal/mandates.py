"""Signing and revoking her mandate, giving and withdrawing consent, from her space (the
checks themselves are clients.mandates)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.formats import date_format
from django.utils.timezone import localtime

from clients.mandates import consents, has_consent, mandate_for_pack, mandate_line, valid_mandate
from clients.models import Client, Consent, Mandate, Scope
from takedowns.services import audit


def mandate_text(
    *, full_name: str, postal_address: str, scopes: list[str], language: str, notifier: str
) -> str:
    """The text she signs, in her language, frozen with the mandate."""
    with translation.override(language):
        return render_to_string(
            f"portal/email/mandate_text.{language}.txt",
            {
                "full_name": full_name,
                "postal_address": postal_address,
                "scopes": [str(Scope(s).label) for s in Scope.values if s in scopes],
                "notifier": notifier,
            },
        ).strip()


@transaction.atomic
def sign_mandate(
    client: Client,
    *,
    full_name: str,
    postal_address: str,
    scopes: list[str],
    signature: str,
    ip: str | None,
    user_agent: str = "",
    now: datetime | None = None,
) -> Mandate:
    """A new mandate; the one it replaces (if any) is revoked. A copy is emailed to her."""
    now = now or datetime.now(UTC)
    language = client.language if client.language in {"fr", "en"} else "fr"
    Mandate.objects.filter(client=client, revoked_at__isnull=True).update(
        revoked_at=now, revoked_reason="replaced by a new mandate"
    )
    text = mandate_text(
        full_name=full_name,
        postal_address=postal_address,
        scopes=scopes,
        language=language,
        notifier=settings.BODYGUARD_NOTIFIER.name,
    )
    mandate = Mandate.objects.create(
        client=client,
        full_name=full_name,
        postal_address=postal_address,
        email=client.email,
        scopes=[s for s in Scope.values if s in scopes],
        signature=signature,
        text=text,
        language=language,
        signed_at=now,
        ip=ip,
        user_agent=user_agent[:300],
    )
    audit(
        f"client:{client.reference}",
        "mandate_signed",
        f"client:{client.reference}",
        f"mandate {mandate.pk}: {', '.join(mandate.scopes)}",
    )
    transaction.on_commit(lambda: _email_copy(client, mandate))
    return mandate


def _email_copy(client: Client, mandate: Mandate, revoked: bool = False) -> None:
    from portal.access import send_in_background

    language = mandate.language
    with translation.override(language):
        context = {
            "mandate": mandate,
            "signed": date_format(localtime(mandate.signed_at), "j F Y, H:i"),
            "revoked": (
                date_format(localtime(mandate.revoked_at), "j F Y, H:i")
                if revoked and mandate.revoked_at
                else ""
            ),
        }
        subject = render_to_string(f"portal/email/mandate_subject.{language}.txt", context)
        body = render_to_string(f"portal/email/mandate_copy.{language}.txt", context)
    send_in_background(
        [
            EmailMessage(
                " ".join(subject.split()),
                body,
                to=[client.email],
                headers={"Auto-Submitted": "auto-generated"},
            )
        ]
    )


def revoke_mandate(client: Client, *, now: datetime | None = None) -> Mandate | None:
    now = now or datetime.now(UTC)
    mandate = valid_mandate(client)
    if mandate is None:
        return None
    Mandate.objects.filter(pk=mandate.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_reason="revoked by the client from her space"
    )
    mandate.refresh_from_db()
    audit(
        f"client:{client.reference}",
        "mandate_revoked",
        f"client:{client.reference}",
        f"mandate {mandate.pk}",
    )
    _email_copy(client, mandate, revoked=True)
    return mandate


def record_consent(
    client: Client, use: str, given: bool, *, ip: str | None, now: datetime | None = None
) -> Consent:
    consent = Consent.objects.create(
        client=client, use=use, given=given, at=now or datetime.now(UTC), ip=ip
    )
    audit(
        f"client:{client.reference}",
        "consent_given" if given else "consent_withdrawn",
        f"client:{client.reference}",
        use,
    )
    return consent


__all__ = [
    "consents",
    "has_consent",
    "mandate_for_pack",
    "mandate_line",
    "record_consent",
    "revoke_mandate",
    "sign_mandate",
    "valid_mandate",
]
