"""Removal notices: what each legal route requires, generated from templates, frozen once sent.

Routes:
- DSA article 16 (Regulation (EU) 2022/2065): substantiated reasons, exact locations, the
  notifier's name and email, a statement of good faith.
- LCEN article 6 (loi n° 2004-575): date, notifier identity, recipient, description and
  precise location, legal grounds, and a copy of the prior request to the author or publisher
  (or why they could not be contacted).
- Google's removal forms: the page URLs, the image URLs and the query that surfaces them.
"""

from __future__ import annotations

import hashlib
import smtplib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from hits.documents import Hit
from hits.store import HitStore
from takedowns.models import Case, CaseHit, HostContact, Notice
from takedowns.pdf import text_pdf
from takedowns.services import audit, change_state


@dataclass(frozen=True)
class LegalGround:
    code: str
    fr: str
    en: str

    def text(self, language: str) -> str:
        return self.en if language == "en" else self.fr


LEGAL_GROUNDS: tuple[LegalGround, ...] = (
    LegalGround(
        "cp-226-1",
        "article 226-1 du Code pénal (atteinte à l'intimité de la vie privée : captation, "
        "enregistrement ou transmission sans consentement de paroles ou de l'image d'une personne)",
        "Article 226-1 of the French Criminal Code (invasion of privacy: capturing, recording or "
        "transmitting a person's words or image without their consent)",
    ),
    LegalGround(
        "cp-226-2-1",
        "article 226-2-1 du Code pénal (diffusion sans consentement d'images ou de paroles "
        "présentant un caractère sexuel)",
        "Article 226-2-1 of the French Criminal Code (distributing sexual images or words of a "
        "person without their consent)",
    ),
    LegalGround(
        "cp-226-4-1",
        "article 226-4-1 du Code pénal (usurpation de l'identité d'un tiers, y compris sur un "
        "réseau de communication au public en ligne)",
        "Article 226-4-1 of the French Criminal Code (impersonation, including online)",
    ),
    LegalGround(
        "cp-226-8-1",
        "article 226-8-1 du Code pénal (montage ou contenu généré par un traitement algorithmique "
        "à caractère sexuel reproduisant l'image ou les paroles d'une personne sans son "
        "consentement)",
        "Article 226-8-1 of the French Criminal Code (sexual montage or algorithmically generated "
        "content reproducing a person's image or words without their consent)",
    ),
    LegalGround(
        "cp-222-33-2-2",
        "article 222-33-2-2 du Code pénal (harcèlement moral, aggravé lorsqu'il est commis par "
        "l'utilisation d'un service de communication au public en ligne)",
        "Article 222-33-2-2 of the French Criminal Code (harassment, aggravated when committed "
        "through an online public communication service)",
    ),
    LegalGround(
        "cp-222-17",
        "article 222-17 du Code pénal (menace de commettre un crime ou un délit contre les "
        "personnes)",
        "Article 222-17 of the French Criminal Code (threat to commit a crime or offence "
        "against a person)",
    ),
    LegalGround(
        "loi-1881-29",
        "article 29 de la loi du 29 juillet 1881 sur la liberté de la presse (diffamation et "
        "injure)",
        "Article 29 of the French Press Act of 29 July 1881 (defamation and insult)",
    ),
    LegalGround(
        "loi-1881-32",
        "article 32 de la loi du 29 juillet 1881 (diffamation envers un particulier)",
        "Article 32 of the French Press Act of 29 July 1881 (defamation of a private person)",
    ),
    LegalGround(
        "loi-1881-33",
        "article 33 de la loi du 29 juillet 1881 (injure envers un particulier)",
        "Article 33 of the French Press Act of 29 July 1881 (insult of a private person)",
    ),
    LegalGround(
        "rgpd-17",
        "article 17 du règlement (UE) 2016/679 (RGPD) : droit à l'effacement des données à "
        "caractère personnel",
        "Article 17 of Regulation (EU) 2016/679 (GDPR): right to erasure of personal data",
    ),
)
GROUNDS_BY_CODE = {g.code: g for g in LEGAL_GROUNDS}

# A "sufficiently substantiated explanation" (DSA art. 16(2)(a)) is more than a few words.
MIN_REASONS_CHARS = 40


@dataclass
class NoticeDraft:
    """What the reviewer fills in; the URLs and identities come from the case and settings."""

    route: str
    language: str = "fr"
    hit_ids: list[str] = field(default_factory=list)
    grounds: list[str] = field(default_factory=list)
    reasons: str = ""
    facts: str = ""
    prior_request: str = ""
    prior_request_impossible: str = ""
    search_query: str = ""
    recipient: str = ""
    recipient_email: str = ""
    good_faith: bool = False


@dataclass(frozen=True)
class Located:
    url: str
    locator: str
    image_url: str


def _locator(hit: Hit | None, case_hit: CaseHit, language: str) -> str:
    """Where exactly on the page, for a moderator who opens it."""
    if hit is None:
        return ""
    parts = []
    with translation.override(language):
        if "#" in hit.url:
            parts.append(_("anchor #%(anchor)s") % {"anchor": hit.url.split("#", 1)[1]})
        if hit.author:
            parts.append(_("post by “%(author)s”") % {"author": hit.author})
        if hit.posted_at:
            parts.append(
                _("published %(date)s")
                % {"date": formats.date_format(localtime(hit.posted_at), "DATETIME_FORMAT")}
            )
        if hit.title:
            parts.append(_("thread “%(title)s”") % {"title": hit.title})
        if hit.image_url:
            parts.append(_("image %(url)s") % {"url": hit.image_url})
        if hit.captured_at:
            parts.append(
                _("captured %(date)s UTC, SHA-256 %(sha)s")
                % {"date": f"{hit.captured_at:%d/%m/%Y %H:%M:%S}", "sha": hit.evidence_sha256}
            )
    return "; ".join(parts)


def validate(draft: NoticeDraft, case: Case, actionable: list[CaseHit]) -> dict[str, str]:
    """Every missing mandatory element, by form field, in the reviewer's language."""
    errors: dict[str, str] = {}
    notifier = settings.BODYGUARD_NOTIFIER
    if draft.route not in Notice.Route.values:
        errors["route"] = _("Choose a route: DSA article 16, LCEN article 6 or Google.")
        return errors
    if draft.language not in {"fr", "en"}:
        errors["language"] = _("The notice is written in French or English.")
    selected = [h for h in actionable if h.hit_id in draft.hit_ids]
    if not selected:
        errors["hit_ids"] = _(
            "Select at least one confirmed URL: only confirmed hits go into a notice."
        )
    if len(draft.reasons.strip()) < MIN_REASONS_CHARS:
        errors["reasons"] = _(
            "Explain why the content is illegal (at least %(n)s characters): "
            "a notice without substantiated reasons can be ignored."
        ) % {"n": MIN_REASONS_CHARS}
    if not draft.good_faith:
        errors["good_faith"] = _("Confirm the statement of good faith.")
    if not draft.recipient.strip():
        errors["recipient"] = _("Name the recipient (the host or the platform).")
    address_problem = email_address_problem(draft.recipient_email.strip())
    if address_problem:
        errors["recipient_email"] = address_problem
    if not notifier.name or not notifier.email:
        errors["notifier"] = _(
            "The notifier's name and email are not configured "
            "(BODYGUARD_NOTIFIER_NAME, BODYGUARD_NOTIFIER_EMAIL)."
        )
    if draft.route == Notice.Route.LCEN_6:
        if not draft.grounds:
            errors["grounds"] = _("Pick at least one legal ground.")
        unknown = [g for g in draft.grounds if g not in GROUNDS_BY_CODE]
        if unknown:
            errors["grounds"] = _("Unknown legal ground: %(codes)s") % {"codes": ", ".join(unknown)}
        if not draft.facts.strip():
            errors["facts"] = _("Describe the facts (what is published, about whom).")
        if not draft.prior_request.strip() and not draft.prior_request_impossible.strip():
            errors["prior_request"] = _(
                "Paste the request sent to the author or publisher, "
                "or say why they could not be contacted."
            )
        if not notifier.address or not notifier.legal_form:
            errors["notifier"] = _(
                "LCEN notices need the notifier's legal form and address "
                "(BODYGUARD_NOTIFIER_LEGAL_FORM, BODYGUARD_NOTIFIER_ADDRESS)."
            )
    if draft.route == Notice.Route.GOOGLE and not draft.search_query.strip():
        errors["search_query"] = _("Give the search query that surfaces these pages.")
    return errors


def create_notice(
    store: HitStore, case: Case, draft: NoticeDraft, *, who: str
) -> Notice | dict[str, str]:
    """A draft notice for the case, or the errors that stop it."""
    actionable = [h for h in case.hits.all() if h.actionable]
    errors = validate(draft, case, actionable)
    if errors:
        return errors
    selected = [h for h in actionable if h.hit_id in draft.hit_ids]
    hits = {h.hit_id: store.get(h.hit_id) for h in selected}
    located = [
        Located(h.url, _locator(hits[h.hit_id], h, draft.language), h.image_url) for h in selected
    ]
    language = draft.language
    now = datetime.now(UTC)
    client_name = case.client.display_name if case.client else case.client_reference
    context = {
        "notifier": settings.BODYGUARD_NOTIFIER,
        "reviewer": who,
        "client_name": client_name,
        "recipient": draft.recipient.strip(),
        "recipient_email": draft.recipient_email.strip(),
        "host": case.host,
        "located": located,
        "image_urls": [loc.image_url for loc in located if loc.image_url],
        "grounds": [GROUNDS_BY_CODE[g].text(language) for g in draft.grounds],
        "reasons": draft.reasons.strip(),
        "facts": draft.facts.strip(),
        "prior_request": draft.prior_request.strip(),
        "prior_request_impossible": draft.prior_request_impossible.strip(),
        "search_query": draft.search_query.strip(),
        "case_id": case.pk,
    }
    with translation.override(language):
        context["date"] = formats.date_format(localtime(now), "DATE_FORMAT")
        body = render_to_string(f"takedowns/notices/{draft.route}.{language}.txt", context)
        subject = " ".join(
            render_to_string(
                f"takedowns/notices/{draft.route}_subject.{language}.txt", context
            ).split()
        )
    notice = Notice.objects.create(
        case=case,
        route=draft.route,
        language=language,
        recipient=draft.recipient.strip(),
        recipient_email=draft.recipient_email.strip(),
        subject=subject,
        body=body.strip() + "\n",
        fields={
            "hit_ids": [h.hit_id for h in selected],
            "urls": [loc.url for loc in located],
            "image_urls": context["image_urls"],
            "grounds": draft.grounds,
            "search_query": context["search_query"],
            "good_faith": True,
        },
        created_by=who,
    )
    audit(who, "create_notice", f"case:{case.pk}", f"notice {notice.pk} ({draft.route})")
    return notice


def notice_pdf(notice: Notice) -> bytes:
    return text_pdf(notice.subject, notice.body)


def contact_for(host: str) -> HostContact | None:
    """The stored contact for the host or its closest parent domain (forum.example.org, then
    example.org)."""
    labels = host.split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)] or [host]
    found = {c.domain: c for c in HostContact.objects.filter(domain__in=candidates)}
    return next((found[c] for c in candidates if c in found), None)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    message: str


def email_address_problem(address: str) -> str:
    """What is wrong with a recipient address, or "" (blank is allowed: another channel)."""
    if not address:
        return ""
    try:
        validate_email(address)
    except ValidationError:
        return _(
            "“%(address)s” is not a valid email address: correct the recipient email "
            "(one address, no spaces or line breaks)."
        ) % {"address": address.replace("\r", " ").replace("\n", " ")[:200]}
    return ""


def _email(notice: Notice, message_id: str) -> str:
    """Sends the notice; the error, or "" once the mail server has accepted it."""
    notifier = settings.BODYGUARD_NOTIFIER
    email = EmailMessage(
        notice.subject,
        notice.body,
        from_email=f"{notifier.name} <{notifier.email}>",
        to=[notice.recipient_email],
        reply_to=[notifier.email],
        headers={"Message-ID": message_id},
    )
    email.attach(f"notification-{notice.pk}.pdf", notice_pdf(notice), "application/pdf")
    try:
        email.send()
    except (smtplib.SMTPException, OSError, BadHeaderError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return ""


def send_notice(notice: Notice, *, who: str, channel: str, detail: str = "") -> SendResult:
    """Send by email to the recipient, or record that it went by another channel. The text is
    frozen from then on; a failed email leaves the notice a draft."""
    if channel not in Notice.Channel.values:
        return SendResult(False, _("Choose how the notice is sent."))
    if channel == Notice.Channel.EMAIL and not notice.recipient_email:
        return SendResult(
            False, _("This notice has no recipient email: store the host's abuse contact first.")
        )
    if channel == Notice.Channel.OTHER and not detail.strip():
        return SendResult(
            False, _("Say which channel was used (web form, registered letter, reference).")
        )
    if channel == Notice.Channel.EMAIL:
        address_problem = email_address_problem(notice.recipient_email)
        if address_problem:
            return SendResult(False, address_problem)
    message_id = ""
    if channel == Notice.Channel.EMAIL:
        key = hashlib.sha256(f"notice-{notice.pk}-{notice.body}".encode()).hexdigest()[:40]
        message_id = f"<notice-{key}@bodyguard>"
    # The row stays locked while the email goes: of two reviewers pressing "send" together,
    # one sends, and the text is frozen only once the mail server has accepted the email
    # (any failure, even a crash, leaves a draft).
    with transaction.atomic():
        current = Notice.objects.select_for_update().get(pk=notice.pk)
        if current.sent_at is not None:
            return SendResult(
                False, _("This notice was already sent by %(who)s.") % {"who": current.sent_by}
            )
        if channel == Notice.Channel.EMAIL:
            failure = _email(current, message_id)
            if failure:
                return SendResult(
                    False,
                    _("The email could not be sent (%(error)s); the notice is still a draft.")
                    % {"error": failure},
                )
        Notice.objects.filter(pk=notice.pk, sent_at__isnull=True).update(
            sent_at=datetime.now(UTC),
            sent_by=who,
            sent_channel=channel,
            sent_detail=(detail.strip() or notice.recipient_email)[:300],
            message_id=message_id,
        )
    notice.refresh_from_db()
    audit(
        who, "send_notice", f"case:{notice.case_id}", f"notice {notice.pk} via {channel} {detail}"
    )
    _after_sending(notice, who)
    return SendResult(True, _("Notice sent."))


@transaction.atomic
def _after_sending(notice: Notice, who: str) -> None:
    case = notice.case
    hit_ids = notice.fields.get("hit_ids", [])
    if notice.route == Notice.Route.GOOGLE:
        CaseHit.objects.filter(case=case, hit_id__in=hit_ids).update(
            delisting=CaseHit.Delisting.REQUESTED, delisting_updated_at=notice.sent_at
        )
        return
    if case.state != Case.State.NOTICE_SENT:
        change_state(
            case.pk,
            Case.State.NOTICE_SENT,
            who=who,
            reason=_("%(route)s notice %(id)s sent (%(channel)s)")
            % {
                "route": notice.get_route_display(),
                "id": notice.pk,
                "channel": notice.sent_detail,
            },
        )
