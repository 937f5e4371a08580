"""Cases: filing hits, the state machine, and the reviewers' decisions on hits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from django.db import transaction
from django.db.models import F
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from clients.models import Client
from hits.documents import Hit, ReviewStatus
from hits.store import HitStore
from hits.urls import covers
from takedowns.models import AllowListEntry, AuditEvent, Case, CaseHit, CaseTransition

S = Case.State
# Which state may follow which. A case is about getting content off one host:
# new -> confirmed -> notice_sent -> removed | refused | no_response -> escalated -> closed,
# with the detours the team really takes (a second notice after a refusal, content that
# disappears before any notice, a case closed because every hit was a false positive).
TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.CONFIRMED, S.ESCALATED, S.REMOVED, S.CLOSED}),
    S.CONFIRMED: frozenset({S.NOTICE_SENT, S.ESCALATED, S.REMOVED, S.CLOSED}),
    S.NOTICE_SENT: frozenset({S.REMOVED, S.REFUSED, S.NO_RESPONSE, S.ESCALATED, S.CLOSED}),
    S.REFUSED: frozenset({S.NOTICE_SENT, S.ESCALATED, S.REMOVED, S.CLOSED}),
    S.NO_RESPONSE: frozenset({S.NOTICE_SENT, S.ESCALATED, S.REMOVED, S.CLOSED}),
    S.ESCALATED: frozenset({S.NOTICE_SENT, S.REMOVED, S.REFUSED, S.CLOSED}),
    # Content that comes back after its removal reopens the case.
    S.REMOVED: frozenset({S.CONFIRMED, S.CLOSED}),
    S.CLOSED: frozenset(),
}


def audit(who: str, action: str, target: str, detail: str = "") -> None:
    AuditEvent.objects.create(who=who, action=action, target=target, detail=detail[:5000])


@dataclass(frozen=True)
class CaseEntry:
    case_id: int
    case_opened: bool


@transaction.atomic
def add_hit_to_case(client: Client, hit: Hit) -> CaseEntry:
    """File a new hit under the client's open case for that host, opening one if needed."""
    existing = CaseHit.objects.filter(hit_id=hit.hit_id).select_related("case").first()
    if existing is not None:
        return CaseEntry(existing.case.pk, case_opened=False)
    case = (
        Case.objects.select_for_update()
        .filter(client=client, host=hit.host, state__in=Case.OPEN_STATES)
        .order_by("opened_at")
        .first()
    )
    opened = case is None
    if case is None:
        case = Case.objects.create(client=client, client_reference=client.reference, host=hit.host)
    CaseHit.objects.create(
        case=case,
        hit_id=hit.hit_id,
        url=hit.url,
        source_id=hit.source_id,
        match_kind=str(hit.match_kind),
        image_url=hit.image_url,
        review_status=str(hit.review_status),
    )
    return CaseEntry(case.pk, case_opened=opened)


class Outcome(StrEnum):
    DONE = "done"
    CONFLICT = "conflict"  # someone else changed the case meanwhile
    NOT_ALLOWED = "not_allowed"  # that state cannot follow the current one
    INVALID = "invalid"  # missing reason


@dataclass(frozen=True)
class TransitionResult:
    outcome: Outcome
    message: str
    case: Case

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.DONE


def _conflict_message(case: Case) -> str:
    last = case.transitions.order_by("-at", "-pk").first()
    if last is None:
        return _("This case changed while you were looking at it. Reload the page and try again.")
    return _(
        "%(who)s changed this case to “%(state)s” at %(time)s while you were looking at it. "
        "Nothing was changed on your side: reload the page, check, and try again."
    ) % {
        "who": last.who,
        "state": Case.State(last.to_state).label,
        "time": date_format(localtime(last.at), "H:i:s"),
    }


def change_state(
    case_id: int, to_state: str, *, who: str, reason: str, expected_version: int | None = None
) -> TransitionResult:
    """Move a case to ``to_state``, recording who, when and why.

    ``expected_version`` is the version the person acting saw: if the case has changed since,
    nothing is changed and the result says who changed it (optimistic locking).
    """
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if expected_version is not None and case.version != expected_version:
            return TransitionResult(Outcome.CONFLICT, _conflict_message(case), case)
        if not reason.strip():
            return TransitionResult(
                Outcome.INVALID, _("Say why the case changes state (the reason is kept)."), case
            )
        if to_state not in TRANSITIONS[case.state]:
            return TransitionResult(
                Outcome.NOT_ALLOWED,
                _("A case that is “%(from)s” cannot become “%(to)s”.")
                % {"from": case.get_state_display(), "to": Case.State(to_state).label},
                case,
            )
        now = datetime.now(UTC)
        # The version in the WHERE clause is the lock: of two concurrent changes from the same
        # version, exactly one updates a row.
        updated = Case.objects.filter(pk=case.pk, version=case.version).update(
            state=to_state, version=F("version") + 1, state_changed_at=now, updated_at=now
        )
        if not updated:
            case.refresh_from_db()
            return TransitionResult(Outcome.CONFLICT, _conflict_message(case), case)
        CaseTransition.objects.create(
            case=case, from_state=case.state, to_state=to_state, who=who, reason=reason.strip()
        )
        audit(who, "case_state", f"case:{case.pk}", f"{case.state} -> {to_state}: {reason}")
        case.refresh_from_db()
    return TransitionResult(Outcome.DONE, "", case)


class Decision(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    ESCALATE = "escalate"


_DECISION_STATUS = {
    Decision.CONFIRM: ReviewStatus.CONFIRMED,
    Decision.DISMISS: ReviewStatus.DISMISSED,
    Decision.ESCALATE: ReviewStatus.ESCALATED,
}


@dataclass
class DecisionReport:
    hits: int = 0
    cases_changed: list[int] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def decide(
    store: HitStore, hit_ids: Iterable[str], decision: Decision, *, who: str, reason: str = ""
) -> DecisionReport:
    """Confirm, dismiss or escalate hits (one or a whole thread) and move their cases along."""
    ids = list(dict.fromkeys(hit_ids))
    status = _DECISION_STATUS[decision]
    report = DecisionReport(hits=len(ids))
    if not ids:
        return report
    store.set_review_status(ids, str(status))
    CaseHit.objects.filter(hit_id__in=ids).update(review_status=str(status))
    for hit_id in ids:
        audit(who, str(decision), hit_id, reason)
    case_ids = set(CaseHit.objects.filter(hit_id__in=ids).values_list("case_id", flat=True))
    for case in Case.objects.filter(pk__in=case_ids):
        result = _follow_decision(case, decision, who=who, reason=reason)
        if result is not None:
            if result.ok:
                report.cases_changed.append(case.pk)
            else:
                report.messages.append(result.message)
    return report


def _follow_decision(
    case: Case, decision: Decision, *, who: str, reason: str
) -> TransitionResult | None:
    if decision == Decision.CONFIRM and case.state == S.NEW:
        return change_state(case.pk, S.CONFIRMED, who=who, reason=reason or _("hit confirmed"))
    if decision == Decision.ESCALATE and S.ESCALATED in TRANSITIONS[case.state]:
        return change_state(case.pk, S.ESCALATED, who=who, reason=reason or _("hit escalated"))
    if decision == Decision.DISMISS and case.state == S.NEW:
        live = case.hits.exclude(review_status__in=["dismissed", "allowlisted"]).exists()
        if not live:
            return change_state(
                case.pk,
                S.CLOSED,
                who=who,
                reason=_("every hit of the case was dismissed as a false positive"),
            )
    return None


def allowlist_matches(entries: Iterable[AllowListEntry], hit: Hit) -> AllowListEntry | None:
    """The entry that covers this hit: its thread (any page of it) or what is under an allowed
    path, compared as thread identities (hits.urls.covers), never as string prefixes; or its
    author on that host."""
    for entry in entries:
        if entry.kind == AllowListEntry.Kind.URL and (
            covers(entry.value, hit.thread) or covers(entry.value, hit.canonical_url)
        ):
            return entry
        if (
            entry.kind == AllowListEntry.Kind.ACCOUNT
            and hit.host == entry.host
            and hit.author.casefold() == entry.value.casefold()
        ):
            return entry
    return None


def allowlist(
    store: HitStore, hit: Hit, kind: str, *, who: str, reason: str
) -> AllowListEntry | str:
    """Allow-list the hit's page or its author's account for this client; returns the entry,
    or what is missing."""
    if not reason.strip():
        return _("Say why this is legitimate (the client's own account, a legitimate use).")
    if kind == AllowListEntry.Kind.ACCOUNT:
        if not hit.author:
            return _("This post has no known author: allow-list the page instead.")
        value = hit.author
    elif kind == AllowListEntry.Kind.URL:
        # The thread the post is in: every page of it is covered, its neighbours are not.
        value = hit.thread
    else:
        return _("Choose what to allow-list: the page or the account.")
    client = Client.objects.get(reference=hit.client_id)
    entry, _created = AllowListEntry.objects.get_or_create(
        client=client,
        kind=kind,
        host=hit.host,
        value=value,
        defaults={"reason": reason.strip(), "created_by": who},
    )
    store.set_review_status([hit.hit_id], str(ReviewStatus.ALLOWLISTED))
    CaseHit.objects.filter(hit_id=hit.hit_id).update(review_status=str(ReviewStatus.ALLOWLISTED))
    audit(who, "allowlist", hit.hit_id, f"{kind} {hit.host} {value}: {reason}")
    case_hit = CaseHit.objects.filter(hit_id=hit.hit_id).select_related("case").first()
    if case_hit is not None:
        _follow_decision(case_hit.case, Decision.DISMISS, who=who, reason=reason)
    return entry


def record_reopened(store: HitStore) -> list[str]:
    """Write each hit re-opened by a content change to the audit log and put its case entry
    back to review; returns their ids. Safe to repeat."""
    hits = store.reopened_unrecorded()
    for hit in hits:
        audit(
            "bodyguard",
            "reopen",
            hit.hit_id,
            f"dismissed, but its content changed (SHA-256 {hit.reopened_from_sha256[:12]} -> "
            f"{hit.content_sha256[:12]}) at "
            f"{hit.reopened_at or hit.last_seen:%Y-%m-%d %H:%M} UTC: back to review",
        )
        _reopen_case_hit(hit)
    store.mark_reopen_recorded([h.hit_id for h in hits])
    return [h.hit_id for h in hits]


@transaction.atomic
def _reopen_case_hit(hit: Hit) -> None:
    case_hit = (
        # The row only: PostgreSQL cannot lock the nullable side of the join to the client.
        CaseHit.objects.select_for_update(of=("self",))
        .filter(hit_id=hit.hit_id, review_status=str(ReviewStatus.DISMISSED))
        .select_related("case", "case__client")
        .first()
    )
    if case_hit is None:
        return
    case_hit.review_status = str(ReviewStatus.NEW)
    old = case_hit.case
    if old.state == S.CLOSED and old.client is not None:
        # Its case was closed as every hit was a false positive: a closed case cannot move
        # again, so the hit joins the client's open case for that host (or a new one).
        case = (
            Case.objects.filter(client=old.client, host=old.host, state__in=Case.OPEN_STATES)
            .order_by("opened_at")
            .first()
        ) or Case.objects.create(
            client=old.client, client_reference=old.client_reference, host=old.host
        )
        case_hit.case = case
        audit(
            "bodyguard",
            "reopen",
            f"case:{case.pk}",
            f"hit {hit.hit_id} moved from closed case {old.pk}: its content changed",
        )
    case_hit.save(update_fields=["review_status", "case"])


def set_legal_hold(case_id: int, hold: bool, *, who: str, reason: str) -> TransitionResult:
    """Put a case under legal hold (erasure keeps it) or lift the hold, recording who, when
    and why. Only administrators may call this (the views check it)."""
    if not reason.strip():
        case = Case.objects.get(pk=case_id)
        return TransitionResult(
            Outcome.INVALID, _("Say why the legal hold changes (the reason is kept)."), case
        )
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.legal_hold == hold:
            return TransitionResult(Outcome.DONE, "", case)
        now = datetime.now(UTC)
        Case.objects.filter(pk=case.pk).update(
            legal_hold=hold, version=F("version") + 1, updated_at=now
        )
        audit(
            who,
            "legal_hold_set" if hold else "legal_hold_lifted",
            f"case:{case.pk}",
            reason.strip(),
        )
        case.refresh_from_db()
    return TransitionResult(Outcome.DONE, "", case)
