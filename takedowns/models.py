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

    class Meta:
        ordering = ["-opened_at"]
        permissions = [("review_hits", "Can review hits (takedown team)")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.client_reference} @ {self.host} ({self.state})"


class CaseHit(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="hits")
    hit_id = models.CharField(max_length=64, unique=True)
    url = models.URLField(max_length=2000)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at"]

    def __str__(self) -> str:
        return self.url


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
    """Who viewed, revealed, changed, exported or sent what, and when. Append-only."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    who = models.CharField(max_length=150)
    action = models.CharField(max_length=40)
    target = models.CharField(max_length=200)
    detail = models.TextField(blank=True)

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
