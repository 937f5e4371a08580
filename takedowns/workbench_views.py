"""The team's day: "À traiter" (every open clock), case assignment, case notes, statistics."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from takedowns import clocks, statistics
from takedowns.models import Case, CaseNote, Notice
from takedowns.services import audit
from takedowns.views import REVIEW, reviewer_required, who

# A note is what was said on the phone, not a document: long texts go in the evidence.
MAX_NOTE_CHARS = 5000


def reviewers() -> QuerySet[Any]:
    """Who a case can be assigned to: active users with the review permission."""
    users = get_user_model().objects.with_perm(REVIEW, is_active=True, include_superusers=True)
    return users.order_by("username")


def team_context(case: Case) -> dict[str, object]:
    """What the case page's team block shows (takedowns/_case_team.html)."""
    return {
        "assignee": case.assigned_to,
        "reviewers": reviewers(),
        "notes": case.notes.all(),
        "max_note_chars": MAX_NOTE_CHARS,
    }


def _back_to_case(request: HttpRequest, case: Case) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("takedowns:case", case_id=case.pk)


def _name(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user is not None else ""


@reviewer_required
@require_POST
def assign(request: HttpRequest, case_id: int) -> HttpResponse:
    """Put a reviewer in charge of a case ("me", a reviewer's id, or nobody)."""
    case = get_object_or_404(Case.objects.select_related("assigned_to"), pk=case_id)
    value = request.POST.get("assignee", "").strip()
    user: AbstractBaseUser | None
    if value == "me":
        user = request.user  # type: ignore[assignment]
    elif not value:
        user = None
    else:
        user = reviewers().filter(pk=value).first() if value.isdigit() else None
        if user is None:
            messages.error(request, _("Choose a member of the takedown team."))
            return _back_to_case(request, case)
    before = _name(case.assigned_to)
    if user is not None and user.pk == case.assigned_to_id:
        return _back_to_case(request, case)
    case.assigned_to = user  # type: ignore[assignment]
    case.save(update_fields=["assigned_to", "updated_at"])
    audit(
        who(request), "case_assign", f"case:{case.pk}", f"{before or '-'} -> {_name(user) or '-'}"
    )
    if user is None:
        messages.success(request, _("Nobody is in charge of this case now."))
    else:
        messages.success(request, _("Case assigned to %(user)s.") % {"user": _name(user)})
    return _back_to_case(request, case)


@reviewer_required
@require_POST
def add_note(request: HttpRequest, case_id: int) -> HttpResponse:
    """Add a note to the case's thread (notes are never changed or removed, except with the
    case itself when its client is erased)."""
    case = get_object_or_404(Case, pk=case_id)
    text = request.POST.get("text", "").strip()
    if not text:
        messages.error(request, _("Write the note first."))
    elif len(text) > MAX_NOTE_CHARS:
        messages.error(
            request,
            _("A note has at most %(n)s characters: put long texts in the evidence.")
            % {"n": MAX_NOTE_CHARS},
        )
    else:
        note = CaseNote.objects.create(case=case, author=who(request), text=text)
        # The text stays in the note; the log says who wrote one, when, and which.
        audit(who(request), "case_note", f"case:{case.pk}", f"note {note.pk}")
        messages.success(request, _("Note added."))
    return redirect(reverse("takedowns:case", kwargs={"case_id": case.pk}) + "#notes")


def _filter_items(
    items: list[clocks.Item], request: HttpRequest, route: str, assignee: str
) -> list[clocks.Item]:
    if route:
        items = [i for i in items if i.notice.route == route]
    if assignee == "me":
        items = [i for i in items if i.case.assigned_to_id == request.user.pk]
    elif assignee == "none":
        items = [i for i in items if i.case.assigned_to_id is None]
    elif assignee:
        items = [i for i in items if _name(i.case.assigned_to) == assignee]
    return items


def _per_reviewer(items: list[clocks.Item]) -> list[dict[str, object]]:
    """Open cases and overdue items of each reviewer, and of nobody."""
    open_cases: Counter[int | None] = Counter(
        {
            row["assigned_to"]: row["n"]
            for row in Case.objects.filter(state__in=Case.OPEN_STATES)
            .values("assigned_to")
            .annotate(n=Count("pk"))
        }
    )
    late: Counter[int | None] = Counter(
        i.case.assigned_to_id for i in items if i.bucket == clocks.Bucket.OVERDUE
    )
    people = {u.pk: u for u in reviewers()}
    missing = {pk for pk in (*open_cases, *late) if pk is not None and pk not in people}
    for user in get_user_model().objects.filter(pk__in=missing):
        people[user.pk] = user  # no longer on the team, still in charge of something
    rows: list[dict[str, object]] = [
        {
            "username": user.get_username(),
            "open_cases": open_cases[pk],
            "overdue": late[pk],
        }
        for pk, user in sorted(people.items(), key=lambda p: p[1].get_username())
    ]
    rows.append(
        {"username": "", "open_cases": open_cases[None], "overdue": late[None]},
    )
    return rows


@reviewer_required
def todo(request: HttpRequest) -> HttpResponse:
    """Every open clock: overdue first, then answers to act on, due today, coming up."""
    now = datetime.now(UTC)
    route = request.GET.get("route", "")
    assignee = request.GET.get("who", "")
    everything = clocks.open_items(now)
    per_route = Counter(i.notice.route for i in everything)
    items = _filter_items(everything, request, route, assignee)
    labels = clocks.bucket_labels()
    groups = [
        {"bucket": b, "label": labels[b], "items": [i for i in items if i.bucket == b]}
        for b in clocks.BUCKET_ORDER
    ]
    audit(who(request), "view_todo", "todo", request.GET.urlencode())
    return render(
        request,
        "takedowns/todo.html",
        {
            "groups": groups,
            "total": len(items),
            "route": route,
            "who": assignee,
            "routes": [(value, label, per_route[value]) for value, label in Notice.Route.choices],
            "per_reviewer": _per_reviewer(everything),
            "now": now,
        },
    )


def _year(request: HttpRequest) -> int | None:
    value = request.GET.get("year", "").strip()
    return int(value) if value.isdigit() and 2000 <= int(value) <= 2100 else None


@reviewer_required
def statistics_page(request: HttpRequest) -> HttpResponse:
    year = _year(request)
    report = statistics.compute(year)
    routes = dict(Notice.Route.choices)
    audit(who(request), "view_statistics", "statistics", request.GET.urlencode())
    return render(
        request,
        "takedowns/statistics.html",
        {
            "report": report,
            "year": year,
            "years": statistics.years(),
            "by_provider": [
                (host, routes.get(route, route), f)
                for (host, route), f in report.by_provider.items()
            ],
            "by_route": [(routes.get(route, route), f) for route, f in report.by_route.items()],
            "by_month": list(report.by_month.items()),
        },
    )


@reviewer_required
def statistics_csv(request: HttpRequest) -> HttpResponse:
    year = _year(request)
    report = statistics.compute(year)
    audit(
        who(request),
        "export_statistics",
        "statistics",
        f"CSV, {year or 'all years'}: {report.total.sent} notice(s)",
    )
    response = HttpResponse(statistics.to_csv(report), content_type="text/csv; charset=utf-8")
    name = f"bodyguard-statistics-{year or 'all'}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
