"""Sources that keep failing: staff are told once, when the streak reaches the threshold."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from crawlers.models import CrawlRun

logger = logging.getLogger(__name__)

# A degraded run (no post found in what was read, many failed requests, hits journaled)
# counts too: a forum redesign that breaks the selectors must not look like a quiet week.
FAILED = (
    CrawlRun.Status.FAILED,
    CrawlRun.Status.TIMEOUT,
    CrawlRun.Status.BLOCKED,
    CrawlRun.Status.DEGRADED,
)


def failing_streak(source_id: str) -> int:
    streak = 0
    for status in (
        CrawlRun.objects.filter(source_id=source_id)
        .order_by("-started_at")
        .values_list("status", flat=True)[:50]
    ):
        if status not in FAILED:
            break
        streak += 1
    return streak


def alert_staff_if_failing(source_id: str) -> bool:
    """True if staff were emailed now: exactly at the threshold, so a long outage mails once."""
    threshold = settings.BODYGUARD_FAILURES_BEFORE_ALERT
    if failing_streak(source_id) != threshold:
        return False
    runs = list(CrawlRun.objects.filter(source_id=source_id).order_by("-started_at")[:threshold])
    lines = [
        f"- {r.started_at:%Y-%m-%d %H:%M} UTC : {r.get_status_display()} — {r.message}"
        for r in runs
    ]
    subject = f"[Bodyguard] La source {source_id} échoue depuis {threshold} passages"
    body = (
        f"La source « {source_id} » a échoué lors de ses {threshold} derniers passages :\n\n"
        + "\n".join(lines)
        + "\n\nTant qu'elle échoue, rien n'est surveillé sur ce site. Les journaux de chaque passage "
        "sont dans l'administration (Crawls > Crawl runs).\n"
    )
    recipients = list(settings.BODYGUARD_STAFF_EMAILS)
    if not recipients:
        logger.warning("%s (BODYGUARD_STAFF_EMAILS is empty, nobody was emailed)", subject)
        return False
    send_mail(subject, body, None, recipients)
    return True
