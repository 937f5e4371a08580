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


class ClientVideo(models.Model):
    """A client video, known only by its MD5 and its sampled frames' PDQ hashes: the video
    itself is never stored (matching.videos hashes it in memory)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="videos")
    label = models.CharField(
        max_length=200,
        help_text=_("A neutral name for staff (e.g. 'video 1'), never a description."),
    )
    # The file's MD5 (StopNCII's VideoMD5): finds byte-identical copies. Empty when a partner's
    # list gave frame hashes only.
    md5 = models.CharField(max_length=32, blank=True, db_index=True)
    # [[seconds, PDQ hex, quality], ...] of the sampled frames, in time order.
    frame_hashes = models.JSONField(default=list)
    # Same shape: the frames mirrored, cropped, without static edges (looked up, never shown).
    variant_hashes = models.JSONField(default=list)
    # SIFT keypoints of keyframes (one every few seconds, plain and mirrored), sealed in one blob
    # with BODYGUARD_FEATURES_KEY (AES-256-GCM) as photos' are: they could be inverted into rough
    # pictures. Matched by crawls when PDQ misses (crops).
    sealed_features = models.BinaryField(null=True, blank=True, editable=False)
    duration_s = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client", "label"]
        constraints = [
            models.UniqueConstraint(fields=["client", "label"], name="unique_video_label")
        ]

    def __str__(self) -> str:
        return f"{self.client.reference}/{self.label}"


class Scope(models.TextChoices):
    """What a mandate lets the association do in her name."""

    REMOVAL_NOTICES = "removal_notices", _("Send removal notices in my name, as my representative")
    DELISTING = "delisting", _("Ask search engines to delist pages about me")
    POLICE_REPORT = "police_report", _("Prepare a police report (plainte) with me")
    HASH_SHARING = (
        "hash_sharing",
        _("Share the fingerprints of my photos with programmes such as StopNCII"),
    )


class Mandate(models.Model):
    """Her mandate to the association: who she is, what we may do, her typed signature, when
    and from where. Revoked, never deleted (except by her erasure)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="mandates")
    full_name = models.CharField(max_length=200)
    postal_address = models.CharField(max_length=300, blank=True)
    email = models.EmailField()
    scopes = models.JSONField(default=list)
    signature = models.CharField(max_length=200)
    # The text she agreed to, as shown to her (in her language), frozen.
    text = models.TextField()
    language = models.CharField(max_length=2, default="fr")
    signed_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-signed_at", "-pk"]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "valid"
        return f"{self.client.reference} {self.signed_at:%Y-%m-%d} ({state})"

    def allows(self, scope: str) -> bool:
        return self.revoked_at is None and scope in self.scopes


class Consent(models.Model):
    """Her consent to one use of her photos' fingerprints, given or withdrawn (a row per
    decision: the history stays)."""

    class Use(models.TextChoices):
        MONITORING = "monitoring", _("Our own monitoring of the web for my photos")
        PARTNER_EXPORT = (
            "partner_export",
            _("Export of the fingerprints to a partner programme (e.g. StopNCII)"),
        )

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="consents")
    use = models.CharField(max_length=20, choices=Use.choices)
    given = models.BooleanField()
    at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.client.reference} {self.use} {'given' if self.given else 'withdrawn'}"
