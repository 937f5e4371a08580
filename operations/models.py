from django.db import models
from django.utils.translation import gettext_lazy as _


class BackScan(models.Model):
    """A client's names checked against what was already crawled (the corpus).

    Queued when a client is registered or its names, aliases or context words change; run in
    the background by the monitor (its alerts job, every minute, and each --once cycle), so
    an admin save or an import never waits for it. One queued scan per client at a time."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed (queued again on the next cycle)")

    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE, related_name="backscans")
    reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    posts_read = models.IntegerField(default=0, help_text=_("Corpus posts verified."))
    posts_matched = models.IntegerField(default=0)
    hits_created = models.IntegerField(
        default=0, help_text=_("New hits (already known: not counted).")
    )
    first_sight_sources = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-queued_at"]
        verbose_name = _("back-scan")
        verbose_name_plural = _("back-scans")

    def __str__(self) -> str:
        return f"{self.client_id} {self.queued_at:%Y-%m-%d %H:%M} {self.status}"
