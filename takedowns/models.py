from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from clients.models import Client


class Case(models.Model):
    """Getting content about one client removed from one host."""

    class State(models.TextChoices):
        NEW = "new", _("New")
        CONFIRMED = "confirmed", _("Confirmed")
        NOTICE_SENT = "notice_sent", _("Notice sent")
        REMOVED = "removed", _("Removed")
        REFUSED = "refused", _("Refused")
        NO_RESPONSE = "no_response", _("No response")
        ESCALATED = "escalated", _("Escalated")
        CLOSED = "closed", _("Closed")

    OPEN_STATES = (
        State.NEW,
        State.CONFIRMED,
        State.NOTICE_SENT,
        State.NO_RESPONSE,
        State.ESCALATED,
    )

    client = models.ForeignKey(Client, on_delete=models.SET_NULL, null=True, related_name="cases")
    # Who the case is about, kept when the client record itself is erased under a legal hold.
    client_reference = models.CharField(max_length=64, blank=True)
    host = models.CharField(max_length=255)
    state = models.CharField(max_length=20, choices=State.choices, default=State.NEW)
    legal_hold = models.BooleanField(
        default=False,
        help_text=_(
            "Kept through a client's erasure request (complaint or proceedings under way)."
        ),
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Optimistic locking: every change of state bumps it; a change made from a stale page
    # (someone else acted meanwhile) is refused instead of silently overwriting theirs.
    version = models.PositiveIntegerField(default=0)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    # The reviewer in charge (shown on the case and in the queue); anyone may still act.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_cases",
    )

    class Meta:
        ordering = ["-opened_at"]
        permissions = [("review_hits", "Can review hits (takedown team)")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.client_reference} @ {self.host} ({self.state})"

    def last_host_notice_at(self) -> datetime | None:
        """When the last notice asking the host to remove content went (DSA, LCEN, TAKE IT
        DOWN, Telegram; Google's route asks for delisting and does not count). Uses prefetched notices when there are."""
        host_routes = {
            Notice.Route.DSA_16,
            Notice.Route.LCEN_6,
            Notice.Route.TAKE_IT_DOWN,
            Notice.Route.TELEGRAM,
        }
        return max(
            (n.sent_at for n in self.notices.all() if n.sent_at and n.route in host_routes),
            default=None,
        )


class CaseTransition(models.Model):
    """One change of a case's state: who, when, why. Append-only."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=20, choices=Case.State.choices)
    to_state = models.CharField(max_length=20, choices=Case.State.choices)
    who = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.who}: {self.from_state} -> {self.to_state}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("case transitions are append-only")
        super().save(*args, **kwargs)


class CaseHit(models.Model):
    class SourceStatus(models.TextChoices):
        # Not checked yet, or the last check gave no clear answer (see its reason).
        UNKNOWN = "unknown", _("Unknown")
        PRESENT = "present", _("Still online")
        GONE = "gone", _("Removed at the source")
        BLOCKED = "blocked", _("Blocked (could not check)")
        ERROR = "error", _("Check failed")

    class Delisting(models.TextChoices):
        NOT_REQUESTED = "not_requested", _("Not requested")
        REQUESTED = "requested", _("Requested from the search engine")
        DELISTED = "delisted", _("Delisted")
        REFUSED = "refused", _("Refused by the search engine")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="hits")
    hit_id = models.CharField(max_length=64, unique=True)
    url = models.URLField(max_length=2000)
    added_at = models.DateTimeField(auto_now_add=True)
    source_id = models.CharField(max_length=64, blank=True)
    match_kind = models.CharField(max_length=16, blank=True)
    image_url = models.URLField(max_length=2000, blank=True)
    # The reviewer's decision on the hit, mirrored from Elasticsearch: notices carry the
    # confirmed ones only.
    review_status = models.CharField(max_length=16, default="new")
    # Removal at the source (re-check) and delisting from search engines are separate facts.
    source_status = models.CharField(
        max_length=10, choices=SourceStatus.choices, default=SourceStatus.UNKNOWN
    )
    source_checked_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    delisting = models.CharField(
        max_length=16, choices=Delisting.choices, default=Delisting.NOT_REQUESTED
    )
    delisting_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["added_at", "pk"]

    def __str__(self) -> str:
        return self.url

    @property
    def actionable(self) -> bool:
        return self.review_status in {"confirmed", "escalated"}


class Recheck(models.Model):
    """One re-check of a case's URL, kept as proof of presence or removal.

    ``gone`` is only ever recorded after a second fetch, ``confirmed_at``, said gone too; the
    evidence fields then point to that confirming response.
    """

    class Verdict(models.TextChoices):
        PRESENT = "present", _("Still online")
        GONE = "gone", _("Gone (confirmed)")
        # No clear answer (wall, truncated, wrong type, server or network trouble, a redirect
        # elsewhere, a page that came back): proves nothing either way, never "removed".
        UNKNOWN = "unknown", _("Unknown")
        BLOCKED = "blocked", _("Blocked")
        ERROR = "error", _("Failed")  # older re-checks only; today these are "unknown"

    class Reason(models.TextChoices):
        GONE_STATUS = "gone_status", _("the page answers 404 or 410")
        NOT_NAMED = "not_named", _("the complete page no longer names the client")
        IMAGE_REPLACED = "image_replaced", _("the image is no longer the client's photo")
        STILL_NAMED = "still_named", _("the page still names the client")
        # For what was found by something other than the page's words (a link the client
        # reported, a video): still served is still online; only 404/410 says it is gone.
        STILL_SERVED = "still_served", _("the page is still served")
        IMAGE_MATCHES = "image_matches", _("the image is still the client's photo")
        CAME_BACK = "came_back", _("gone at first, back online on the confirming fetch")
        TRUNCATED = "truncated", _("the answer was cut at the size limit")
        WALL = "wall", _("an anti-bot or login wall")
        WRONG_TYPE = "wrong_type", _("the image address no longer answers an image")
        SERVER_ERROR = "server_error", _("a server error")
        UNEXPECTED_STATUS = "unexpected_status", _("an unexpected HTTP status")
        NETWORK = "network", _("a network failure (timeout, DNS, connection)")
        REFUSED = "refused", _("an internal address, refused by our guard")
        REDIRECTED = "redirected", _("a redirect to another page")
        NOT_CHECKED = "", _("not recorded")

    case_hit = models.ForeignKey(CaseHit, on_delete=models.CASCADE, related_name="rechecks")
    checked_at = models.DateTimeField()
    url = models.URLField(max_length=2000)
    final_url = models.URLField(max_length=2000, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True, default="")
    # HTTP status of the first fetch, when a second one was made to confirm a removal.
    first_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True)
    body_sha256 = models.CharField(max_length=64, blank=True)
    evidence_warc = models.CharField(max_length=300, blank=True)
    evidence_record_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-checked_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.checked_at:%Y-%m-%d %H:%M} {self.url}: {self.verdict} ({self.http_status})"


class HostContact(models.Model):
    """Where removal notices for a site go: its abuse contact, stored per domain."""

    domain = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=200, blank=True, help_text=_("Host or company name."))
    abuse_email = models.EmailField(blank=True)
    form_url = models.URLField(
        blank=True, help_text=_("The host's own reporting form, when it has one.")
    )
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Found through RDAP when the site publishes no contact: the network holding the site's
    # address (its abuse contact) and the domain's registrar (its abuse address).
    network_name = models.CharField(max_length=200, blank=True)
    network_abuse_email = models.EmailField(blank=True)
    registrar_name = models.CharField(max_length=200, blank=True)
    registrar_abuse_email = models.EmailField(blank=True)
    rdap_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class Notice(models.Model):
    """A removal notice for a case. Its text is frozen once it is sent."""

    class Route(models.TextChoices):
        DSA_16 = "dsa16", _("DSA article 16 (notice and action)")
        LCEN_6 = "lcen6", _("LCEN article 6 (French hosting law)")
        GOOGLE = "google", _("Google removal request (search results)")
        # The DSA's redress chain after a refusal or silence on an article 16 notice.
        DSA_20 = "dsa20", _("DSA article 20 (internal complaint)")
        DSA_21 = "dsa21", _("DSA article 21 (out-of-court dispute settlement)")
        ARCOM = "arcom", _("Complaint to Arcom (DSA article 53)")
        TAKE_IT_DOWN = "takeitdown", _("US TAKE IT DOWN Act (47 U.S.C. 223a)")
        TELEGRAM = "telegram", _("Telegram report")
        PHAROS = "pharos", _("PHAROS report (French police platform)")

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email to the host's abuse contact")
        OTHER = "other", _("Another channel (web form, registered letter)")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notices")
    route = models.CharField(max_length=12, choices=Route.choices)
    # The notice this one follows up (an article 20 complaint follows the article 16 notice,
    # the article 21 referral and the Arcom complaint follow the complaint). RESTRICT, not
    # PROTECT: a notice with follow-ups cannot be deleted alone, but goes with its case when a
    # client is erased (the case's deletion takes both).
    parent = models.ForeignKey(
        "self", on_delete=models.RESTRICT, null=True, blank=True, related_name="follow_ups"
    )
    # Sent as a trusted flagger (DSA article 22): platforms must treat it with priority.
    trusted_flagger = models.BooleanField(default=False)
    language = models.CharField(max_length=2, default="fr")
    recipient = models.CharField(max_length=255)
    recipient_email = models.EmailField(blank=True)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    # What the text was generated from (URLs, grounds, statements), for audit and re-rendering.
    fields = models.JSONField(default=dict)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.CharField(max_length=150, blank=True)
    sent_channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    sent_detail = models.CharField(max_length=300, blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    # When an answer (or action) is due, set when the notice is sent: the route's legal clock
    # (48 hours for TAKE IT DOWN) or the configured reminder delay.
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # A reference received on filing (PHAROS, a provider's ticket number).
    external_reference = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_route_display()} #{self.pk} ({'sent' if self.sent_at else 'draft'})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = Notice.objects.filter(pk=self.pk).values("sent_at").first()
            if stored is not None and stored["sent_at"] is not None:
                raise PermissionError("a notice that was sent cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self.sent_at is not None:
            raise PermissionError("a notice that was sent cannot be deleted")
        return super().delete(*args, **kwargs)


class NoticeResponse(models.Model):
    """What the recipient answered to a sent notice, as the team recorded it. Append-only: the
    notice itself stays frozen."""

    class Kind(models.TextChoices):
        ACKNOWLEDGED = "acknowledged", _("Acknowledgement of receipt (DSA art. 16(4))")
        ACCEPTED = "accepted", _("Decision: content removed or disabled")
        PARTIAL = "partial", _("Decision: partly removed")
        REFUSED = "refused", _("Decision: refused (statement of reasons, DSA art. 17)")
        NO_ANSWER = "no_answer", _("No answer by the deadline")
        REFERENCE = "reference", _("Reference received (ticket, PHAROS number)")

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="responses")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField(help_text=_("When the recipient answered (or the deadline passed)."))
    recorded_by = models.CharField(max_length=150)
    recorded_at = models.DateTimeField(auto_now_add=True)
    # The statement of reasons or the answer's substance, as received.
    text = models.TextField(blank=True)
    reference = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.notice_id}: {self.kind} {self.at:%Y-%m-%d}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("a recorded response cannot be changed")
        super().save(*args, **kwargs)


class CaseNote(models.Model):
    """What was said about a case (a phone call with a host, a decision): who, when, what."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    text = models.TextField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"#{self.case_id} {self.at:%Y-%m-%d %H:%M} {self.author}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("case notes are add-only")
        super().save(*args, **kwargs)


class AllowListEntry(models.Model):
    """The client's own account or a legitimate use: future hits from it are not raised."""

    class Kind(models.TextChoices):
        URL = "url", _("This thread (every page of it) and what is under it")
        ACCOUNT = "account", _("This account on this site")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="allowlist")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    host = models.CharField(max_length=255)
    value = models.CharField(max_length=2000)
    reason = models.TextField()
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client", "host", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "kind", "host", "value"], name="unique_allowlist_entry"
            )
        ]

    def __str__(self) -> str:
        return f"{self.client.reference}: {self.kind} {self.value}"


class LoginAttempt(models.Model):
    """Failed and successful sign-ins, for the brute-force lock-out."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {'ok' if self.succeeded else 'failed'}"


class EvidenceAccess(models.Model):
    """Chain of custody: every export of a case's evidence, by whom and when (append-only)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="evidence_accesses")
    who = models.CharField(max_length=150)
    action = models.CharField(max_length=50)
    at = models.DateTimeField(auto_now_add=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.who} {self.action}"


class AuditEvent(models.Model):
    """Who viewed, revealed, changed, exported or sent what, and when. Append-only, enforced
    by database triggers too (takedowns.auditlog)."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    who = models.CharField(max_length=150)
    action = models.CharField(max_length=40)
    target = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    # Set when what the entry said about an erased client was blanked (takedowns.auditlog).
    redacted = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.who} {self.action} {self.target}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("the audit log is append-only")
