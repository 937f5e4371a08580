"""Her data as JSON, from her space (right of access, GDPR art. 15).

What we hold about her and what we did, never what a crawled page said: no title, excerpt,
author, matched words, page address or notice text (notices quote the pages). Sites are named
by their host. The links she reported herself are hers and are included.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clients.models import Client, Consent, Mandate
from portal.models import PortalSession, ReportedLink
from takedowns.models import AuditEvent, Case

NOTE = (
    "This file lists what SOS Cyber-harcèlement holds about you. The pages found about you "
    "are kept by our team as evidence and are not copied here, so that this file never shows "
    "you what was written; ask us if you want to see them, ideally with someone you trust."
)
NOTE_FR = (
    "Ce fichier liste ce que SOS Cyber-harcèlement conserve à votre sujet. Les pages trouvées "
    "à votre sujet sont conservées par notre équipe comme preuves et ne sont pas recopiées ici, "
    "pour que ce fichier ne vous montre jamais ce qui a été écrit ; demandez-nous si vous "
    "souhaitez les voir, de préférence accompagnée d'une personne de confiance."
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _videos(client: Client) -> list[Any]:
    related = getattr(client, "videos", None)
    return list(related.all()) if related is not None else []


def portal_export(client: Client) -> dict[str, Any]:
    reference = client.reference
    return {
        "exported_at": datetime.now(UTC).isoformat(),
        "note": NOTE_FR if client.language == "fr" else NOTE,
        "you": {
            "display_name": client.display_name,
            "email": client.email,
            "language": client.language,
            "alert_preference": client.alert_preference,
            "alert_detail": client.alert_detail,
            "monitoring_active": client.active,
            "registered_at": _iso(client.created_at),
        },
        "names_we_watch_for": [{"kind": t.kind, "value": t.value} for t in client.terms.all()],
        "photos": [
            {
                "label": p.label,
                "registered_at": _iso(p.created_at),
                "fingerprints": p.pdq_hashes,
                "note": "fingerprints (PDQ hashes) only; the photo itself was never stored",
            }
            for p in client.photos.all()
        ],
        "videos": [
            {
                "label": v.label,
                "registered_at": _iso(v.created_at),
                "note": "fingerprints only; the video itself was never stored",
            }
            for v in _videos(client)
        ],
        "mandates": [
            {
                "full_name": m.full_name,
                "postal_address": m.postal_address,
                "email": m.email,
                "scopes": m.scopes,
                "signature": m.signature,
                "signed_at": _iso(m.signed_at),
                "ip": m.ip,
                "revoked_at": _iso(m.revoked_at),
                "text": m.text,
            }
            for m in Mandate.objects.filter(client=client)
        ],
        "consents": [
            {"use": c.use, "given": c.given, "at": _iso(c.at), "ip": c.ip}
            for c in Consent.objects.filter(client=client)
        ],
        "links_you_reported": [
            {"url": r.url, "note": r.note, "reported_at": _iso(r.reported_at)}
            for r in ReportedLink.objects.filter(client=client)
        ],
        "cases": [
            {
                "site": c.host,
                "state": c.state,
                "opened_at": _iso(c.opened_at),
                "legal_hold": c.legal_hold,
                "pages": c.hits.count(),
                "notices": [
                    {"route": n.route, "sent_at": _iso(n.sent_at), "recipient": n.recipient}
                    for n in c.notices.filter(sent_at__isnull=False).order_by("sent_at")
                ],
            }
            for c in Case.objects.filter(client=client).order_by("opened_at")
        ],
        "emails_sent_to_you": [
            {"kind": d.kind, "sent_at": _iso(d.sent_at)}
            for d in client.deliveries.filter(sent_at__isnull=False).order_by("sent_at")
        ],
        "alerts": [
            {"site": a.host, "status": a.status, "at": _iso(a.created_at)}
            for a in client.alerts.order_by("created_at")
        ],
        "sign_ins": [
            {"since": _iso(s.created_at), "last_seen": _iso(s.last_seen_at), "ip": s.ip}
            for s in PortalSession.objects.filter(client=client)
        ],
        "your_actions": [
            {"at": _iso(e.at), "action": e.action}
            for e in AuditEvent.objects.filter(who=f"client:{reference}").order_by("at")
        ],
    }
