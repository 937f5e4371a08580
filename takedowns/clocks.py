"""The clocks of sent notices: when an answer is due, what the team does next, and who.

One definition of "due" for the whole application: the "À traiter" view, the reminder shown
in the cases list and the re-check's reminder all ask :func:`due_at` and :func:`overdue`.

- A sent notice is due at ``Notice.due_at``, set when it is sent (48 hours for the US TAKE IT
  DOWN Act, ``BODYGUARD_NOTICE_REMINDER_DAYS`` otherwise); notices sent before that field
  existed get the same deadline computed from ``sent_at``.
- It is *overdue* once that moment has passed and no decision (accepted, partly accepted,
  refused) was recorded for it.
- A decision that is not a removal (refused, partly removed) or a recorded silence calls for
  the next step of the route's chain (article 20, then article 21 or Arcom...), until a
  follow-up notice is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from takedowns import notices
from takedowns.models import Case, Notice, NoticeResponse

PARIS = ZoneInfo("Europe/Paris")
R = Notice.Route
K = NoticeResponse.Kind

# Answers that decide a notice (DSA article 17: the decision and its statement of reasons).
DECISIONS = frozenset(notices.DECISIONS)
# Answers after which the team has to take the next step of the route's chain.
NEEDS_NEXT_STEP = frozenset({K.PARTIAL, K.REFUSED, K.NO_ANSWER})
# Notices that ask whoever holds the content to remove it (the re-check's reminder follows them).
HOST_ROUTES = frozenset(notices.HOST_ROUTES)
# Cases whose notices still have clocks worth watching: open ones, and refused ones (the
# redress chain goes on after a refusal).
WATCHED_STATES = (*Case.OPEN_STATES, Case.State.REFUSED)


def deadline_for(route: str, sent_at: datetime) -> datetime:
    """When an answer to a notice of this route sent at ``sent_at`` is due: what send_notice
    stores in ``Notice.due_at`` (48 hours for TAKE IT DOWN, the reminder delay otherwise)."""
    return notices.due_at(route, sent_at)


def due_at(notice: Notice) -> datetime | None:
    """When the answer to a sent notice is due (None for a draft)."""
    if notice.sent_at is None:
        return None
    return notice.due_at or deadline_for(notice.route, notice.sent_at)


def _responses(notice: Notice) -> list[NoticeResponse]:
    """Its responses, oldest first (prefetched ones when there are)."""
    return sorted(notice.responses.all(), key=lambda r: (r.at, r.pk or 0))


def decision(notice: Notice) -> NoticeResponse | None:
    """The last decision recorded for a notice, if any."""
    return next((r for r in reversed(_responses(notice)) if r.kind in DECISIONS), None)


def overdue(notice: Notice, now: datetime) -> bool:
    """Sent, its deadline passed, and no decision recorded."""
    due = due_at(notice)
    return due is not None and due <= now and decision(notice) is None


def latest_host_notice(case: Case) -> Notice | None:
    """The last notice sent to the host itself (prefetched notices when there are)."""
    sent = [n for n in case.notices.all() if n.sent_at and n.route in HOST_ROUTES]
    return max(sent, key=lambda n: (n.sent_at, n.pk), default=None)


def reminder_due(case: Case, now: datetime) -> bool:
    """A notice went to the host, its clock ran out and the host decided nothing: remind it.
    The cases list shows it and the re-check acts on it (when the content is still online)."""
    if case.state != Case.State.NOTICE_SENT:
        return False
    notice = latest_host_notice(case)
    return notice is not None and overdue(notice, now)


class Bucket(StrEnum):
    OVERDUE = "overdue"  # the deadline passed, no decision
    ANSWERED = "answered"  # an answer calls for the next step
    TODAY = "today"  # due later today (Paris day)
    LATER = "later"  # due on a later day


BUCKET_ORDER = [Bucket.OVERDUE, Bucket.ANSWERED, Bucket.TODAY, Bucket.LATER]


def bucket_labels() -> dict[str, str]:
    return {
        Bucket.OVERDUE: _("Overdue"),
        Bucket.ANSWERED: _("Answered: next step to take"),
        Bucket.TODAY: _("Due today"),
        Bucket.LATER: _("Coming up"),
    }


def _next_step_when_overdue(route: str) -> str:
    steps: dict[str, str] = {
        R.DSA_16: _("Record the decision or the silence, then draft the article 20 complaint"),
        R.LCEN_6: _("Record the decision or the silence, then draft the article 20 complaint"),
        R.TAKE_IT_DOWN: _("48 hours passed: record the answer or the silence, re-check"),
        R.GOOGLE: _("Check the delisting and record the answer"),
        R.DSA_20: _("Record the decision, or refer to an out-of-court body or to Arcom"),
        R.DSA_21: _("Ask for news and record the decision"),
        R.ARCOM: _("Ask for news and record the decision"),
        R.TELEGRAM: _("Re-check the channel and record the answer"),
        R.PHAROS: _("Record the reference received, re-check"),
    }
    return steps.get(route, _("Record the answer"))


def _next_step_after(route: str) -> str:
    steps: dict[str, str] = {
        R.DSA_16: _("Draft the article 20 complaint"),
        R.LCEN_6: _("Draft the article 20 complaint"),
        R.DSA_20: _("Refer to an out-of-court body (article 21) or complain to Arcom"),
        R.DSA_21: _("Complain to Arcom"),
    }
    return steps.get(route, _("Choose the next route (escalate)"))


@dataclass(frozen=True)
class Item:
    """One open clock: a sent notice waiting for an answer, or an answer calling for a step."""

    notice: Notice
    case: Case
    bucket: Bucket
    due: datetime
    next_step: str
    response: NoticeResponse | None = None
    # A follow-up drafted but not sent yet: the step is to send it.
    draft: Notice | None = None

    @property
    def assignee(self) -> AbstractBaseUser | None:
        return self.case.assigned_to


def end_of_day(now: datetime) -> datetime:
    """Midnight after ``now`` in Paris: "today" is the team's French day."""
    day = now.astimezone(PARIS).date() + timedelta(days=1)
    return datetime.combine(day, time.min, tzinfo=PARIS)


def _item(notice: Notice, now: datetime, tomorrow: datetime) -> Item | None:
    follow_ups = list(notice.follow_ups.all())
    if any(f.sent_at for f in follow_ups):
        return None  # the follow-up carries the clock now
    draft = next((f for f in follow_ups if f.sent_at is None), None)
    due = due_at(notice)
    assert due is not None
    answer = decision(notice)
    silence = next((r for r in _responses(notice) if r.kind == K.NO_ANSWER), None)
    if answer is not None and answer.kind == K.ACCEPTED:
        # Removal announced: the re-check confirms it (the case then leaves this list).
        return Item(notice, notice.case, Bucket.ANSWERED, answer.at, _("Re-check"), answer)
    step_after = answer if answer is not None else silence
    if step_after is not None:
        step = _next_step_after(notice.route)
        if draft is not None:
            step = _("Send the drafted follow-up")
        return Item(notice, notice.case, Bucket.ANSWERED, step_after.at, step, step_after, draft)
    if overdue(notice, now):
        return Item(notice, notice.case, Bucket.OVERDUE, due, _next_step_when_overdue(notice.route))
    bucket = Bucket.TODAY if due < tomorrow else Bucket.LATER
    return Item(notice, notice.case, bucket, due, _("Record the answer when it comes"))


def sent_notices() -> QuerySet[Notice]:
    """Sent notices of watched cases, with what the items need in a few queries."""
    return (
        Notice.objects.filter(sent_at__isnull=False, case__state__in=WATCHED_STATES)
        .select_related("case", "case__assigned_to")
        .prefetch_related("responses", "follow_ups")
    )


def open_items(now: datetime, notices: Iterable[Notice] | None = None) -> list[Item]:
    """Every open clock, overdue first, then answers to act on, then due today, then later;
    soonest first within each. Of several notices of one route on one case, only the last
    sent counts (an earlier one was re-sent or reminded)."""
    found = list(sent_notices() if notices is None else notices)
    latest: dict[tuple[int, str], Notice] = {}
    for n in found:
        key = (n.case_id, n.route)
        if key not in latest or (n.sent_at, n.pk) > (latest[key].sent_at, latest[key].pk):
            latest[key] = n
    tomorrow = end_of_day(now)
    items = [i for n in latest.values() if (i := _item(n, now, tomorrow)) is not None]
    order = {b: i for i, b in enumerate(BUCKET_ORDER)}
    items.sort(key=lambda i: (order[i.bucket], i.due, i.notice.pk))
    return items
