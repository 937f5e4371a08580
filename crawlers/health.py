"""Sources that keep failing: staff are told once, when the streak reaches the threshold."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from crawlers.models import CrawlRun
from crawlers.runner import CrawlOutcome

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


def alert_staff_of_refused_hits(outcome: CrawlOutcome) -> bool:
    """Hits Elasticsearch refused are kept aside, not lost, but only people can fix why
    (a mapping, a hostile page): staff are emailed for every run that set some aside. The
    email names the reason and the files, never the content."""
    if not outcome.dead_lettered:
        return False
    subject = (
        f"[Bodyguard] {outcome.dead_lettered} résultat(s) refusé(s) par Elasticsearch "
        f"(source {outcome.source_id})"
    )
    body = (
        f"Lors du passage n° {outcome.run_id} de la source « {outcome.source_id} », "
        f"Elasticsearch a refusé {outcome.dead_lettered} résultat(s). Ils ne sont pas perdus : "
        f"ils sont conservés, avec la raison du refus, dans {outcome.dead_letter_dir}.\n\n"
        f"Raison : {outcome.dead_letter_reason or 'voir les fichiers'}\n\n"
        "Les autres résultats ont été enregistrés normalement. Corrigez la cause (par exemple "
        "le mapping de l'index), puis réinjectez ces documents.\n"
    )
    recipients = list(settings.BODYGUARD_STAFF_EMAILS)
    if not recipients:
        logger.warning("%s (BODYGUARD_STAFF_EMAILS is empty, nobody was emailed)", subject)
        return False
    send_mail(subject, body, None, recipients)
    return True
