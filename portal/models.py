"""The victim's own side: sign-in links, sessions, the links she reports, her mandate and her
consents. Nothing here holds anything from a crawled page."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from clients.models import Client


class SignInLink(models.Model):
    """A single-use sign-in link: only the SHA-256 of its token is stored."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="portal_links")
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    # "sign_in" (she asked for it) or "invitation" (sent by staff).
    purpose = models.CharField(max_length=12, default="sign_in")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.client.reference} {self.purpose} until {self.expires_at:%Y-%m-%d %H:%M}"


class SignInRequest(models.Model):
    """One request for a sign-in link, for the rate limits. The address is kept as a keyed
    hash only: whether or not it belongs to a client, it is not written down in clear."""

    email_hash = models.CharField(max_length=64, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.ip}"


class PortalSession(models.Model):
    """A signed-in victim: her cookie holds a random key (signed), we keep its hash. Apart
    from the team's sessions; it ends after BODYGUARD_PORTAL_IDLE_MINUTES without a request."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="portal_sessions")
    key_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.client.reference} since {self.created_at:%Y-%m-%d %H:%M}"


class ReportedLink(models.Model):
    """A page she told us about from her space: the hit it became and its case."""

    class Outcome(models.TextChoices):
        CAPTURED = "captured", _("Captured")
        NOT_CAPTURED = "not_captured", _("Received, capture failed")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="reported_links")
    url = models.URLField(max_length=2000)
    note = models.TextField(blank=True)
    hit_id = models.CharField(max_length=64, db_index=True)
    case_id = models.PositiveBigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=14, choices=Outcome.choices)
    detail = models.CharField(max_length=300, blank=True)
    reported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reported_at"]

    def __str__(self) -> str:
        return f"{self.client.reference} {self.url[:80]}"
