from django.db import models
from django.utils.translation import gettext_lazy as _

from clients.models import Client


class Delivery(models.Model):
    """One email to a client, carrying a fixed set of alerts.

    Alerts are bound to a delivery before anything is sent, so an alert can only ever be in
    one email; a failed send retries the same delivery (same alerts, same Message-ID) later.
    """

    class Kind(models.TextChoices):
        IMMEDIATE = "immediate", _("Immediate")
        DIGEST = "digest", _("Daily digest")

    class Status(models.TextChoices):
        PENDING = "pending", _("To send")
        SENT = "sent", _("Sent")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Derived from the client and the alerts it carries; also the email's Message-ID, so a
    # resend after a crash between "sent" and "recorded" is recognisable as the same message.
    idempotency_key = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.client.reference} {self.kind} {self.status}"

    @property
    def message_id(self) -> str:
        return f"<alert-{self.idempotency_key[:40]}@bodyguard>"


class Alert(models.Model):
    """A new hit, to be told to the client (without its content) and fed to the takedown queue."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To send")
        SENT = "sent", _("Sent")
        SUPPRESSED = "suppressed", _("Not sent (client inactive or no emails wanted)")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="alerts")
    hit_id = models.CharField(max_length=64, unique=True)
    source_id = models.CharField(max_length=64)
    host = models.CharField(max_length=255)
    # Only shown to clients who chose detailed alerts.
    url = models.URLField(max_length=2000, blank=True)
    match_kind = models.CharField(max_length=16)
    # hits.documents.Severity; strong matches (STRONG_SEVERITY and above) are emailed at once
    # to "immediate" clients.
    severity = models.PositiveSmallIntegerField(default=3)
    hit_first_seen = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    delivery = models.ForeignKey(
        Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "client"])]

    def __str__(self) -> str:
        return f"{self.client.reference} {self.host} {self.status}"


class PreferencesLink(models.Model):
    """The key in the link to a client's preferences page: random, stored (as a hash), expiring.

    A new one goes in every email, so a link forwarded or found in an old mailbox stops
    working; the token says nothing about who the client is.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="preference_links")
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.client.reference} until {self.expires_at:%Y-%m-%d}"
