from django.db import models
from django.utils.translation import gettext_lazy as _


class CrawlRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        OK = "ok", _("Finished")
        # Finished, but what it read cannot be trusted to be complete: hits kept in the local
        # journal, pages read but nothing found in them (selectors broken), or many errors.
        DEGRADED = "degraded", _("Degraded (journaled hits, no posts found or many errors)")
        FAILED = "failed", _("Failed")
        TIMEOUT = "timeout", _("Stopped at the time limit")
        BLOCKED = "blocked", _("Blocked (anti-bot or login wall)")

    source_id = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=32)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    exit_code = models.IntegerField(null=True, blank=True)
    pages = models.IntegerField(default=0)
    items = models.IntegerField(default=0)
    hits = models.IntegerField(default=0)
    new_hits = models.IntegerField(default=0)
    journaled_hits = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    blocked = models.IntegerField(default=0)
    images = models.IntegerField(default=0)
    message = models.TextField(blank=True)
    log_file = models.CharField(max_length=500, blank=True)
    # The Scrapyd node and job that ran it; empty for a crawl run as a local subprocess.
    node = models.CharField(max_length=200, blank=True)
    job_id = models.CharField(max_length=64, blank=True)
    # The crawl's Scrapy stats, written by the crawl itself when it ran on a node.
    stats = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.source_id} {self.started_at:%Y-%m-%d %H:%M} {self.status}"


class SourceState(models.Model):
    """What a source's crawls read in full, so the next one fetches only what changed; and
    what failed, so it is fetched again (with backoff) instead of being skipped."""

    source_id = models.CharField(max_length=64, unique=True)
    seen = models.JSONField(default=dict)
    # key -> {"url", "attempts", "failed_at", "error"}
    failures = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return (
            f"{self.source_id}: {len(self.seen)} item(s) remembered, {len(self.failures)} to retry"
        )


class CrawlNode(models.Model):
    """A Scrapyd node as the monitor last saw it, so staff are told once when it stops
    answering (and again only after it came back)."""

    url = models.CharField(max_length=200, unique=True)
    answering = models.BooleanField(default=True)
    checked_at = models.DateTimeField(auto_now=True)
    error = models.TextField(blank=True)
    jobs = models.IntegerField(default=0, help_text="Crawls scheduled on it by this monitor")

    def __str__(self) -> str:
        return f"{self.url} ({'answering' if self.answering else 'down'})"
