from django.db import models
from django.utils.translation import gettext_lazy as _

from clients.models import Client


class Alert(models.Model):
    """A new hit, to be told to the client (without its content) and fed to the takedown queue."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To send")
        SENT = "sent", _("Sent")
        SUPPRESSED = "suppressed", _("Not sent (client inactive)")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="alerts")
    hit_id = models.CharField(max_length=64, unique=True)
    source_id = models.CharField(max_length=64)
    host = models.CharField(max_length=255)
    match_kind = models.CharField(max_length=16)
    hit_first_seen = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "client"])]

    def __str__(self) -> str:
        return f"{self.client.reference} {self.host} {self.status}"
