"""Re-check: is the content of open cases still online?

Every URL of an open case is fetched again, through the same address guard and with the same
identity (User-Agent, headers) as crawls. Saying "removed" when the content is still online
tells a victim the harm is gone when it is not, so the rule is strict:

- gone is a 404/410, or a complete page that no longer names the client, or an image that is
  no longer the client's photo, **and** a second fetch after a delay
  (``BODYGUARD_RECHECK_CONFIRM_DELAY_S``) saying gone again;
- anything else that is not clearly present is ``unknown``: truncated answers, walls (anti-bot,
  login, 401/403/429), an image address answering something that is not an image, server
  errors, network failures, redirects to another page, a page that came back;
- a case moves to ``removed`` only when every URL is confirmed gone in the same run. URLs found
  gone at an earlier run are fetched again too while their case is open: a page can come back
  (restored from a backup, re-posted at the same address), and then it is online again and its
  case cannot be closed on the strength of an old answer. Each response is archived as proof.
  Still online long after a notice raises a reminder, then an escalation.
"""

from __future__ import annotations

import html
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.etree
from django.conf import settings
from django.core.mail import send_mail

from clients.services import watch_target
from config.sources import Source, load_sources
from crawlers.evidence import EvidenceRef, EvidenceWriter, capture_of
from crawlers.fetch import Fetched, FetchFailed, FetchPolicy, fetch
from crawlers.middlewares import wall_reason
from crawlers.pipelines import watch_entry
from crawlers.registry import KNOWN_KINDS
from hits.urls import canonicalize
from matching.hashes import PdqHash
from matching.html import html_to_text
from matching.images import fingerprint
from matching.names import NameMatcher
from matching.photos import PhotoIndex
from takedowns.clocks import latest_host_notice, reminder_due
from takedowns.models import Case, CaseHit, Recheck
from takedowns.services import TRANSITIONS, change_state

logger = logging.getLogger(__name__)

WHO = "re-check"
GONE_STATUSES = {404, 410}
# Cases whose content is still worth watching; refused ones too (a host may comply later);
# and removed ones, for a while: harassers re-upload what a host took down, often at the same
# address (a restored post, a re-created thread), and the victim must not learn it from others.
RECHECK_STATES = (*Case.OPEN_STATES, Case.State.REFUSED, Case.State.REMOVED)
# How long a removed case stays watched (days since it was removed).
REMOVED_WATCH_DAYS = 180
# Pages and images are fetched whole up to this size; a longer answer is cut there and can
# prove presence (the part we have still names the client) but never removal.
MAX_PAGE_BYTES = 10 * 1024 * 1024

V = Recheck.Verdict
R = Recheck.Reason


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
    """What one fetch (or a fetch and its confirmation) says about one URL."""

    verdict: V
    reason: R
    detail: str
    response: Fetched | None = None
    # When the removal was confirmed by a second fetch: the first one's answer and evidence.
    first: Verdict | None = None
    confirmed_at: datetime | None = None


@dataclass
class RecheckReport:
    checked: int = 0
    gone: int = 0
    present: int = 0
    blocked: int = 0
    unknown: int = 0
    cases_removed: list[int] = field(default_factory=list)
    reminders: list[int] = field(default_factory=list)
    escalations: list[int] = field(default_factory=list)
    # Removed cases whose content is online again: confirmed again, for a new notice.
    cases_back: list[int] = field(default_factory=list)


_TAG = re.compile(r"<[^>]*>")


def _page_text(response: Fetched) -> str:
    text = response.body.decode("utf-8", errors="replace")
    if "html" in response.header("Content-Type").lower() or "<html" in text[:2000].lower():
        try:
            return html_to_text(text)
        except (AssertionError, ValueError, lxml.etree.LxmlError):
            # lxml gives up on some markup (a comment never closed, as a page cut at the size
            # limit or a hostile one ends): read every character between the tags instead,
            # comments and scripts included. More text than a browser shows can only find a
            # name that is there, never hide one, and one page must not stop the whole run.
            return html.unescape(_TAG.sub(" ", text))
    return text


def _names_client(case_hit: CaseHit, response: Fetched) -> bool:
    client = case_hit.case.client
    if client is None:
        return True  # erased client under legal hold: nothing to match against, assume present
    matcher = NameMatcher([watch_entry(watch_target(client))])
    return bool(matcher.scan(_page_text(response)))


def _failed(what: str, failure: FetchFailed) -> Verdict:
    reason = R.REFUSED if failure.refused else R.NETWORK
    return Verdict(V.UNKNOWN, reason, f"{what}{failure.reason}")


def _unclear_status(what: str, response: Fetched) -> Verdict | None:
    """A wall or a status that proves nothing, or None when the answer can be judged."""
    wall = wall_reason(response.status, response.body)
    if wall:
        return Verdict(V.UNKNOWN, R.WALL, f"{what}{wall} (HTTP {response.status})", response)
    if response.status >= 500:
        return Verdict(V.UNKNOWN, R.SERVER_ERROR, f"{what}HTTP {response.status}", response)
    if response.status != 200:
        return Verdict(V.UNKNOWN, R.UNEXPECTED_STATUS, f"{what}HTTP {response.status}", response)
    return None


def _same_page(a: str, b: str) -> bool:
    def key(url: str) -> str:
        canonical = canonicalize(url).split("#")[0]
        return canonical.split("://", 1)[-1].rstrip("/")

    return key(a) == key(b)


def _judge_photo(case_hit: CaseHit, policy: FetchPolicy) -> Verdict:
    client = case_hit.case.client
    image = fetch(case_hit.image_url, policy)
    if isinstance(image, FetchFailed):
        return _failed("image: ", image)
    if image.status in GONE_STATUSES:
        return Verdict(V.GONE, R.GONE_STATUS, f"the image answers HTTP {image.status}", image)
    unclear = _unclear_status("image: ", image)
    if unclear is not None:
        return unclear
    if image.truncated:
        return Verdict(V.UNKNOWN, R.TRUNCATED, "the image was cut at the size limit", image)
    if client is None:
        return Verdict(V.PRESENT, R.IMAGE_MATCHES, "image still served", image)
    index = PhotoIndex()
    for label, hashes in watch_target(client).photos:
        index.add(label, [PdqHash.from_hex(h) for h in hashes])
    try:
        match = index.best_match(fingerprint(image.body))
    except ValueError as exc:
        # HTML, a wall we do not know, a placeholder page: not proof that the image is gone.
        content_type = image.header("Content-Type") or "no type"
        return Verdict(
            V.UNKNOWN,
            R.WRONG_TYPE,
            f"the image address answers {content_type}, not an image ({exc})",
            image,
        )
    if match.tier is not None:
        return Verdict(
            V.PRESENT, R.IMAGE_MATCHES, f"image still matches (distance {match.distance})", image
        )
    if not image.header("Content-Type").lower().startswith("image/"):
        return Verdict(
            V.UNKNOWN, R.WRONG_TYPE, "the image address no longer declares an image", image
        )
    return Verdict(
        V.GONE, R.IMAGE_REPLACED, "the image there is no longer the client's photo", image
    )


# Hits found by something other than the page's words.
WORDLESS_KINDS = ("reported", "video")


def judge(case_hit: CaseHit, policy: FetchPolicy) -> Verdict:
    """Fetch the URL (and its image) once and say what the answer shows."""
    response = fetch(case_hit.url, policy)
    if isinstance(response, FetchFailed):
        return _failed("", response)
    if response.status in GONE_STATUSES:
        if response.redirect_chain and not _same_page(case_hit.url, response.final_url):
            return Verdict(
                V.UNKNOWN,
                R.REDIRECTED,
                f"redirected to {response.final_url[:300]}, which answers HTTP {response.status}",
                response,
            )
        return Verdict(V.GONE, R.GONE_STATUS, f"HTTP {response.status}", response)
    unclear = _unclear_status("", response)
    if unclear is not None:
        return unclear
    if case_hit.image_url:
        found = _judge_photo(case_hit, policy)
        # The page is archived as the proof; the image itself is never written anywhere.
        return Verdict(found.verdict, found.reason, found.detail, response)
    if case_hit.match_kind in WORDLESS_KINDS:
        # A page the client reported or a video may never have named her: while it is still
        # served it is still online (a page that no longer names her proves nothing here).
        return Verdict(
            V.PRESENT, R.STILL_SERVED, f"HTTP {response.status}, the page is still served", response
        )
    if _names_client(case_hit, response):
        return Verdict(
            V.PRESENT, R.STILL_NAMED, f"HTTP {response.status}, still names the client", response
        )
    if response.truncated:
        return Verdict(
            V.UNKNOWN,
            R.TRUNCATED,
            f"the page was cut at {len(response.body)} bytes and what came does not name the "
            "client: the rest may",
            response,
        )
    if response.redirect_chain and not _same_page(case_hit.url, response.final_url):
        return Verdict(
            V.UNKNOWN,
            R.REDIRECTED,
            f"redirected to {response.final_url[:300]}, which does not name the client",
            response,
        )
    return Verdict(
        V.GONE,
        R.NOT_NAMED,
        f"HTTP {response.status}, but the page no longer names the client",
        response,
    )


def confirm(first: Verdict, second: Verdict, at: datetime) -> Verdict:
    """A removal stands only if the second fetch says gone too."""
    if second.verdict == V.GONE:
        return Verdict(
            V.GONE,
            second.reason,
            f"{second.detail}; confirmed by a second fetch (first: {first.detail})",
            second.response,
            first=first,
            confirmed_at=at,
        )
    if second.verdict == V.PRESENT:
        return Verdict(
            V.PRESENT,
            R.CAME_BACK,
            f"gone at first ({first.detail}), back online on the second fetch: {second.detail}",
            second.response,
            first=first,
        )
    return Verdict(
        V.UNKNOWN,
        second.reason,
        f"gone at first ({first.detail}), then {second.detail}",
        second.response,
        first=first,
    )


def confirm_delay_s() -> float:
    # BODYGUARD_RECHECK_CONFIRM_DELAY (default 120 s): a host that takes a page down leaves it
    # down; one that flaps it to fool a check has to keep it down across this delay too.
    return float(settings.BODYGUARD_RECHECK_CONFIRM_DELAY_S)


def recheck_open_cases(
    *, now: datetime | None = None, sources: dict[str, Source] | None = None
) -> RecheckReport:
    now = now or datetime.now(UTC)
    if sources is None:
        sources = load_sources(Path(settings.BODYGUARD_SOURCES_DIR), KNOWN_KINDS)
    report = RecheckReport()
    watched_since = now - timedelta(days=REMOVED_WATCH_DAYS)
    case_hits = (
        CaseHit.objects.filter(case__state__in=RECHECK_STATES)
        .exclude(case__state=Case.State.REMOVED, case__state_changed_at__lt=watched_since)
        .exclude(review_status__in=["dismissed", "allowlisted"])
        .select_related("case", "case__client")
        .order_by("case_id", "pk")
    )
    evidence = EvidenceWriter(Path(settings.BODYGUARD_EVIDENCE_DIR), "recheck")
    touched: set[int] = set()
    # Case-hits judged in this run: only their answers can close a case.
    checked: set[int] = set()
    to_confirm: list[tuple[CaseHit, FetchPolicy, Verdict]] = []
    try:
        for case_hit in case_hits:
            policy = FetchPolicy.for_source(
                sources.get(case_hit.source_id), max_bytes=MAX_PAGE_BYTES
            )
            verdict = judge(case_hit, policy)
            touched.add(case_hit.case_id)
            if verdict.verdict == V.GONE:
                to_confirm.append((case_hit, policy, verdict))
            else:
                _record(case_hit, verdict, evidence, now, report)
                checked.add(case_hit.pk)
        if to_confirm:
            # One wait for the whole run, then every apparent removal is fetched again.
            time.sleep(confirm_delay_s())
            for case_hit, policy, first in to_confirm:
                second = judge(case_hit, policy)
                _record(case_hit, confirm(first, second, datetime.now(UTC)), evidence, now, report)
                checked.add(case_hit.pk)
    finally:
        evidence.close()
    for case in Case.objects.filter(pk__in=touched):
        _move_case(case, now, report, checked)
    _tell_team(report)
    return report


def _archive(
    evidence: EvidenceWriter, case_hit: CaseHit, verdict: Verdict, stage: str
) -> EvidenceRef | None:
    if verdict.response is None:
        return None
    return evidence.write(
        capture_of(verdict.response),
        {
            "recheck_verdict": str(verdict.verdict),
            "recheck_reason": str(verdict.reason),
            "recheck_stage": stage,
            "case": case_hit.case_id,
        },
    )


def _record(
    case_hit: CaseHit,
    verdict: Verdict,
    evidence: EvidenceWriter,
    now: datetime,
    report: RecheckReport,
) -> None:
    if verdict.first is not None:
        _archive(evidence, case_hit, verdict.first, "first")
    ref = _archive(evidence, case_hit, verdict, "confirmation" if verdict.first else "only")
    first_status = (
        verdict.first.response.status
        if verdict.first is not None and verdict.first.response is not None
        else None
    )
    detail = verdict.detail
    if verdict.verdict == V.PRESENT and case_hit.source_status == CaseHit.SourceStatus.GONE:
        since = f" on {case_hit.removed_at:%Y-%m-%d %H:%M} UTC" if case_hit.removed_at else ""
        detail = f"back online after it was found gone{since}: {detail}"
    Recheck.objects.create(
        case_hit=case_hit,
        checked_at=now,
        url=case_hit.url,
        final_url=verdict.response.final_url if verdict.response else "",
        http_status=verdict.response.status if verdict.response else None,
        verdict=verdict.verdict,
        reason=verdict.reason,
        first_http_status=first_status,
        confirmed_at=verdict.confirmed_at,
        detail=detail[:2000],
        body_sha256=ref.payload_sha256 if ref else "",
        evidence_warc=ref.warc if ref else "",
        evidence_record_id=ref.record_id if ref else "",
    )
    report.checked += 1
    if verdict.verdict == V.GONE:
        status, report.gone = CaseHit.SourceStatus.GONE, report.gone + 1
    elif verdict.verdict == V.PRESENT:
        status, report.present = CaseHit.SourceStatus.PRESENT, report.present + 1
    elif verdict.reason == R.WALL:
        status, report.blocked = CaseHit.SourceStatus.BLOCKED, report.blocked + 1
    else:
        status, report.unknown = CaseHit.SourceStatus.UNKNOWN, report.unknown + 1
    case_hit.source_status = status
    case_hit.source_checked_at = now
    if status == CaseHit.SourceStatus.GONE and case_hit.removed_at is None:
        case_hit.removed_at = now
    elif status == CaseHit.SourceStatus.PRESENT:
        case_hit.removed_at = None  # it came back: it was not removed after all
    case_hit.save(update_fields=["source_status", "source_checked_at", "removed_at"])


def _move_case(case: Case, now: datetime, report: RecheckReport, checked: set[int]) -> None:
    live = case.hits.exclude(review_status__in=["dismissed", "allowlisted"])
    found = list(live.values_list("pk", "source_status"))
    if not found:
        return
    statuses = [s for _pk, s in found]
    if case.state == Case.State.REMOVED:
        back = [pk for pk, s in found if s == CaseHit.SourceStatus.PRESENT and pk in checked]
        if back:
            urls = ", ".join(case.hits.filter(pk__in=back).values_list("url", flat=True)[:5])
            result = change_state(
                case.pk,
                Case.State.CONFIRMED,
                who=WHO,
                reason=f"back online at {now:%Y-%m-%d %H:%M} UTC after its removal: {urls}",
            )
            if result.ok:
                report.cases_back.append(case.pk)
        return
    # Removed only on this run's answers: a URL gone at an earlier run may be back since.
    if all(s == CaseHit.SourceStatus.GONE and pk in checked for pk, s in found):
        if Case.State.REMOVED in TRANSITIONS[case.state]:
            proof = Recheck.objects.filter(
                case_hit__case=case, verdict=Recheck.Verdict.GONE, checked_at=now
            )
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
        return  # blocked or unclear checks prove nothing
    # Still online: after a notice, a reminder is due; after the reminder, an escalation.
    if case.state == Case.State.NOTICE_SENT:
        # The same clock as the cases list and "À traiter" (48 hours for TAKE IT DOWN).
        if not reminder_due(case, now):
            return
        notice = latest_host_notice(case)
        since = notice.sent_at if notice is not None else None
        delay, to_state, done = REMINDER, Case.State.NO_RESPONSE, report.reminders
    elif case.state == Case.State.NO_RESPONSE:
        since = case.state_changed_at or case.updated_at
        delay, to_state, done = ESCALATION, Case.State.ESCALATED, report.escalations
        if since is not None and now - since < timedelta(days=getattr(settings, delay.setting)):
            return
    else:
        return
    if since is None:
        return
    reason = delay.reason.format(days=(now - since).days, since=since)
    if change_state(case.pk, to_state, who=WHO, reason=reason).ok:
        done.append(case.pk)


def _tell_team(report: RecheckReport) -> None:
    recipients = list(settings.BODYGUARD_STAFF_EMAILS)
    if not recipients or not (
        report.reminders or report.escalations or report.cases_removed or report.cases_back
    ):
        return
    lines = [
        f"Case {pk}: back online after its removal; confirmed again for a new notice."
        for pk in report.cases_back
    ]
    lines += [f"Case {pk}: removed at the source." for pk in report.cases_removed]
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
