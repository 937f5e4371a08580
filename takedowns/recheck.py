"""Re-check: is the content of open cases still online?

Every URL of an open case is fetched again (through the same address guard as crawls). Gone
(404/410, or the page no longer names the client, or the image is no longer the client's
photo) moves the case to ``removed`` once every URL is gone, with each response archived as
proof. Still online long after a notice raises a reminder, then an escalation. A wall
(anti-bot, login) is recorded as blocked: it proves nothing either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.mail import send_mail

from clients.services import watch_target
from config.sources import Source, load_sources
from crawlers.evidence import EvidenceWriter, capture_of
from crawlers.fetch import Fetched, FetchFailed, FetchPolicy, fetch
from crawlers.middlewares import wall_reason
from crawlers.pipelines import watch_entry
from crawlers.registry import KNOWN_KINDS
from matching.hashes import PdqHash
from matching.html import html_to_text
from matching.images import fingerprint
from matching.names import NameMatcher
from matching.photos import PhotoIndex
from takedowns.models import Case, CaseHit, Recheck
from takedowns.services import TRANSITIONS, change_state

logger = logging.getLogger(__name__)

WHO = "re-check"
GONE_STATUSES = {404, 410}
# Cases whose content is still worth watching; refused ones too (a host may comply later).
RECHECK_STATES = (*Case.OPEN_STATES, Case.State.REFUSED)
# Pages and images are fetched whole up to this size; larger ones are judged on what came.
MAX_PAGE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class FollowUp:
    setting: str  # days to wait, in Django settings
    reason: str


REMINDER = FollowUp(
    "BODYGUARD_NOTICE_REMINDER_DAYS",
    "still online {days} day(s) after the notice of {since:%Y-%m-%d}: remind the host",
)
ESCALATION = FollowUp(
    "BODYGUARD_ESCALATION_DAYS",
    "still online {days} day(s) after the reminder: escalate (PHAROS, lawyer, hosting provider upstream)",
)


@dataclass(frozen=True)
class Verdict:
    verdict: str  # Recheck.Verdict
    detail: str
    response: Fetched | None = None


@dataclass
class RecheckReport:
    checked: int = 0
    gone: int = 0
    present: int = 0
    blocked: int = 0
    errors: int = 0
    cases_removed: list[int] = field(default_factory=list)
    reminders: list[int] = field(default_factory=list)
    escalations: list[int] = field(default_factory=list)


def _page_text(response: Fetched) -> str:
    text = response.body.decode("utf-8", errors="replace")
    if "html" in response.header("Content-Type").lower() or "<html" in text[:2000].lower():
        return html_to_text(text)
    return text


def _names_still_there(case_hit: CaseHit, response: Fetched) -> bool:
    client = case_hit.case.client
    if client is None:
        return True  # erased client under legal hold: nothing to match against, assume present
    matcher = NameMatcher([watch_entry(watch_target(client))])
    return bool(matcher.scan(_page_text(response)))


def _photo_still_there(case_hit: CaseHit, policy: FetchPolicy) -> Verdict:
    client = case_hit.case.client
    image = fetch(case_hit.image_url, policy)
    if isinstance(image, FetchFailed):
        return Verdict(Recheck.Verdict.ERROR, f"image: {image.reason}")
    if image.status in GONE_STATUSES:
        return Verdict(Recheck.Verdict.GONE, f"the image answers HTTP {image.status}")
    if image.status >= 400:
        return Verdict(Recheck.Verdict.ERROR, f"the image answers HTTP {image.status}")
    if client is None:
        return Verdict(Recheck.Verdict.PRESENT, "image still served")
    index = PhotoIndex()
    for label, hashes in watch_target(client).photos:
        index.add(label, [PdqHash.from_hex(h) for h in hashes])
    try:
        match = index.best_match(fingerprint(image.body))
    except ValueError as exc:
        return Verdict(Recheck.Verdict.GONE, f"the image URL no longer serves an image ({exc})")
    if match.tier is None:
        return Verdict(Recheck.Verdict.GONE, "the image there is no longer the client's photo")
    return Verdict(Recheck.Verdict.PRESENT, f"image still matches (distance {match.distance})")


def judge(case_hit: CaseHit, policy: FetchPolicy) -> Verdict:
    """Fetch the URL again and say whether the content is still there."""
    response = fetch(case_hit.url, policy)
    if isinstance(response, FetchFailed):
        return Verdict(Recheck.Verdict.ERROR, response.reason)
    if response.status in GONE_STATUSES:
        return Verdict(Recheck.Verdict.GONE, f"HTTP {response.status}", response)
    wall = wall_reason(response.status, response.body)
    if wall:
        return Verdict(Recheck.Verdict.BLOCKED, wall, response)
    if response.status >= 400:
        return Verdict(Recheck.Verdict.ERROR, f"HTTP {response.status}", response)
    if case_hit.image_url:
        found = _photo_still_there(case_hit, policy)
        return Verdict(found.verdict, found.detail, response)
    if _names_still_there(case_hit, response):
        return Verdict(
            Recheck.Verdict.PRESENT, f"HTTP {response.status}, still names the client", response
        )
    return Verdict(
        Recheck.Verdict.GONE,
        f"HTTP {response.status}, but the page no longer names the client",
        response,
    )


def recheck_open_cases(
    *, now: datetime | None = None, sources: dict[str, Source] | None = None
) -> RecheckReport:
    now = now or datetime.now(UTC)
    if sources is None:
        sources = load_sources(Path(settings.BODYGUARD_SOURCES_DIR), KNOWN_KINDS)
    report = RecheckReport()
    case_hits = (
        CaseHit.objects.filter(case__state__in=RECHECK_STATES)
        .exclude(review_status__in=["dismissed", "allowlisted"])
        .exclude(source_status=CaseHit.SourceStatus.GONE)
        .select_related("case", "case__client")
        .order_by("case_id", "pk")
    )
    evidence = EvidenceWriter(Path(settings.BODYGUARD_EVIDENCE_DIR), "recheck")
    touched: set[int] = set()
    try:
        for case_hit in case_hits:
            policy = FetchPolicy.for_source(
                sources.get(case_hit.source_id), max_bytes=MAX_PAGE_BYTES
            )
            _record(case_hit, judge(case_hit, policy), evidence, now, report)
            touched.add(case_hit.case_id)
    finally:
        evidence.close()
    for case in Case.objects.filter(pk__in=touched):
        _move_case(case, now, report)
    _tell_team(report)
    return report


def _record(
    case_hit: CaseHit,
    verdict: Verdict,
    evidence: EvidenceWriter,
    now: datetime,
    report: RecheckReport,
) -> None:
    ref = None
    if verdict.response is not None:
        ref = evidence.write(
            capture_of(verdict.response),
            {"recheck_verdict": verdict.verdict, "case": case_hit.case_id},
        )
    Recheck.objects.create(
        case_hit=case_hit,
        checked_at=now,
        url=case_hit.url,
        final_url=verdict.response.final_url if verdict.response else "",
        http_status=verdict.response.status if verdict.response else None,
        verdict=verdict.verdict,
        detail=verdict.detail[:2000],
        body_sha256=ref.payload_sha256 if ref else "",
        evidence_warc=ref.warc if ref else "",
        evidence_record_id=ref.record_id if ref else "",
    )
    report.checked += 1
    # A verdict is also what the URL's status at the source becomes (same values).
    status = CaseHit.SourceStatus(verdict.verdict)
    counter = "errors" if status == CaseHit.SourceStatus.ERROR else str(status)
    setattr(report, counter, getattr(report, counter) + 1)
    case_hit.source_status = status
    case_hit.source_checked_at = now
    if status == CaseHit.SourceStatus.GONE and case_hit.removed_at is None:
        case_hit.removed_at = now
    case_hit.save(update_fields=["source_status", "source_checked_at", "removed_at"])


def _move_case(case: Case, now: datetime, report: RecheckReport) -> None:
    live = case.hits.exclude(review_status__in=["dismissed", "allowlisted"])
    statuses = list(live.values_list("source_status", flat=True))
    if not statuses:
        return
    if all(s == CaseHit.SourceStatus.GONE for s in statuses):
        if Case.State.REMOVED in TRANSITIONS[case.state]:
            proof = Recheck.objects.filter(case_hit__case=case, verdict=Recheck.Verdict.GONE)
            details = "; ".join(f"{r.url}: {r.detail}" for r in proof.order_by("checked_at")[:10])
            result = change_state(
                case.pk,
                Case.State.REMOVED,
                who=WHO,
                reason=f"every URL is gone at {now:%Y-%m-%d %H:%M} UTC ({details})",
            )
            if result.ok:
                report.cases_removed.append(case.pk)
        return
    if CaseHit.SourceStatus.PRESENT not in statuses:
        return  # blocked or failed checks prove nothing
    # Still online: after a notice, a reminder is due; after the reminder, an escalation.
    if case.state == Case.State.NOTICE_SENT:
        since = case.last_host_notice_at()
        delay, to_state, done = REMINDER, Case.State.NO_RESPONSE, report.reminders
    elif case.state == Case.State.NO_RESPONSE:
        since = case.state_changed_at or case.updated_at
        delay, to_state, done = ESCALATION, Case.State.ESCALATED, report.escalations
    else:
        return
    if since is None or now - since < timedelta(days=getattr(settings, delay.setting)):
        return
    reason = delay.reason.format(days=(now - since).days, since=since)
    if change_state(case.pk, to_state, who=WHO, reason=reason).ok:
        done.append(case.pk)


def _tell_team(report: RecheckReport) -> None:
    recipients = list(settings.BODYGUARD_STAFF_EMAILS)
    if not recipients or not (report.reminders or report.escalations or report.cases_removed):
        return
    lines = [f"Case {pk}: removed at the source." for pk in report.cases_removed]
    lines += [
        f"Case {pk}: still online after the notice, the host needs a reminder."
        for pk in report.reminders
    ]
    lines += [
        f"Case {pk}: still online after the reminder, escalated." for pk in report.escalations
    ]
    try:
        send_mail(
            "[Bodyguard] Re-check: cases to follow up",
            "\n".join(lines) + f"\n\n{settings.BODYGUARD_SITE_URL.rstrip('/')}/review/cases/\n",
            None,
            recipients,
        )
    except OSError as exc:
        logger.error("could not email the team about re-check results: %s", exc)
