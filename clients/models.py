from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    FR = "fr", "Français"
    EN = "en", "English"


class AlertPreference(models.TextChoices):
    # Strong matches at once, the rest in the daily digest.
    IMMEDIATE = "immediate", _("Immediate email for strong matches, daily digest for the rest")
    DAILY_DIGEST = "daily_digest", _("Daily digest only")
    # The team keeps working on the file; the client simply hears nothing.
    NONE = "none", _("No emails")


class AlertDetail(models.TextChoices):
    SUMMARY = "summary", _("Summary only (counts, seriousness, site names)")
    DETAILED = "detailed", _("Detailed (with the addresses of the pages)")


class Client(models.Model):
    """A person Bodyguard watches for. Photos are never stored here, only their hashes."""

    reference = models.SlugField(
        max_length=64,
        unique=True,
        help_text=_(
            "Stable identifier, used by imports and in Elasticsearch (e.g. jeanne-dupont)."
        ),
    )
    display_name = models.CharField(max_length=200)
    email = models.EmailField(help_text=_("Where alerts are sent."))
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.FR)
    alert_preference = models.CharField(
        max_length=20, choices=AlertPreference.choices, default=AlertPreference.IMMEDIATE
    )
    alert_detail = models.CharField(
        max_length=10, choices=AlertDetail.choices, default=AlertDetail.SUMMARY
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.reference})"


class WatchTerm(models.Model):
    class Kind(models.TextChoices):
        NAME = "name", _("Full name")
        ALIAS = "alias", _("Alias or handle")
        NICKNAME = "nickname", _("Nickname")
        REQUIRED_CONTEXT = "required_context", _("Required context word (city, school, employer)")
        EXCLUDED_CONTEXT = "excluded_context", _("Excluded context word (a homonym's)")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="terms")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(max_length=200)

    class Meta:
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["client", "kind", "value"], name="unique_watch_term")
        ]

    def __str__(self) -> str:
        return self.value


class ClientPhoto(models.Model):
    """A client photo, known only by its perceptual hashes: the image itself is never stored."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="photos")
    label = models.CharField(
        max_length=200,
        help_text=_("A neutral name for staff (e.g. 'photo 1'), never a description."),
    )
    pdq_hashes = models.JSONField(
        help_text=_("PDQ hashes of the photo's registration variants (hex).")
    )
    quality = models.PositiveSmallIntegerField(default=0)
    # SIFT keypoints and descriptors of the photo, sealed with BODYGUARD_FEATURES_KEY
    # (AES-256-GCM): they could be inverted into a rough picture, so never kept in clear.
    sealed_features = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client", "label"]
        constraints = [
            models.UniqueConstraint(fields=["client", "label"], name="unique_photo_label")
        ]

    def __str__(self) -> str:
        return f"{self.client.reference}/{self.label}"
