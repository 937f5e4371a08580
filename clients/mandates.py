"""Her mandate and her consents, as the takedown side and hash sharing must check them first.

``valid_mandate(client)`` is the one question asked before a notice is sent in her name;
``mandate_line(client, language)`` is the sentence the notice carries. She signs, revokes and
decides in her space (portal.mandates).
"""

from __future__ import annotations

from django.utils import translation
from django.utils.formats import date_format
from django.utils.timezone import localtime

from clients.models import Client, Consent, Mandate


def valid_mandate(client: Client | None, scope: str | None = None) -> Mandate | None:
    """Her latest mandate that is not revoked (and covers ``scope`` when one is given)."""
    if client is None or client.pk is None:
        return None
    mandate = Mandate.objects.filter(client=client, revoked_at__isnull=True).first()
    if mandate is None or (scope is not None and scope not in mandate.scopes):
        return None
    return mandate


def mandate_line(client: Client | None, language: str = "fr") -> str:
    """ "acting on behalf of … under a mandate dated …", in ``language``; "" without a valid
    mandate."""
    mandate = valid_mandate(client)
    if mandate is None:
        return ""
    language = language if language in {"fr", "en"} else "fr"
    with translation.override(language):
        day = date_format(localtime(mandate.signed_at), "j F Y")
    if language == "en":
        return f"acting on behalf of {mandate.full_name} under a mandate dated {day}"
    return f"agissant pour le compte de {mandate.full_name} en vertu d'un mandat du {day}"


def consents(client: Client) -> dict[str, Consent | None]:
    """Her current decision for each use (None: never asked)."""
    current: dict[str, Consent | None] = dict.fromkeys(Consent.Use.values)
    for consent in Consent.objects.filter(client=client).order_by("at", "pk"):
        current[consent.use] = consent
    return current


def has_consent(client: Client, use: str) -> bool:
    """Whether she currently agrees to this use of her photos' fingerprints."""
    decision = consents(client).get(use)
    return decision is not None and decision.given


def mandate_for_pack(client: Client | None) -> tuple[str, bytes] | None:
    """The file for a case's evidence pack: her mandate in force as she signed it (text,
    signature, date, time and address), or None without one."""
    mandate = valid_mandate(client)
    if mandate is None:
        return None
    signed = localtime(mandate.signed_at)
    body = (
        f"{mandate.text}\n\n"
        f"Signature (tapée) : {mandate.signature}\n"
        f"Signé le {signed:%d/%m/%Y à %H:%M:%S} ({signed.tzname()})"
        f" depuis l'adresse {mandate.ip or 'inconnue'}\n"
        f"Périmètre : {', '.join(mandate.scopes)}\n"
    )
    return f"mandat/mandat-{mandate.pk}.txt", body.encode("utf-8")
